#!/usr/bin/env python3
"""Clients of GET /jobs/N/log for the live-log tests, and a checker.

Server-sent events are parsed as a browser's EventSource parses them (the
WHATWG algorithm: CR, LF and CRLF each end a line, "data:" lines join, the
id sticks until the next, an event without data is not dispatched), so a
log line the server let through unframed shows here as it would in a page.

log-client.py sse URL [-H 'Name: value']... [--last-id ID]
        [--max-events N] [--leave-after DATA] [--out FILE] [--rcvbuf BYTES]
        [--hold-until FILE]
    One stream. Writes one JSON object a line, each flushed at once: first
    {"status": CODE, "headers": {...}}, then {"id", "event", "data"} per
    event, last {"closed": "complete" | "cut" | "left"} ("complete": the
    server ended its answer; "cut": the connection closed mid-answer;
    "left": this client left after --max-events events, or after the
    event whose data is --leave-after, closing at once with a reset).
    --rcvbuf sets a small receive buffer; --hold-until reads nothing after
    the head until FILE exists.

log-client.py plain URL [-H ...] [--out FILE] [--rcvbuf B] [--hold-until F]
        [--ready FILE]
    The plain answer: its body to --out, then prints "status CODE",
    "complete" or "cut", and "sha256 HEX" of the body. --ready gets
    "status CODE" once the head is read.

log-client.py many URL COUNT [-H ...] --ready FILE --release FILE
        [--out FILE]
    COUNT streams at once. Once each answered, writes "CODE COUNT" lines
    (how many got each status) to --ready; then reads every stream,
    appending "INDEX DATA" to --out for each event, until --release
    exists or the server closed them all; then closes them and prints
    "open N complete N cut N": how many were still open, and how many the
    server ended whole or cut.

log-client.py check LOG EVENTS...
    Whether the events of the EVENTS files (sse's output, in order) are
    the log LOG exactly: each event the bytes from the previous id to its
    own (the first from 0), less the newline that ends a line, with CR
    and NUL as U+FFFD; ids rising with nothing between them, none
    repeated, the last at LOG's end; at most 16 KiB of the log an event.
    Prints "events N", then "union exact" or what differs, and the data
    of an end event if the last file has one ("end STATE").
"""
import argparse
import codecs
import hashlib
import json
import os
import re
import selectors
import socket
import sys
import time
import urllib.parse

TIMEOUT = 120
PART = 16 * 1024
LINE_END = re.compile(r"\r\n|\r|\n")


class Chunked:
    """Incremental body decoding: chunked, by length, or until EOF."""

    def __init__(self, headers):
        te = headers.get("transfer-encoding", "").lower()
        self.chunked = te == "chunked"
        self.left = int(headers["content-length"]) if (
            not self.chunked and "content-length" in headers) else None
        self.buf = b""
        self.state = "size"
        self.need = 0
        self.done = self.left == 0

    def feed(self, b):
        if not self.chunked:
            if self.left is not None:
                b = b[:self.left]
                self.left -= len(b)
                self.done = self.left == 0
            return b
        self.buf += b
        out = []
        pos = 0
        while not self.done:
            if self.state == "size":
                i = self.buf.find(b"\r\n", pos)
                if i < 0:
                    break
                size = int(self.buf[pos:i].split(b";")[0], 16)
                pos = i + 2
                if size == 0:
                    self.done = True
                    break
                self.need, self.state = size, "data"
            elif self.state == "data":
                take = self.buf[pos:pos + self.need]
                if not take:
                    break
                out.append(take)
                pos += len(take)
                self.need -= len(take)
                if self.need == 0:
                    self.state = "crlf"
            else:
                if len(self.buf) - pos < 2:
                    break
                pos += 2
                self.state = "size"
        self.buf = self.buf[pos:]
        return b"".join(out)


class SSE:
    """The EventSource parser."""

    def __init__(self):
        self.dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.buf = ""
        self.first = True
        self.data = []
        self.type = ""
        self.id_buf = ""
        self.last_id = ""

    def feed(self, b, eof=False):
        s = self.dec.decode(b, final=eof)
        if self.first and s:
            self.first = False
            if s.startswith("\ufeff"):
                s = s[1:]
        buf = self.buf + s
        events = []
        pos = 0
        for m in LINE_END.finditer(buf):
            if m.group() == "\r" and m.end() == len(buf) and not eof:
                break	# a CRLF may be cut between two reads
            self.line(buf[pos:m.start()], events)
            pos = m.end()
        self.buf = buf[pos:]
        return events

    def line(self, line, events):
        if line == "":
            self.last_id = self.id_buf
            if self.data:
                events.append({"id": self.last_id,
                               "event": self.type or "message",
                               "data": "\n".join(self.data)})
            self.data, self.type = [], ""
            return
        if line.startswith(":"):
            return
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self.type = value
        elif field == "data":
            self.data.append(value)
        elif field == "id" and "\0" not in value:
            self.id_buf = value


def connect(url, headers, rcvbuf=None):
    u = urllib.parse.urlsplit(url)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(TIMEOUT)
    s.connect((u.hostname, u.port))
    path = u.path + ("?" + u.query if u.query else "")
    req = "GET %s HTTP/1.1\r\nHost: %s\r\n" % (path, u.netloc)
    for h in headers:
        req += h + "\r\n"
    s.sendall((req + "\r\n").encode())
    return s


def read_head(s):
    """(status, headers, body bytes read along), or (None, {}, b"")."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            return None, {}, b""
        buf += b
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def hold(path):
    if path:
        while not os.path.exists(path):
            time.sleep(0.05)


def cmd_sse(a):
    out = open(a.out, "w") if a.out else sys.stdout
    put = lambda o: (out.write(json.dumps(o) + "\n"), out.flush())
    hdrs = ["Accept: text/event-stream"] + a.H
    if a.last_id is not None:
        hdrs.append("Last-Event-ID: " + a.last_id)
    s = connect(a.url, hdrs, a.rcvbuf)
    status, headers, rest = read_head(s)
    put({"status": status, "headers": headers})
    if status is None:
        put({"closed": "cut"})
        return
    hold(a.hold_until)
    body, sse, n = Chunked(headers), SSE(), 0
    b = rest
    while True:
        for ev in sse.feed(body.feed(b)):
            put(ev)
            n += 1
            if (a.max_events and n >= a.max_events) or (
                    a.leave_after is not None and
                    ev["data"] == a.leave_after):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\1\0\0\0\0\0\0\0")
                s.close()
                put({"closed": "left"})
                return
        if body.done:
            put({"closed": "complete"})
            return
        b = s.recv(65536)
        if not b:
            sse.feed(b"", eof=True)
            put({"closed": "cut"})
            return


def cmd_plain(a):
    s = connect(a.url, a.H, a.rcvbuf)
    status, headers, rest = read_head(s)
    print("status %s" % status, flush=True)
    if a.ready:
        with open(a.ready + ".tmp", "w") as f:
            f.write("status %s\n" % status)
        os.rename(a.ready + ".tmp", a.ready)
    if status is None:
        print("cut")
        return
    hold(a.hold_until)
    body = Chunked(headers)
    h = hashlib.sha256()
    out = open(a.out, "wb") if a.out else None
    b = rest
    while True:
        data = body.feed(b)
        h.update(data)
        if out:
            out.write(data)
        if body.done:
            break
        b = s.recv(1 << 20)
        if not b:
            break
    complete = body.done or (body.left is None and not body.chunked)
    print("complete" if complete else "cut")
    print("sha256 " + h.hexdigest())


def cmd_many(a):
    hdrs = ["Accept: text/event-stream"] + a.H
    conns = [connect(a.url, hdrs) for _ in range(a.count)]
    codes, state = {}, {}
    out = open(a.out, "a") if a.out else None

    def got(i, b):
        s, body, sse = state[i]
        for ev in sse.feed(body.feed(b)):
            if out:
                out.write("%d %s\n" % (i, ev["data"]))
        if out:
            out.flush()

    for i, s in enumerate(conns):
        status, headers, rest = read_head(s)
        codes[status] = codes.get(status, 0) + 1
        if status == 200:
            state[i] = (s, Chunked(headers), SSE())
            got(i, rest)
        else:
            s.close()
    with open(a.ready + ".tmp", "w") as f:
        for c in sorted(codes, key=str):
            f.write("%s %d\n" % (c, codes[c]))
    os.rename(a.ready + ".tmp", a.ready)
    sel = selectors.DefaultSelector()
    for i, (s, _, _) in state.items():
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    open_now = set(state)
    while open_now and not os.path.exists(a.release):
        for key, _ in sel.select(0.05):
            i = key.data
            try:
                b = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionError:
                b = b""
            if b:
                got(i, b)
            else:
                sel.unregister(key.fileobj)
                open_now.discard(i)
    complete = sum(1 for i in state if i not in open_now and state[i][1].done)
    print("open %d complete %d cut %d" % (len(open_now), complete,
          len(state) - len(open_now) - complete))
    for s, _, _ in state.values():
        s.close()


def cmd_check(a):
    log = open(a.log, "rb").read()
    events = []
    for f in a.events:
        for line in open(f):
            o = json.loads(line)
            if "data" in o:
                events.append(o)
    pos, bad, end = 0, None, None
    for n, ev in enumerate(events):
        if ev["event"] == "end":
            end = ev["data"]
            if n != len(events) - 1:
                bad = "an end event before the last event"
            break
        if ev["event"] != "message":
            bad = "event %d is of type %r" % (n, ev["event"])
            break
        try:
            at = int(ev["id"])
        except ValueError:
            bad = "event %d has the id %r" % (n, ev["id"])
            break
        if at <= pos:
            bad = "event %d (id %d) repeats what ended at %d" % (n, at, pos)
            break
        seg = log[pos:at]
        if len(seg) > PART + 1:
            bad = "event %d carries %d bytes" % (n, len(seg))
            break
        line = seg[:-1] if seg.endswith(b"\n") else seg
        if b"\n" in line:
            bad = "event %d (id %d) holds more than one line" % (n, at)
            break
        want = line.replace(b"\r", "\ufffd".encode()).replace(
            b"\0", "\ufffd".encode()).decode("utf-8", "replace")
        if ev["data"] != want:
            bad = "event %d (id %d): %r, want %r" % (
                n, at, ev["data"][:80], want[:80])
            break
        pos = at
    print("events %d" % len(events))
    if bad is None and pos != len(log):
        bad = "the events end at %d, the log at %d" % (pos, len(log))
    print("union exact" if bad is None else bad)
    if end is not None:
        print("end " + end)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("sse", "plain", "many"):
        q = sub.add_parser(name)
        q.add_argument("url")
        if name == "many":
            q.add_argument("count", type=int)
            q.add_argument("--release", required=True)
        q.add_argument("-H", action="append", default=[])
        q.add_argument("--out")
        q.add_argument("--ready")
        q.add_argument("--rcvbuf", type=int)
        q.add_argument("--hold-until")
        q.add_argument("--last-id")
        q.add_argument("--max-events", type=int)
        q.add_argument("--leave-after")
    q = sub.add_parser("check")
    q.add_argument("log")
    q.add_argument("events", nargs="+")
    a = p.parse_args()
    {"sse": cmd_sse, "plain": cmd_plain, "many": cmd_many,
     "check": cmd_check}[a.cmd](a)


if __name__ == "__main__":
    main()
