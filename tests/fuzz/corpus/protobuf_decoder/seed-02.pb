
acmefeature_used €à¢è·3Rreports