# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real-lab self-check: reads the MAILFLOW_LAB_* variables that `labctl env` prints (runme.sh exports them).

Lab checks only, not module tests: BIND answers for the zone, Postfix greets, the fault server plays its parts.
"""

from __future__ import annotations

import json
import os
import socket
import sys

try:
    import dns.resolver
except ImportError:
    sys.exit("lab_selfcheck: dnspython is missing for %s (pip install dnspython)" % sys.executable)

TIMEOUT = 5.0


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit("lab_selfcheck: %s is not set; source `labctl env` first" % name)
    return value


class Session:
    """A bare SMTP client over a socket: one reply (possibly multi-line) per read."""

    def __init__(self, host, port):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        self.reader = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            raw = self.reader.readline(4096)
            if not raw:
                raise AssertionError("connection closed after %r" % lines)
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if line[3:4] != "-":
                return lines

    def command(self, text):
        self.sock.sendall(text.encode("ascii") + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.command("QUIT")
        except (OSError, AssertionError):
            pass
        self.reader.close()
        self.sock.close()


def check_dns():
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [env("MAILFLOW_LAB_DNS_SERVER")]
    resolver.port = int(env("MAILFLOW_LAB_DNS_PORT"))
    resolver.lifetime = TIMEOUT
    answer = resolver.resolve("fabrikam.test", "MX")
    got = sorted((record.preference, record.exchange.to_text()) for record in answer)
    expected = [(10, "mx1.fabrikam.test."), (20, "mx2.fabrikam.test.")]
    assert got == expected, "fabrikam.test MX: %r, expected %r" % (got, expected)
    print("ok dns: fabrikam.test MX %s" % ", ".join("%d %s" % pair for pair in got))


def check_postfix_banner():
    host = env("MAILFLOW_LAB_MX1_ADDR")
    session = Session(host, 25)
    try:
        banner = session.reply()
    finally:
        session.close()
    assert banner[-1].startswith("220 mx1.fabrikam.test ESMTP Postfix"), "mx1 banner: %r" % banner
    print("ok postfix: %s:25 %s" % (host, banner[-1]))


def fault_map():
    with open(env("MAILFLOW_LAB_FAULT_MAP"), encoding="utf-8") as handle:
        return json.load(handle)


def check_exchange_persona(behaviours):
    persona = behaviours["exchange"]
    session = Session(persona["host"], int(persona["port"]))
    try:
        banner = session.reply()
    finally:
        session.close()
    expected = "220 %s Microsoft ESMTP MAIL Service ready at " % persona["hostname"]
    assert banner[-1].startswith(expected), "exchange persona banner: %r" % banner
    print("ok faultd exchange: %s:%s %s" % (persona["host"], persona["port"], banner[-1]))


def check_mail_530(behaviours):
    behaviour = behaviours["mail_530"]
    session = Session(behaviour["host"], int(behaviour["port"]))
    try:
        banner = session.reply()
        assert banner[-1].startswith("220 "), "mail_530 banner: %r" % banner
        ehlo = session.command("EHLO selfcheck.contoso.test")
        assert ehlo[-1].startswith("250 "), "mail_530 EHLO: %r" % ehlo
        mail = session.command("MAIL FROM:<chris@contoso.test>")
    finally:
        session.close()
    assert mail[-1].startswith("530 5.7.1 "), "mail_530 MAIL FROM: %r" % mail
    print("ok faultd mail_530: %s:%s MAIL FROM -> %s" % (behaviour["host"], behaviour["port"], mail[-1]))


def main():
    check_dns()
    check_postfix_banner()
    behaviours = fault_map()
    check_exchange_persona(behaviours)
    check_mail_530(behaviours)


if __name__ == "__main__":
    main()
