#!/usr/bin/python3
"""A webhook receiver for integration tests: a real HTTP server on 127.0.0.1.

Answers 503 to the first --fail-first requests, then 200, each after --delay-ms. A --rule
PATH=STATUS[xCOUNT][@RETRY_AFTER] answers STATUS to the first COUNT requests for PATH (every
request when COUNT is absent), with a Retry-After header when given, then 200. Every request is
appended to --out as one JSON line: {"n": <request number>, "t": <arrival, epoch seconds>,
"status": <answered>, "idempotency_key": ..., "body": <parsed JSON body>, ...}. Writes its port to --port-file once listening. Stops by itself after
--max-seconds (default 600) so a broken test never leaves it behind.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--out", required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--max-seconds", type=float, default=600)
ap.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
ap.add_argument("--delay-ms", type=int, default=0,
                help="wait this long after recording a request before answering it")
ap.add_argument("--rule", action="append", default=[],
                help="PATH=STATUS[xCOUNT][@RETRY_AFTER]: how to answer requests for PATH")
args = ap.parse_args()

rules = {}  # path -> [status, count or None, retry_after or None, seen]
for r in args.rule:
    path, spec = r.split("=", 1)
    retry = None
    if "@" in spec:
        spec, retry = spec.split("@", 1)
    cnt = None
    if "x" in spec:
        spec, cnt = spec.split("x", 1)
        cnt = int(cnt)
    rules[path] = [int(spec), cnt, retry, 0]

lock = threading.Lock()
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        with lock:
            count += 1
            k = count
            status = 503 if k <= args.fail_first else 200
            retry_after = "0" if status == 503 else None
            rule = rules.get(self.path)
            if rule is not None:
                rule[3] += 1
                if rule[1] is None or rule[3] <= rule[1]:
                    status, retry_after = rule[0], rule[2]
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsed": raw.decode("utf-8", "replace")}
            rec = {"n": k, "t": time.time(), "status": status, "path": self.path,
                   "idempotency_key": self.headers.get("Idempotency-Key"),
                   "content_type": self.headers.get("Content-Type"), "body": body,
                   "headers": {h.lower(): v for h, v in self.headers.items()},
                   "raw": raw.decode("utf-8", "replace")}
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000.0)
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *a):
        pass


ThreadingHTTPServer.allow_reuse_address = True
srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(args.port_file + ".tmp", args.port_file)
threading.Timer(args.max_seconds, srv.shutdown).start()
srv.serve_forever()
