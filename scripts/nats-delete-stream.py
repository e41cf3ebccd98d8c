#!/usr/bin/env python3
"""Deletes a JetStream stream: nats-delete-stream.py nats://host:port STREAM.

For scripts/bench.sh, which gives each run a fresh stream on the machine's NATS
and removes it afterwards; a few lines of the NATS protocol, so no client
library or `nats` tool is needed."""
import json
import re
import socket
import sys

url, stream = sys.argv[1], sys.argv[2]
m = re.match(r"nats://([^:/]+):(\d+)", url)
if not m:
    sys.exit(f"{url} is not nats://host:port")
with socket.create_connection((m[1], int(m[2])), timeout=10) as s:
    s.recv(65536)  # the server's INFO
    s.sendall(
        b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.fq_delete 1\r\n'
        + f"PUB $JS.API.STREAM.DELETE.{stream} _INBOX.fq_delete 0\r\n\r\n".encode()
    )
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("NATS closed the connection before answering")
        data += chunk
        if data.startswith(b"PING"):
            s.sendall(b"PONG\r\n")
            data = data.split(b"\r\n", 1)[1]
        head, sep, rest = data.partition(b"\r\n")
        if head.startswith(b"MSG") and sep:
            size = int(head.split()[-1])
            if len(rest) >= size:
                answer = json.loads(rest[:size])
                break
        elif head.startswith(b"-ERR"):
            sys.exit(head.decode())
if not answer.get("success"):
    sys.exit(f"stream {stream} not deleted: {answer.get('error', answer)}")
