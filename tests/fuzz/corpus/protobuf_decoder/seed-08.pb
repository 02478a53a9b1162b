
acmeprofile €èþ€¸3²
enterprise¸úÒA’
region
emea