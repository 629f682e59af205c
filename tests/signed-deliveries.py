#!/usr/bin/env python3
"""Signed GitHub deliveries, one issue each, sent to serve's hook.

signed-deliveries.py MODE PORT SECRET SAMPLE FIRST N

The delivery for issue FIRST+i is SAMPLE with its first "number": 1 made
FIRST+i, id "signed-FIRST+i", signed with SECRET. MODE:

  apart     N connections at once, one delivery each
  pipeline  one connection: all N sent at once by a thread (it prints
            "sent BYTES" once the kernel has them all), then every
            answer read
  turn      one connection: each sent once the last is answered

Prints "codes" and the answers' status codes, in the order sent ("none"
for a connection that ended without one).
"""
import hashlib
import hmac
import importlib.util
import os
import socket
import sys
import threading

spec = importlib.util.spec_from_file_location(
    "raw_http", os.path.join(os.path.dirname(__file__), "raw-http.py"))
raw_http = importlib.util.module_from_spec(spec)
spec.loader.exec_module(raw_http)

TIMEOUT = 60


def request(sample, secret, number):
    body = sample.replace(b'"number": 1,', b'"number": %d,' % number, 1)
    sig = hmac.new(secret, body, hashlib.sha256).hexdigest()
    head = ("POST /hooks/github HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nX-GitHub-Event: issues\r\n"
            "X-GitHub-Delivery: signed-%d\r\n"
            "X-Hub-Signature-256: sha256=%s\r\n"
            "Content-Length: %d\r\n\r\n" % (number, sig, len(body)))
    return head.encode() + body


def code(answer):
    return answer.split(b" ", 2)[1].decode() if answer else "none"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(TIMEOUT)
    return s


def main():
    mode, port, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
    sample = open(sys.argv[4], "rb").read()
    first, n = int(sys.argv[5]), int(sys.argv[6])
    reqs = [request(sample, secret, first + i) for i in range(n)]
    codes = [None] * n
    if mode == "apart":
        def one(i):
            s = connect(port)
            s.sendall(reqs[i])
            codes[i] = code(raw_http.read_answer(s, b"")[0])
            s.close()
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    else:
        s, buf = connect(port), b""
        if mode == "pipeline":
            data = b"".join(reqs)

            def send():
                s.sendall(data)
                print("sent %d" % len(data), flush=True)
            t = threading.Thread(target=send)
            t.start()
        for i in range(n):
            if mode == "turn":
                s.sendall(reqs[i])
            answer, buf = raw_http.read_answer(s, buf)
            codes[i] = code(answer)
        if mode == "pipeline":
            t.join()
        s.close()
    print("codes " + " ".join(codes), flush=True)


if __name__ == "__main__":
    main()
