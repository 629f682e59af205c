"""What the fake agent CLIs of tests/agents/bin share: HTTP(S) to the model
the way the real tools do it (proxy variables, the CA each tool is told
about), server-sent events, retries, the edits a model asks for, and a
record of the traffic a real tool would make besides the model's.
Standard library only; runs inside the sandbox with /usr/bin/python3.
"""
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

MAX_ANSWER = 64 << 20          # a fake gives up on answers bigger than this
RETRIES = 2                    # tries after the first, on 429, 5xx, 529


class ApiError(Exception):
    def __init__(self, status, body, message=None):
        super().__init__(message or "%s %s" % (status, body))
        self.status, self.body = status, body


def context(cafile_vars, system=True):
    """A TLS context trusting the system's certificates (unless told not
    to) and the PEM files named by the first of cafile_vars that is set,
    as each tool reads its own variable."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if system:
        # The system's bundle itself, not what SSL_CERT_FILE names.
        for f in (ssl.get_default_verify_paths().openssl_cafile,
                  "/etc/ssl/certs/ca-certificates.crt"):
            if f and os.path.exists(f):
                ctx.load_verify_locations(cafile=f)
                break
    for var in cafile_vars:
        if os.environ.get(var):
            ctx.load_verify_locations(cafile=os.environ[var])
            break
    return ctx


def opener(ctx, proxy_schemes=("http", "https")):
    """urllib honours HTTP(S)_PROXY and NO_PROXY (both cases) as the real
    tools do; only the schemes the tool reads are kept."""
    proxies = {k: v for k, v in urllib.request.getproxies().items()
               if k in proxy_schemes or k == "no"}
    return urllib.request.build_opener(urllib.request.ProxyHandler(proxies),
                                       urllib.request.HTTPSHandler(context=ctx))


def post(op, url, headers, body, timeout=600):
    """POST body (a dict) as JSON; the response, or ApiError."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    try:
        return op.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        text = e.read(65536).decode("utf-8", "replace")
        err = ApiError(e.code, text)
        err.retry_after = e.headers.get("retry-after")
        raise err


def with_retries(what, tries=RETRIES):
    """what(), again after 429, 5xx and dropped connections, honouring
    Retry-After (capped), as the real tools' clients do."""
    for attempt in range(tries + 1):
        try:
            return what()
        except ApiError as e:
            if attempt == tries or not (e.status == 429 or e.status >= 500):
                raise
            wait = 0.2 * (attempt + 1)
            try:
                wait = min(float(getattr(e, "retry_after", None) or wait), 2.0)
            except ValueError:
                pass
            time.sleep(wait)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            if attempt == tries:
                raise ApiError(0, str(e), "connection error: %s" % e)
            time.sleep(0.2)


def read_json(resp):
    data = resp.read(MAX_ANSWER + 1)
    if len(data) > MAX_ANSWER:
        raise ApiError(0, "", "the answer is too large")
    return json.loads(data)


def sse(resp):
    """(event, data) pairs of a server-sent event stream; data is the
    joined data: lines (a string)."""
    event, data, total = None, [], 0
    for raw in resp:
        total += len(raw)
        if total > MAX_ANSWER:
            raise ApiError(0, "", "the answer is too large")
        line = raw.decode("utf-8").rstrip("\r\n")
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
    if data:
        yield event, "\n".join(data)


def inside(path, cwd=None):
    """path resolved under cwd, or None if it leaves it."""
    cwd = os.path.realpath(cwd or os.getcwd())
    full = os.path.realpath(os.path.join(cwd, path))
    if full != cwd and not full.startswith(cwd + os.sep):
        return None
    return full


def write_file(path, content):
    full = inside(path)
    if full is None:
        return "refused: %s is outside the working directory" % path
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        f.write(content)
    return "wrote %d bytes to %s" % (len(content), path)


def edit_file(path, old, new):
    full = inside(path)
    if full is None or not os.path.exists(full):
        return "error: no file %s" % path
    text = open(full).read()
    if old not in text:
        return "error: the text to replace is not in %s" % path
    with open(full, "w") as f:
        f.write(text.replace(old, new, 1))
    return "edited %s" % path


def nonessential(what):
    """A real tool would contact what (telemetry, an update check, a
    catalog): say so on stderr and keep a record in $HOME, where a test
    looks for it. The fake never sends it."""
    sys.stderr.write("fake-cli: nonessential traffic: %s\n" % what)
    home = os.environ.get("HOME")
    if home and os.path.isdir(home):
        with open(os.path.join(home, ".fake-cli-nonessential.log"), "a") as f:
            f.write(what + "\n")


def session_id():
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def anthropic_turn(op, url, headers, body):
    """One streamed Messages request: (content blocks, stop_reason, usage),
    usage accumulated as the SDK does (message_delta is cumulative)."""
    resp = with_retries(lambda: post(op, url, headers, body))
    blocks, usage, stop = {}, {}, None
    for event, data in sse(resp):
        d = json.loads(data)
        t = d.get("type")
        if t == "message_start":
            usage = dict(d["message"].get("usage") or {})
        elif t == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"], _json="")
        elif t == "content_block_delta":
            b, delta = blocks[d["index"]], d["delta"]
            if delta.get("type") == "text_delta":
                b["text"] = b.get("text", "") + delta["text"]
            elif delta.get("type") == "input_json_delta":
                b["_json"] += delta["partial_json"]
        elif t == "message_delta":
            stop = d["delta"].get("stop_reason")
            for k, v in (d.get("usage") or {}).items():
                if v is not None:
                    usage[k] = v
        elif t == "error":
            raise ApiError(0, data, "API Error: %s" % d["error"].get("message"))
    content = []
    for i in sorted(blocks):
        b = blocks[i]
        if b["type"] == "tool_use":
            b["input"] = json.loads(b["_json"] or "{}")
        b.pop("_json")
        content.append(b)
    return content, stop, usage


def chat_turn(op, url, headers, body):
    """One streamed Chat Completions request: (text, tool calls, usage or None)."""
    resp = with_retries(lambda: post(op, url, headers, body))
    text, calls, usage = "", {}, None
    for _event, data in sse(resp):
        if data == "[DONE]":
            break
        d = json.loads(data)
        if d.get("usage"):
            usage = d["usage"]
        for choice in d.get("choices", []):
            delta = choice.get("delta") or {}
            text += delta.get("content") or ""
            for tc in delta.get("tool_calls") or []:
                c = calls.setdefault(tc["index"], {"id": None, "name": "", "arguments": ""})
                c["id"] = tc.get("id") or c["id"]
                fn = tc.get("function") or {}
                c["name"] += fn.get("name") or ""
                c["arguments"] += fn.get("arguments") or ""
    return text, [calls[i] for i in sorted(calls)], usage


def responses_turn(op, url, headers, body):
    """One streamed Responses request: (output items, usage)."""
    resp = with_retries(lambda: post(op, url, headers, body))
    for _event, data in sse(resp):
        d = json.loads(data)
        t = d.get("type")
        if t == "response.completed":
            return d["response"].get("output", []), d["response"].get("usage")
        if t in ("response.failed", "response.incomplete", "error"):
            raise ApiError(0, data, "stream error: %s" % t)
    raise ApiError(0, "", "stream disconnected before completion")


def announce(tool):
    """Where the fake runs, on stderr (the job's log, inside handoff)."""
    sys.stderr.write("fake-cli: %s as uid %d in %s, HOME=%s\n"
                     % (tool, os.getuid(), os.getcwd(), os.environ.get("HOME")))
