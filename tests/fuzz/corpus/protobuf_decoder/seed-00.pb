
acmelogin €ˆ„à·3