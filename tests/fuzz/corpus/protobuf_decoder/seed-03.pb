
acme	page_view €Œ²ì·3bbilling/downgrade