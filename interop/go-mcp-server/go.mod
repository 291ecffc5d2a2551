module gomcpserver

go 1.19
