#!/usr/bin/env python3
# A client of the gateway's unix socket for its tests.
# usage: gateway-client.py SOCK METHOD PATH [-H 'Name: value']... [-d BODY]
#            [--release FILE | --leave] [--raw FILE]
# Prints the status, then the body. --release: read the first part of the
# answer, then create FILE and read the rest ("first-part-before-release"
# is printed first). --leave: close after the first part. An answer that
# ends before its end prints "cut after N bytes". --raw appends the status
# line, headers and body received to FILE.
import argparse, http.client, socket, sys

p = argparse.ArgumentParser()
p.add_argument("sock"); p.add_argument("method"); p.add_argument("path")
p.add_argument("-H", action="append", default=[])
p.add_argument("-d", default=None)
p.add_argument("--release"); p.add_argument("--leave", action="store_true")
p.add_argument("--raw")
a = p.parse_args()


class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(a.sock)


c = Conn("localhost")
hdrs = dict(h.split(": ", 1) for h in a.H)
body = a.d.encode() if a.d is not None else None
if body is not None:
    hdrs.setdefault("Content-Type", "application/json")
c.request(a.method, a.path, body=body, headers=hdrs)
r = c.getresponse()
out = []
raw = ["HTTP %d %s\n" % (r.status, r.reason)] + ["%s: %s\n" % kv for kv in r.getheaders()]
print(r.status)
got = b""
try:
    if a.release or a.leave:
        first = r.read1(65536)
        got += first
        print("first-part-before-release" if first else "no-first-part")
        if a.leave:
            c.close()
            print(got.decode())
            sys.exit(0)
        open(a.release, "w").close()
    while True:
        b = r.read1(65536) if a.release else r.read(65536)
        if not b:
            break
        got += b
        if len(got) > 64 * 1024 * 1024:
            print("not cut after %d bytes" % len(got))
            sys.exit(0)
    print(got.decode())
except (http.client.IncompleteRead, ConnectionError, OSError) as e:
    got += getattr(e, "partial", b"") or b""
    print("cut after %d bytes" % len(got))
if a.raw:
    with open(a.raw, "a") as f:
        f.write("".join(raw) + got.decode("utf-8", "replace")[:4096] + "\n")
