#!/usr/bin/env python3
"""A systemd-style NOTIFY_SOCKET: binds a Unix datagram socket and writes each message as one
line `<unix time> <message with newlines as |>` to the log, flushed at once."""
import os, socket, sys, time

path, logpath = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(logpath, "a", buffering=1) as log:
    while True:
        data = s.recv(65536)
        log.write(f"{time.time():.6f} {data.decode(errors='replace').strip().replace(chr(10), '|')}\n")
        log.flush()
