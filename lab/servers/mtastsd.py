#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's MTA-STS policy host (RFC 8461 3.3): HTTPS on a loopback address, one certificate for every
mta-sts.<domain> name of the lab, the answer chosen by the Host header.

    mtastsd.py --listen 127.0.0.16 --port 443 --cert C --key K --policies policies.json --pid-file P

policies.json maps a host name to {"status": int, "content_type": str, "body": str}; a host it does not name, or a
path other than /.well-known/mta-sts.txt, gets 404. Stdlib only, loopback only: lab code, not a web server.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POLICY_PATH = "/.well-known/mta-sts.txt"


class PolicyHandler(BaseHTTPRequestHandler):
    server_version = "mailflow-lab-mtastsd"
    sys_version = ""
    policies = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        host = (self.headers.get("Host") or "").split(":", 1)[0].rstrip(".").lower()
        entry = self.policies.get(host) if self.path == POLICY_PATH else None
        if entry is None:
            entry = {"status": 404, "content_type": "text/plain", "body": "not found\n"}
        body = entry["body"].encode("utf-8")
        self.send_response(entry["status"])
        self.send_header("Content-Type", entry["content_type"])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--policies", required=True)
    parser.add_argument("--pid-file", required=True)
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.listen).is_loopback:
        parser.error("--listen must be a loopback address")
    with open(args.policies, encoding="utf-8") as handle:
        PolicyHandler.policies = {host.lower(): entry for host, entry in json.load(handle).items()}
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server = ThreadingHTTPServer((args.listen, args.port), PolicyHandler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(args.pid_file + ".tmp", "w", encoding="utf-8") as handle:
        handle.write("%d\n" % os.getpid())
    os.replace(args.pid_file + ".tmp", args.pid_file)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
