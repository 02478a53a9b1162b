
aÃ©"bemail_opened ûÚÜÆÊ3*e-1jx