#!/usr/bin/env python3
"""fcgi_get.py SOCKET SCRIPT: one FastCGI GET of SCRIPT over a unix socket,
printing the response body. For talking to a php-fpm pool exactly as its
sample configuration has it (a socket only www-data's group may use), as
root, with no web server in between. Small on purpose: the FastCGI records
of one request (the protocol is a fixed 8-byte header per record)."""
import socket
import struct
import sys


def record(kind, content):
    return struct.pack("!BBHHBx", 1, kind, 1, len(content), 0) + content


def pair(name, value):
    out = b""
    for part in (name, value):
        n = len(part)
        out += bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return out + name + value


def main():
    sock_path, script = sys.argv[1], sys.argv[2]
    params = {
        "SCRIPT_FILENAME": script,
        "SCRIPT_NAME": "/" + script.rsplit("/", 1)[-1],
        "REQUEST_METHOD": "GET",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    body = b"".join(pair(k.encode(), v.encode()) for k, v in params.items())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(sock_path)
    s.sendall(record(1, struct.pack("!HB5x", 1, 0)) + record(4, body) + record(4, b"") + record(5, b""))
    data, out = b"", b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    while len(data) >= 8:
        _, kind, _, length, padding = struct.unpack("!BBHHB", data[:7])
        content, data = data[8:8 + length], data[8 + length + padding:]
        if kind == 6:  # STDOUT
            out += content
        if kind == 3:  # END_REQUEST
            break
    sys.stdout.write(out.split(b"\r\n\r\n", 1)[-1].decode(errors="replace"))


main()
