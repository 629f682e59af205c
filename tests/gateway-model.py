#!/usr/bin/env python3
# A minimal model server for the gateway's tests, over TLS: Anthropic
# Messages and OpenAI Chat Completions and Responses, streamed or not, with
# known usage; faults by model name (fault-500, fault-429), a slow stream
# (model "claude-slow": one event, then the rest once the file DIR/release
# exists; DIR/client-left if the client goes first; "claude-hold": the
# same before any byte of a JSON answer) and an endless answer
# (model "endless"). Each request is appended to DIR/requests.jsonl.
# usage: gateway-model.py CERT KEY DIR  (prints the port, then serves)
import json, os, select, socket, ssl, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CERT, KEY, DIR = sys.argv[1:4]


def sse(name, obj):
    return ("event: %s\ndata: %s\n\n" % (name, json.dumps(obj))).encode()


def data(obj):
    return ("data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))).encode()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def record(self, body):
        with open(os.path.join(DIR, "requests.jsonl"), "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
                "body": body.decode("utf-8", "replace")}) + "\n")

    def json_answer(self, status, obj, extra=()):
        b = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b)

    def stream_start(self, ctype="text/event-stream"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def send(self, b):
        self.wfile.write(b)
        self.wfile.flush()

    def do_GET(self):
        self.record(b"")
        if self.path == "/models":
            self.json_answer(200, {"object": "list", "data": [{"id": "gpt-test"}]})
        else:
            self.json_answer(404, {"error": {"message": "no"}})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.record(body)
        req = json.loads(body or b"{}")
        model = req.get("model", "")
        if model == "fault-500":
            return self.json_answer(500, {"type": "error", "error": {
                "type": "api_error", "message": "upstream broke"}})
        if model == "fault-429":
            return self.json_answer(429, {"error": {"message": "slow down",
                "type": "rate_limit_exceeded"}}, [("Retry-After", "7")])
        if model == "endless":
            self.stream_start("application/json")
            chunk = b"[" + b"0," * 32767
            try:
                while True:
                    self.send(chunk)
            except OSError:
                return
        if model == "claude-hold" and not self.wait_release():
            return
        if self.path.startswith("/v1/messages"):
            return self.messages(req, model)
        if self.path == "/chat/completions":
            return self.chat(req, model)
        if self.path == "/responses":
            return self.responses_api(req, model)
        self.json_answer(404, {"error": {"message": "no such path"}})

    def messages(self, req, model):
        if self.path.startswith("/v1/messages/count_tokens"):
            return self.json_answer(200, {"input_tokens": 17})
        if not req.get("stream"):
            return self.json_answer(200, {"type": "message", "model": model,
                "content": [{"type": "text", "text": "hi"}],
                "usage": {"input_tokens": 11, "output_tokens": 22,
                          "cache_read_input_tokens": 3,
                          "cache_creation_input_tokens": 4}})
        slow = model == "claude-slow"
        start = {"input_tokens": 5, "output_tokens": 1} if slow else {
            "input_tokens": 100, "output_tokens": 1,
            "cache_read_input_tokens": 20, "cache_creation_input_tokens": 10}
        self.stream_start()
        self.send(sse("message_start", {"type": "message_start", "message": {
            "model": model, "usage": start}}))
        if slow and not self.wait_release():
            return
        self.send(sse("content_block_delta", {"type": "content_block_delta",
            "delta": {"type": "text_delta", "text": "hello"}}))
        self.send(sse("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "end_turn"}, "usage": {
            "output_tokens": 6 if slow else 42}}))
        self.send(sse("message_stop", {"type": "message_stop"}))

    # Wait for DIR/release; False (and DIR/client-left) if the client goes.
    def wait_release(self):
        sock = self.connection
        for _ in range(1200):
            if os.path.exists(os.path.join(DIR, "release")):
                return True
            r, _, _ = select.select([sock], [], [], 0.05)
            if r:
                try:
                    gone = sock.recv(1) == b""
                except (OSError, ssl.SSLError):
                    gone = True
                if gone:
                    open(os.path.join(DIR, "client-left"), "w").close()
                    return False
        return False

    def chat(self, req, model):
        usage = {"prompt_tokens": 50, "completion_tokens": 7, "total_tokens": 57,
                 "prompt_tokens_details": {"cached_tokens": 10}}
        if not req.get("stream"):
            return self.json_answer(200, {"object": "chat.completion",
                "model": model, "choices": [], "usage": usage})
        self.stream_start()
        self.send(data({"model": model, "choices": [{"delta": {"content": "hi"}}],
                        "usage": None}))
        if (req.get("stream_options") or {}).get("include_usage"):
            self.send(data({"model": model, "choices": [], "usage": usage}))
        self.send(data("[DONE]"))

    def responses_api(self, req, model):
        resp = {"model": model, "status": "completed", "usage": {
            "input_tokens": 30, "input_tokens_details": {"cached_tokens": 5},
            "output_tokens": 9, "total_tokens": 39}}
        if not req.get("stream"):
            return self.json_answer(200, resp)
        self.stream_start()
        self.send(sse("response.created", {"type": "response.created",
            "response": {"model": model, "status": "in_progress"}}))
        self.send(sse("response.output_text.delta", {
            "type": "response.output_text.delta", "delta": "hi"}))
        self.send(sse("response.completed", {"type": "response.completed",
                                             "response": resp}))


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
