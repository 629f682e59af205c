#!/usr/bin/env python3
"""The other ends of the egress proxy in tests.

serve DIR CERT KEY: three listeners on 127.0.0.1 (ports chosen by the
kernel): a TLS server (CERT/KEY) answering "hello over tls" to any request,
a plain HTTP server answering /echo with the request head it received and
/big with 8 MiB, and a canary that only counts. Each appends one line per
connection it accepts to DIR/conn.tls, DIR/conn.http, DIR/conn.canary, and
the ports go to DIR/ports ("tls http canary") once all listen.

ask SOCKET HEAD [--tls CAFILE NAME]: one request through the proxy's unix
socket. HEAD is the request head with \\r\\n written as such. With --tls,
after a 200 the connection is wrapped in TLS verified against CAFILE for
NAME and "GET / HTTP/1.1" is sent through it. Prints one JSON object:
status, error (X-Proxy-Error), body (its first 4 KiB) and body_len.
"""
import json
import os
import socket
import ssl
import sys
import threading

BIG = 8 * 1024 * 1024


def count(path):
    with open(path, "a") as f:
        f.write("accepted\n")


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def tls_loop(lsock, ctx, log):
    while True:
        conn, _ = lsock.accept()
        count(log)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                read_head(tls)
                body = b"hello over tls\n"
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                            b"Connection: close\r\n\r\n" % len(body) + body)
        except (OSError, ssl.SSLError):
            pass


def http_one(conn):
    try:
        head = read_head(conn)
        if head.startswith(b"GET /big "):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % BIG)
            block = b"x" * 65536
            for _ in range(BIG // len(block)):
                conn.sendall(block)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n" % len(head) + head)
    except OSError:
        pass
    finally:
        conn.close()


def http_loop(lsock, log):
    while True:
        conn, _ = lsock.accept()
        count(log)
        threading.Thread(target=http_one, args=(conn,), daemon=True).start()


def canary_loop(lsock, log):
    while True:
        conn, _ = lsock.accept()
        count(log)
        conn.close()


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def serve(d, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    socks = [listener() for _ in range(3)]
    loops = [(tls_loop, (socks[0], ctx, d + "/conn.tls")),
             (http_loop, (socks[1], d + "/conn.http")),
             (canary_loop, (socks[2], d + "/conn.canary"))]
    for fn, args in loops:
        threading.Thread(target=fn, args=args, daemon=True).start()
    with open(d + "/ports.tmp", "w") as f:
        f.write(" ".join(str(s.getsockname()[1]) for s in socks) + "\n")
    os.rename(d + "/ports.tmp", d + "/ports")
    threading.Event().wait()


def read_answer(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        data += chunk
    return data


def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    out = {"status": 0, "error": None, "body": "", "body_len": len(body)}
    parts = lines[0].split(b" ")
    if len(parts) > 1 and parts[1].isdigit():
        out["status"] = int(parts[1])
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-proxy-error":
            out["error"] = value.strip().decode()
    out["body"] = body[:4096].decode("latin-1")
    return out


def hand_over(sock, kind):
    """Connect as the relay does for the proxy: a NUL byte carrying a TCP
    connection's descriptor (kind "tcp"; the client's end is returned), or
    carrying what no relay sends ("unix", "listen", "two", "none")."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    client = socket.create_connection(lsock.getsockname())
    server, _ = lsock.accept()
    pair = socket.socketpair()
    fds = {"tcp": [server.fileno()], "unix": [pair[0].fileno()],
           "listen": [lsock.fileno()], "none": [],
           "two": [server.fileno(), server.fileno()]}[kind]
    socket.send_fds(sock, [b"\0"], fds)
    server.close()
    lsock.close()
    pair[0].close()
    if kind == "tcp":
        sock.close()
        client.settimeout(30)
        return client
    # The proxy drops such a connection: its socket closes, unanswered.
    print(json.dumps({"status": 0, "closed": sock.recv(100) == b""}))
    return None


def ask(path, head, tls, kind=None):
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    sock.connect(path)
    if kind is not None and (sock := hand_over(sock, kind)) is None:
        return
    sock.sendall(head.replace("\\r\\n", "\r\n").encode("latin-1"))
    if tls is None:
        print(json.dumps(parse(read_answer(sock))))
        return
    answer = read_head(sock)
    out = parse(answer)
    if out["status"] == 200:
        ctx = ssl.create_default_context(cafile=tls[0])
        with ctx.wrap_socket(sock, server_hostname=tls[1]) as t:
            t.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\n\r\n" %
                      tls[1].encode())
            inner = parse(read_answer(t))
            out["body"] = inner["body"]
            out["body_len"] = inner["body_len"]
            out["inner_status"] = inner["status"]
    print(json.dumps(out))


def main():
    if sys.argv[1] == "serve":
        serve(*sys.argv[2:5])
    elif sys.argv[1] == "ask":
        # ask SOCK HEAD [--tls CAFILE NAME] [--pass KIND]
        rest, tls, kind = sys.argv[4:], None, None
        while rest:
            if rest[0] == "--tls":
                tls, rest = rest[1:3], rest[3:]
            elif rest[0] == "--pass":
                kind, rest = rest[1], rest[2:]
            else:
                sys.exit("ask: unknown argument %s" % rest[0])
        ask(sys.argv[2], sys.argv[3], tls, kind)


if __name__ == "__main__":
    main()
