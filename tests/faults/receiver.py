#!/usr/bin/env python3
"""Scripted webhook receiver for the fault suite (127.0.0.1 only).

The first path segment chooses the behaviour; the rest of the path is ignored and never
logged (it may hold a planted secret token):
  ok        200 at once                 slowNN   200 after NN ms
  e500      500                         e503ra   503 + Retry-After: 1
  e429      429                         e410     410 (permanent)
  timeout   200 after 3 s (past the destination's timeout)
  reset     read the request, then close with RST, no reply
  hang      read the request, never answer, keep the socket open
  flaky     500 on the first request of each webhook-id, then 200
  crash099  the status line "HTTP/1.1 099 Low": a code below 100, on which the HTTP client
            library overdued uses traps (the process ends; see "answer that crashes")
Each request is one log line, written and flushed BEFORE the reply:
  <unix time> <behaviour> <webhook-id> <ticket_id from the body or -> <reply>
With --signing-secret-file, each request's Standard Webhooks signature is also checked here,
independently of overdued's code (HMAC-SHA256 keyed by the base64 after whsec_, over
"<webhook-id>.<webhook-timestamp>.<body>"), one line per request in <log>.signatures:
  valid <webhook-id>   or   INVALID <webhook-id>
A request whose body is cut short (its sender killed mid-request) is logged with the reply
"truncated", is not answered, and is not a signed request to check.
"""
import argparse, base64, hashlib, hmac, json, socket, struct, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
seen = set()
log = None
signatures = None
key = None


def signature_valid(headers, body):
    wid, ts, sent = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (wid and ts and sent):
        return False
    mac = hmac.new(key, wid.encode() + b"." + ts.encode() + b"." + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(hmac.compare_digest(part.split(",", 1)[1], expected) for part in sent.split(" ") if part.startswith("v1,"))


def record(behaviour, wid, ticket, reply):
    with lock:
        log.write(f"{time.time():.6f} {behaviour} {wid} {ticket} {reply}\n")
        log.flush()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, headers=()):
        body = b"ok\n" if code < 300 else b"no\n"
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        wid = self.headers.get("webhook-id") or "-"
        behaviour = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0] or "ok"
        if len(body) < length:
            # A sender killed mid-request (the crash loop) leaves a body cut short: not a
            # request, which a receiver would not act on or answer; logged as such, so that
            # it never counts as an arrival.
            record(behaviour, wid, "-", "truncated")
            self.close_connection = True
            return
        if key is not None:
            verdict = "valid" if signature_valid(self.headers, body) else "INVALID"
            with lock:
                signatures.write(f"{verdict} {wid}\n")
                signatures.flush()
        ticket = "-"
        try:
            doc = json.loads(body)
            t = doc.get("ticket_id") or (doc.get("data") or {}).get("ticket_id") or (doc.get("ticket") or {}).get("ticket_id")
            if t:
                ticket = str(t).replace(" ", "_")
        except Exception:
            pass
        if behaviour == "ok":
            record(behaviour, wid, ticket, 200); self.reply(200)
        elif behaviour.startswith("slow"):
            record(behaviour, wid, ticket, 200); time.sleep(int(behaviour[4:] or 10) / 1000); self.reply(200)
        elif behaviour == "e500":
            record(behaviour, wid, ticket, 500); self.reply(500)
        elif behaviour == "e503ra":
            record(behaviour, wid, ticket, 503); self.reply(503, [("Retry-After", "1")])
        elif behaviour == "e429":
            record(behaviour, wid, ticket, 429); self.reply(429)
        elif behaviour == "e410":
            record(behaviour, wid, ticket, 410); self.reply(410)
        elif behaviour == "timeout":
            record(behaviour, wid, ticket, "timeout"); time.sleep(3); self.reply(200)
        elif behaviour == "reset":
            record(behaviour, wid, ticket, "reset")
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif behaviour == "hang":
            record(behaviour, wid, ticket, "hang")
            time.sleep(3600)
        elif behaviour == "crash099":
            record(behaviour, wid, ticket, 99)
            self.wfile.write(b"HTTP/1.1 099 Low\r\nContent-Length: 3\r\n\r\nno\n")
            self.wfile.flush()
            self.close_connection = True
        elif behaviour == "flaky":
            with lock:
                first = wid not in seen
                seen.add(wid)
            code = 500 if first else 200
            record(behaviour, wid, ticket, code); self.reply(code)
        else:
            record(behaviour, wid, ticket, 404); self.reply(404)

    def do_GET(self):
        self.reply(200)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--signing-secret-file")
    a = p.parse_args()
    global log, signatures, key
    log = open(a.log, "a", buffering=1)
    if a.signing_secret_file:
        key = base64.b64decode(open(a.signing_secret_file).read().strip()[len("whsec_"):])
        signatures = open(a.log + ".signatures", "a", buffering=1)
    server = Server(("127.0.0.1", a.port), Handler)
    print(f"receiver on 127.0.0.1:{a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
