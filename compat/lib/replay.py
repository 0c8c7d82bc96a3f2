"""A TLS proxy in front of a trust server that can replay an old timestamp: a rollback attack.

    replay.py PORT UPSTREAM CA CERT KEY STATE_DIR

Every GET is forwarded to UPSTREAM (trusting CA) and answered as UPSTREAM answered it, except
while STATE_DIR/replay holds a path: a GET of that path is answered with the bytes of
STATE_DIR/replay.body instead (the timestamp saved before a newer one was published).
"""
import http.server
import os
import ssl
import sys
import urllib.error
import urllib.request

PORT, UPSTREAM, CA, CERT, KEY, STATE = sys.argv[1:7]
UPSTREAM_CTX = ssl.create_default_context(cafile=CA)


class Proxy(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        replay = os.path.join(STATE, "replay")
        if os.path.exists(replay):
            with open(replay, encoding="utf-8") as f:
                path = f.read().strip()
            if self.path.split("?")[0] == path:
                with open(replay + ".body", "rb") as f:
                    self.answer(200, f.read(), [("Content-Type", "application/json")])
                return
        request = urllib.request.Request(UPSTREAM + self.path)
        for name in ("Authorization", "Accept"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request, context=UPSTREAM_CTX, timeout=20) as r:
                self.answer(r.status, r.read(), [("Content-Type", r.headers.get("Content-Type", "application/json"))])
        except urllib.error.HTTPError as e:
            self.answer(e.code, e.read(), [("Content-Type", "application/json")])


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(PORT)), Proxy)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(CERT, KEY)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
server.serve_forever()
