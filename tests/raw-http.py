#!/usr/bin/env python3
"""Send requests byte for byte on one connection (curl would normalise
their headers) and print what comes back.

raw-http.py PORT FILE       FILE's bytes at once; prints everything answered
                            until the server closes the connection, then
                            "<EOF>" ("<RESET>" if it reset it)
raw-http.py --each PORT FILE...
                            each FILE in turn on the same connection, waiting
                            for one whole answer (by its Content-Length)
                            before sending the next; prints the answers

A server that neither answers nor closes within 30 seconds gets
"<TIMEOUT>" printed, so a test never hangs on it.
"""
import socket
import sys

TIMEOUT = 30


def read_answer(s, buf):
    """One answer from buf and the socket: (answer, rest) or (None, buf)."""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return None, buf
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        b = s.recv(65536)
        if not b:
            return None, buf
        rest += b
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


def main():
    each = sys.argv[1] == "--each"
    args = sys.argv[2:] if each else sys.argv[1:]
    port, files = int(args[0]), args[1:]
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(TIMEOUT)
    out = sys.stdout.buffer
    try:
        if each:
            buf = b""
            for f in files:
                with open(f, "rb") as fh:
                    s.sendall(fh.read())
                answer, buf = read_answer(s, buf)
                if answer is None:
                    out.write(buf + b"<EOF>\n")
                    return
                out.write(answer + b"\n")
            return
        with open(files[0], "rb") as fh:
            s.sendall(fh.read())
        while True:
            b = s.recv(65536)
            if not b:
                out.write(b"<EOF>\n")
                return
            out.write(b)
    except socket.timeout:
        out.write(b"<TIMEOUT>\n")
    except ConnectionResetError:
        out.write(b"<RESET>\n")
    finally:
        s.close()


if __name__ == "__main__":
    main()
