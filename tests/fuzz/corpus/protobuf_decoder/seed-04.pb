
acmeticket_opened ÿ·Áð·3rt-1zurgent