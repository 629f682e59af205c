#!/usr/bin/env python3
# A client of the gateway's unix socket that reads its answer late or
# slowly, for the backpressure tests.
# usage: gateway-slow-client.py SOCK PATH BODY -H 'Name: value'...
#            [--hold SECONDS] [--hold-until FILE:TEXT] [--watch PID]
#            [--bound BYTES] [--slow] [--leave] [--huge N]
# POSTs BODY to PATH, reads the status and the first part of the answer,
# then reads nothing more for --hold seconds (or until FILE holds TEXT, a
# minute at most) and reads the rest: at once, or in small reads with
# pauses (--slow); --leave closes instead. Prints the status; with --watch,
# "grew N": how far the peak resident memory (VmHWM) of process PID rose
# from before the request to the end of the hold (the hold ends early once
# it passes --bound); then "complete N" or "cut after N" (body bytes), and
# with --huge, "text ok" if the answer (JSON, or server-sent events) carries
# the model server's huge text of N bytes exactly, else "text differs".
import argparse, hashlib, http.client, json, os, socket, sys, time

p = argparse.ArgumentParser()
p.add_argument("sock"); p.add_argument("path"); p.add_argument("body")
p.add_argument("-H", action="append", default=[])
p.add_argument("--hold", type=float, default=0)
p.add_argument("--hold-until")
p.add_argument("--watch", type=int)
p.add_argument("--bound", type=int, default=1 << 62)
p.add_argument("--slow", action="store_true")
p.add_argument("--leave", action="store_true")
p.add_argument("--huge", type=int)
a = p.parse_args()


def hwm(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM for %d" % pid)


def held_enough(start, base):
    if a.watch and hwm(a.watch) - base > a.bound:
        return True
    if a.hold_until:
        path, text = a.hold_until.split(":", 1)
        try:
            if text in open(path, errors="replace").read():
                return True
        except OSError:
            pass
        return time.monotonic() - start > 60
    return time.monotonic() - start >= a.hold


def huge_text(n):
    # tests/model-server.py's answer_text for "huge": n.
    line = "All work and no play makes a large answer.\n"
    return (line * (n // len(line) + 1))[:n]


def text_of(body, is_sse):
    if not is_sse:
        return "".join(c.get("text", "") for c in json.loads(body)["content"])
    out, last = [], None
    for block in body.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                d = json.loads(line[6:])
                last = d.get("type")
                if last == "content_block_delta":
                    out.append(d["delta"].get("text", ""))
    return "".join(out) if last == "message_stop" else None


class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(a.sock)


base = hwm(a.watch) if a.watch else 0
c = Conn("localhost")
hdrs = dict(h.split(": ", 1) for h in a.H)
hdrs["Content-Type"] = "application/json"
c.request("POST", a.path, body=a.body.encode(), headers=hdrs)
r = c.getresponse()
print(r.status, flush=True)
is_sse = (r.getheader("Content-Type") or "").startswith("text/event-stream")
got = [r.read1(65536)]
start = time.monotonic()
while not held_enough(start, base):
    time.sleep(0.05)
if a.watch:
    print("grew %d" % (hwm(a.watch) - base), flush=True)
if a.leave:
    c.close()
    print("left")
    sys.exit(0)
n = len(got[0])
try:
    while True:
        b = r.read(32768 if a.slow else 1 << 20)
        if not b:
            break
        got.append(b)
        n += len(b)
        if a.slow:
            time.sleep(0.002)
    print("complete %d" % n)
except (http.client.IncompleteRead, ConnectionError, OSError) as e:
    n += len(getattr(e, "partial", b"") or b"")
    print("cut after %d" % n)
    sys.exit(0)
if a.huge is not None:
    try:
        t = text_of(b"".join(got), is_sse)
    except (ValueError, KeyError, UnicodeDecodeError):
        t = None
    ok = t is not None and hashlib.sha256(t.encode()).digest() == \
        hashlib.sha256(huge_text(a.huge).encode()).digest()
    print("text ok" if ok else "text differs")
