#!/usr/bin/env python3
"""model-server: Anthropic's and OpenAI's model APIs, scripted, for tests.

  POST /v1/messages            Anthropic Messages (x-api-key)
  POST /v1/chat/completions    OpenAI Chat Completions (Authorization: Bearer)
  POST /v1/responses           OpenAI Responses (Authorization: Bearer)
  GET  /_admin/totals          usage reported so far (also --totals FILE)
  POST /_admin/release         lets go of answers held with "hold"
  POST /_admin/script          replaces the script (JSON body)

Each API answers streamed (server-sent events, chunked) when the request
says "stream": true, else one JSON body. A wrong or missing key is a 401 in
the provider's own error format; so are 404, 400, 429 and 500.

What is answered comes from a script (--script FILE, re-read when it
changes, or POST /_admin/script):

  {"answers": [ANSWER, ...], "default": ANSWER}

Requests take the answers in order ("times": N uses one N times), then the
default. An ANSWER:

  text          the assistant's text ("chunks": split into N deltas)
  tool_calls    [{"name": ..., "arguments": {...}}] in each API's own form
  usage         {"input_tokens", "output_tokens", "cache_read_tokens",
                 "cache_write_tokens", "reasoning_tokens"}: input_tokens
                 is the uncached input, as Anthropic counts it; OpenAI's
                 prompt/input tokens are input + cache_read, with
                 cached_tokens = cache_read inside them (OpenAI carries
                 no cache writes, Anthropic no reasoning tokens)
  usage_deltas  Anthropic: that many cumulative message_delta events
  status        an error answer instead (500, 429, 529, 400, ...);
                 "retry_after": seconds for the Retry-After header
  delay         seconds between streamed chunks
  hold          stream the first chunk, then wait for /_admin/release
  huge          text of that many bytes
  endless       stream (or send a body) until the client goes away
  model         the model named in the answer (default: the request's)
  no_model      true: the answer names no model ("model": null)

--log FILE gets one JSON line per request: method, path, headers (names
in lower case; a name sent more than once has its values joined by ", "),
body, api, the status answered and the usage reported. --totals FILE holds the
sums of the usage reported, per API and in all, rewritten after each
answer. Standard library only.
"""
import argparse
import hashlib
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 32 << 20
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_tokens",
              "cache_write_tokens", "reasoning_tokens")
APIS = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat",
        "/v1/responses": "responses"}
DEFAULT_ANSWER = {"text": "Done.", "usage": {"input_tokens": 10, "output_tokens": 5}}


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.script = {}
        self.script_hash = None
        self.index = 0
        self.used = 0
        self.release = threading.Event()
        self.totals = {"all": self.zero()}
        for api in APIS.values():
            self.totals[api] = self.zero()
        self.seq = 0

    @staticmethod
    def zero():
        z = {k: 0 for k in USAGE_KEYS}
        z["requests"] = 0
        z["errors"] = 0
        return z

    def load(self):
        """The script, re-read when its file changed (the caller holds lock)."""
        path = self.args.script
        if path is None:
            return
        try:
            data = open(path, "rb").read()
        except OSError:
            data = b"{}"
        self.set_script(data)

    def set_script(self, data):
        h = hashlib.sha256(data).hexdigest()
        if h == self.script_hash:
            return
        self.script = json.loads(data or b"{}")
        self.script_hash = h
        self.index = 0
        self.used = 0

    def next_answer(self):
        with self.lock:
            self.load()
            answers = self.script.get("answers", [])
            while self.index < len(answers):
                a = answers[self.index]
                if self.used < int(a.get("times", 1)):
                    self.used += 1
                    return dict(a)
                self.index += 1
                self.used = 0
            return dict(self.script.get("default", DEFAULT_ANSWER))

    def count(self, api, usage, error):
        with self.lock:
            for key in (api, "all"):
                t = self.totals[key]
                t["requests"] += 1
                if error:
                    t["errors"] += 1
                for k in USAGE_KEYS:
                    t[k] += int((usage or {}).get(k, 0))
            self.write_totals()

    def write_totals(self):
        if self.args.totals:
            tmp = self.args.totals + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.totals, f, indent=1, sort_keys=True)
            os.replace(tmp, self.args.totals)

    def log(self, entry):
        if not self.args.log:
            return
        with self.lock:
            with open(self.args.log, "a") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")

    def new_id(self, prefix):
        with self.lock:
            self.seq += 1
            return "%s_%06d%s" % (prefix, self.seq, os.urandom(4).hex())


class ClientGone(Exception):
    pass


def usage_of(answer):
    u = answer.get("usage") or {}
    return {k: int(u.get(k, 0)) for k in USAGE_KEYS}


def answer_text(answer):
    if "huge" in answer:
        line = "All work and no play makes a large answer.\n"
        n = int(answer["huge"])
        return (line * (n // len(line) + 1))[:n]
    return answer.get("text", "")


def pieces(text, n):
    """text in n pieces (at least one, none empty unless text is)."""
    if not text:
        return [""]
    n = max(1, min(int(n), len(text)))
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def text_pieces(answer):
    text = answer_text(answer)
    if "huge" in answer:
        return [text[i:i + 16384] for i in range(0, len(text), 16384)] or [""]
    return pieces(text, answer.get("chunks", 3))


def openai_usage_chat(u):
    prompt = u["input_tokens"] + u["cache_read_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": u["output_tokens"],
            "total_tokens": prompt + u["output_tokens"],
            "prompt_tokens_details": {"cached_tokens": u["cache_read_tokens"]},
            "completion_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]}}


def openai_usage_responses(u):
    inp = u["input_tokens"] + u["cache_read_tokens"]
    return {"input_tokens": inp,
            "input_tokens_details": {"cached_tokens": u["cache_read_tokens"]},
            "output_tokens": u["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
            "total_tokens": inp + u["output_tokens"]}


def anthropic_usage(u, output):
    return {"input_tokens": u["input_tokens"],
            "cache_creation_input_tokens": u["cache_write_tokens"],
            "cache_read_input_tokens": u["cache_read_tokens"],
            "output_tokens": output}


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error",
               413: "request_too_large", 429: "rate_limit_error",
               500: "api_error", 529: "overloaded_error"}


def error_body(api, status, message):
    if api == "anthropic":
        return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"),
                                           "message": message}}
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    etype = {401: "invalid_request_error", 404: "invalid_request_error",
             400: "invalid_request_error", 429: "requests"}.get(status, "server_error")
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


class Handler(BaseHTTPRequestHandler):
    # Each event leaves when written, as the providers' servers send them
    # (with Nagle, a small event waits for the client's delayed ACK).
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "model-server/1"
    state = None  # set in main

    def address_string(self):
        return self.client_address[0] if self.client_address else "unix"

    def log_message(self, fmt, *args):
        sys.stderr.write("model-server: %s\n" % (fmt % args))

    # --- plumbing ---

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            raise ClientGone()

    def end_stream(self):
        self.chunk(b"")

    def pace(self, answer, first):
        """Between two streamed events: the answer's delay, its hold."""
        if answer.get("delay"):
            time.sleep(float(answer["delay"]))
        if first and answer.get("hold"):
            self.state.release.wait(120)

    def read_body(self):
        n = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise ValueError("body too large")
        if n is None:
            return b""
        if int(n) > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(int(n))

    # --- routes ---

    def do_GET(self):
        if self.path == "/_admin/totals":
            with self.state.lock:
                body = json.loads(json.dumps(self.state.totals))
            return self.send_json(200, body)
        api = APIS.get(self.path.split("?")[0])
        self.record("GET", api, b"", 405 if api else 404, None)
        if api:
            return self.send_json(405, error_body(api, 405, "Method not allowed"))
        return self.send_json(404, error_body("chat", 404, "Not found"))

    def do_POST(self):
        path = self.path.split("?")[0]
        try:
            body = self.read_body()
        except ValueError as e:
            return self.send_json(413, error_body("chat", 413, str(e)))
        if path == "/_admin/release":
            self.state.release.set()
            return self.send_json(200, {"released": True})
        if path == "/_admin/script":
            with self.state.lock:
                self.state.set_script(body)
            return self.send_json(200, {"script": True})
        api = APIS.get(path)
        if api is None:
            self.record("POST", None, body, 404, None)
            return self.send_json(404, error_body("anthropic" if "messages" in path
                                                  else "chat", 404, "Not found: " + path))
        if not self.authorized(api):
            self.record("POST", api, body, 401, None)
            return self.send_json(401, error_body(
                api, 401, "invalid x-api-key" if api == "anthropic"
                else "Incorrect API key provided."))
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError:
            self.record("POST", api, body, 400, None)
            return self.send_json(400, error_body(api, 400, "The body is not JSON."))
        answer = self.state.next_answer()
        status = int(answer.get("status", 200))
        if status != 200:
            headers = {}
            if "retry_after" in answer:
                headers["Retry-After"] = str(answer["retry_after"])
            self.record("POST", api, req, status, None)
            self.state.count(api, None, True)
            return self.send_json(status, error_body(
                api, status, answer.get("message", "scripted error %d" % status)), headers)
        usage = usage_of(answer)
        model = None if answer.get("no_model") else (
            answer.get("model") or req.get("model") or "test-model")
        stream = req.get("stream") is True
        self.record("POST", api, req, 200, usage)
        try:
            getattr(self, "%s_%s" % (api, "stream" if stream else "body"))(
                req, answer, usage, model)
        except ClientGone:
            self.close_connection = True
        self.state.count(api, self.reported(api, req, stream, usage), False)

    @staticmethod
    def reported(api, req, stream, usage):
        """The usage this answer put on the wire (none in a Chat Completions
        stream that did not ask for it)."""
        if api == "chat" and stream and not (
                isinstance(req.get("stream_options"), dict) and
                req["stream_options"].get("include_usage") is True):
            return None
        # What each API's usage can carry.
        drop = "reasoning_tokens" if api == "anthropic" else "cache_write_tokens"
        return dict(usage, **{drop: 0})

    def authorized(self, api):
        key = self.state.args.api_key
        if api == "anthropic":
            return self.headers.get("x-api-key") == key
        return self.headers.get("Authorization") == "Bearer " + key

    def record(self, method, api, body, status, usage):
        if isinstance(body, bytes):
            try:
                body = json.loads(body)
            except ValueError:
                body = body[:4096].decode("utf-8", "replace")
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        self.state.log({"method": method, "path": self.path, "api": api,
                        "headers": headers,
                        "body": body, "status": status, "usage": usage,
                        "time": time.time()})

    # --- Anthropic Messages ---

    def anthropic_content(self, answer):
        content = []
        text = answer_text(answer)
        if text:
            content.append({"type": "text", "text": text})
        for i, call in enumerate(answer.get("tool_calls", [])):
            content.append({"type": "tool_use", "id": call.get("id") or "toolu_%02d%s" % (
                i, os.urandom(6).hex()), "name": call["name"], "input": call.get("arguments", {})})
        return content

    def anthropic_body(self, req, answer, usage, model):
        content = self.anthropic_content(answer)
        if answer.get("endless"):
            return self.endless_body()
        self.send_json(200, {
            "id": self.state.new_id("msg"), "type": "message", "role": "assistant",
            "model": model, "content": content,
            "stop_reason": "tool_use" if answer.get("tool_calls") else "end_turn",
            "stop_sequence": None, "usage": anthropic_usage(usage, usage["output_tokens"])},
            {"request-id": self.state.new_id("req")})

    def sse(self, event, data):
        self.chunk("event: %s\ndata: %s\n\n" % (event, json.dumps(data)))

    def anthropic_stream(self, req, answer, usage, model):
        self.start_stream()
        start_usage = anthropic_usage(usage, 1 if usage["output_tokens"] else 0)
        self.sse("message_start", {"type": "message_start", "message": {
            "id": self.state.new_id("msg"), "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": start_usage}})
        index = 0
        first = True
        if answer_text(answer) or answer.get("endless"):
            self.sse("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})
            self.sse("ping", {"type": "ping"})
            for piece in self.text_source(answer):
                self.sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": piece}})
                self.pace(answer, first)
                first = False
            self.sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        for call in self.anthropic_content(answer)[index and 1:]:
            if call["type"] != "tool_use":
                continue
            self.sse("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": {"type": "tool_use", "id": call["id"],
                                                               "name": call["name"], "input": {}}})
            for piece in pieces(json.dumps(call["input"]), 2):
                self.sse("content_block_delta", {"type": "content_block_delta", "index": index,
                                                 "delta": {"type": "input_json_delta",
                                                           "partial_json": piece}})
                self.pace(answer, first)
                first = False
            self.sse("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        n = max(1, int(answer.get("usage_deltas", 1)))
        for i in range(1, n + 1):
            out = usage["output_tokens"] * i // n
            self.sse("message_delta", {"type": "message_delta", "delta": {
                "stop_reason": "tool_use" if answer.get("tool_calls") else "end_turn",
                "stop_sequence": None}, "usage": {"output_tokens": out}})
        self.sse("message_stop", {"type": "message_stop"})
        self.end_stream()

    def text_source(self, answer):
        if answer.get("endless"):
            def forever():
                while True:
                    yield "and on " * 512
            return forever()
        return text_pieces(answer)

    def endless_body(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b'{"text": "')
            while True:
                self.wfile.write(b"and on " * 4096)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            raise ClientGone()

    # --- OpenAI Chat Completions ---

    def chat_tool_calls(self, answer):
        return [{"id": call.get("id") or "call_%02d%s" % (i, os.urandom(6).hex()),
                 "type": "function", "function": {"name": call["name"],
                                                  "arguments": json.dumps(call.get("arguments", {}))}}
                for i, call in enumerate(answer.get("tool_calls", []))]

    def chat_body(self, req, answer, usage, model):
        if answer.get("endless"):
            return self.endless_body()
        message = {"role": "assistant", "content": answer_text(answer) or None}
        calls = self.chat_tool_calls(answer)
        if calls:
            message["tool_calls"] = calls
        self.send_json(200, {
            "id": self.state.new_id("chatcmpl"), "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": openai_usage_chat(usage)})

    def chat_stream(self, req, answer, usage, model):
        include = isinstance(req.get("stream_options"), dict) and \
            req["stream_options"].get("include_usage") is True
        cid = self.state.new_id("chatcmpl")
        created = int(time.time())

        def data(choices, **extra):
            d = {"id": cid, "object": "chat.completion.chunk", "created": created,
                 "model": model, "choices": choices}
            if include:
                d["usage"] = None
            d.update(extra)
            self.chunk("data: %s\n\n" % json.dumps(d))

        self.start_stream()
        data([{"index": 0, "delta": {"role": "assistant", "content": ""},
               "finish_reason": None}])
        first = True
        if answer_text(answer) or answer.get("endless"):
            for piece in self.text_source(answer):
                data([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
                self.pace(answer, first)
                first = False
        calls = self.chat_tool_calls(answer)
        for i, call in enumerate(calls):
            data([{"index": 0, "delta": {"tool_calls": [{
                "index": i, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]},
                "finish_reason": None}])
            for piece in pieces(call["function"]["arguments"], 2):
                data([{"index": 0, "delta": {"tool_calls": [{
                    "index": i, "function": {"arguments": piece}}]}, "finish_reason": None}])
                self.pace(answer, first)
                first = False
        data([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}])
        if include:
            data([], usage=openai_usage_chat(usage))
        self.chunk("data: [DONE]\n\n")
        self.end_stream()

    # --- OpenAI Responses ---

    def responses_output(self, answer):
        out = []
        text = answer_text(answer) or ("and on " if answer.get("endless") else "")
        if text:
            out.append({"type": "message", "id": self.state.new_id("msg"), "status": "completed",
                        "role": "assistant", "content": [{"type": "output_text", "text": text,
                                                          "annotations": []}]})
        for i, call in enumerate(answer.get("tool_calls", [])):
            out.append({"type": "function_call", "id": self.state.new_id("fc"),
                        "call_id": call.get("id") or "call_%02d%s" % (i, os.urandom(6).hex()),
                        "name": call["name"], "arguments": json.dumps(call.get("arguments", {})),
                        "status": "completed"})
        return out

    def responses_object(self, rid, model, status, output, usage):
        return {"id": rid, "object": "response", "created_at": int(time.time()),
                "status": status, "model": model, "output": output,
                "usage": openai_usage_responses(usage) if usage else None}

    def responses_body(self, req, answer, usage, model):
        if answer.get("endless"):
            return self.endless_body()
        self.send_json(200, self.responses_object(self.state.new_id("resp"), model, "completed",
                                                  self.responses_output(answer), usage))

    def responses_stream(self, req, answer, usage, model):
        rid = self.state.new_id("resp")
        seq = [0]

        def ev(kind, **fields):
            fields["type"] = kind
            fields["sequence_number"] = seq[0]
            seq[0] += 1
            self.sse(kind, fields)

        self.start_stream()
        ev("response.created", response=self.responses_object(rid, model, "in_progress", [], None))
        ev("response.in_progress", response=self.responses_object(rid, model, "in_progress", [], None))
        output = self.responses_output(answer)
        first = True
        for n, item in enumerate(output):
            if item["type"] == "message" or answer.get("endless"):
                started = dict(item, status="in_progress", content=[])
                ev("response.output_item.added", output_index=n, item=started)
                ev("response.content_part.added", item_id=item["id"], output_index=n,
                   content_index=0, part={"type": "output_text", "text": "", "annotations": []})
                for piece in self.text_source(answer):
                    ev("response.output_text.delta", item_id=item["id"], output_index=n,
                       content_index=0, delta=piece)
                    self.pace(answer, first)
                    first = False
                text = item["content"][0]["text"]
                ev("response.output_text.done", item_id=item["id"], output_index=n,
                   content_index=0, text=text)
                ev("response.content_part.done", item_id=item["id"], output_index=n,
                   content_index=0, part=item["content"][0])
            else:
                ev("response.output_item.added", output_index=n,
                   item=dict(item, status="in_progress", arguments=""))
                for piece in pieces(item["arguments"], 2):
                    ev("response.function_call_arguments.delta", item_id=item["id"],
                       output_index=n, delta=piece)
                    self.pace(answer, first)
                    first = False
                ev("response.function_call_arguments.done", item_id=item["id"],
                   output_index=n, arguments=item["arguments"])
            ev("response.output_item.done", output_index=n, item=item)
        ev("response.completed", response=self.responses_object(rid, model, "completed",
                                                                output, usage))
        self.end_stream()


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description="Anthropic and OpenAI model APIs for tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--unix", help="listen on this unix socket instead of 127.0.0.1")
    ap.add_argument("--cert", help="TLS certificate (PEM); without it, plain HTTP")
    ap.add_argument("--key", help="TLS private key (PEM)")
    ap.add_argument("--api-key", required=True, help="the key clients must send")
    ap.add_argument("--script")
    ap.add_argument("--log")
    ap.add_argument("--totals")
    args = ap.parse_args()
    Handler.state = State(args)
    if args.unix:
        try:
            os.unlink(args.unix)
        except FileNotFoundError:
            pass
        server = UnixServer(args.unix, Handler)
    else:
        ThreadingHTTPServer.daemon_threads = True
        server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    scheme = "http"
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        # The handshake happens in the connection's thread, on first read.
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        scheme = "https"
    Handler.state.write_totals()
    where = args.unix if args.unix else "%s://127.0.0.1:%d" % (scheme, server.server_address[1])
    print("listening on %s" % where, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
