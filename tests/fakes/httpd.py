#!/usr/bin/env python3
"""A loopback HTTP server for tests: serves DIR, logs each request path to
DIR/requests.log, writes the port it got to PORTFILE. Stops by itself
after 120 seconds so a failed test cannot leave it running."""
import http.server
import os
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        with open(os.path.join(self.directory, "requests.log"), "a") as f:
            f.write(self.path + "\n")
        super().do_GET()

    def log_message(self, *args):
        pass


def main():
    root, portfile = sys.argv[1], sys.argv[2]
    handler = lambda *a, **kw: Handler(*a, directory=root, **kw)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    threading.Timer(120, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
