#!/usr/bin/env python3
"""A destination for trying herald: prints each request it receives.

    python3 examples/sink.py 9000          # answers 200
    python3 examples/sink.py 9000 500      # answers 500, to watch herald retry
"""
import http.server
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
STATUS = int(sys.argv[2]) if len(sys.argv) > 2 else 200


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(f"{self.command} {self.path} -> {STATUS}\n{body.decode(errors='replace')}\n", flush=True)
        self.send_response(STATUS)
        self.end_headers()

    do_PUT = do_PATCH = do_POST

    def log_message(self, *args):
        pass


print(f"sink listening on http://127.0.0.1:{PORT}/ (answering {STATUS})", flush=True)
http.server.HTTPServer(("127.0.0.1", PORT), Sink).serve_forever()
