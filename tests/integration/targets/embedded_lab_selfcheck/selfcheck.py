"""Check a running embedded lab: MX through its DNS (dnspython), then the guide's SMTP dialogue over a plain socket.

Usage: selfcheck.py ENV_FILE   (the output of `labctl.py env`)
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import sys

import dns.flags
import dns.resolver

# The guide's EHLO reply, in the guide's order.
GUIDE_CAPABILITIES = ["SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS",
                      "AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST"]
RFC2822_DATE = r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"


def load_env(path: str) -> dict:
    values = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if "=" in line:
                key, _equals, value = line.rstrip("\n").partition("=")
                values[key] = shlex.split(value)[0] if value else ""
    return values


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit("embedded_lab_selfcheck FAILED: " + what)
    print("ok: " + what)


def resolver_for(env: dict) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [env["MAILFLOW_LAB_DNS_HOST"]]
    resolver.port = int(env["MAILFLOW_LAB_DNS_PORT"])
    resolver.lifetime = 3.0
    return resolver


def check_dns(resolver: dns.resolver.Resolver) -> str:
    answer = resolver.resolve("contoso.test.", "MX")
    exchangers = sorted((record.preference, record.exchange.to_text()) for record in answer)
    check(exchangers == [(10, "mail1.contoso.test."), (20, "mail2.contoso.test.")],
          "contoso.test MX 10 mail1.contoso.test, MX 20 mail2.contoso.test (%s)" % exchangers)
    check(bool(answer.response.flags & dns.flags.AA), "the answer is authoritative")
    tcp_answer = resolver.resolve("contoso.test.", "MX", tcp=True)
    check(sorted(r.preference for r in tcp_answer) == [10, 20], "the same MX answer over TCP")
    nullmx = [(r.preference, r.exchange.to_text()) for r in resolver.resolve("nullmx.test.", "MX")]
    check(nullmx == [(0, ".")], "nullmx.test has a null MX")
    try:
        resolver.resolve("missing.test.", "MX")
        check(False, "missing.test is NXDOMAIN")
    except dns.resolver.NXDOMAIN:
        check(True, "missing.test is NXDOMAIN")
    address = resolver.resolve("mail1.contoso.test.", "A")[0].address
    check(address.startswith("127."), "mail1.contoso.test A %s (loopback)" % address)
    return address


class Dialogue:
    def __init__(self, address: str, port: int):
        self.sock = socket.create_connection((address, port), timeout=5)
        self.buffer = b""

    def reply(self) -> list:
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                data = self.sock.recv(65536)
                if not data:
                    raise SystemExit("embedded_lab_selfcheck FAILED: server closed the connection")
                self.buffer += data
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return lines

    def command(self, text: str) -> list:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()


def check_smtp(address: str, port: int) -> None:
    session = Dialogue(address, port)
    banner = session.reply()
    check(len(banner) == 1 and re.match(r"^220 mail1\.contoso\.test Microsoft ESMTP MAIL Service ready at %s$"
                                        % RFC2822_DATE, banner[0]) is not None, "banner: %s" % banner[0])
    ehlo = session.command("EHLO fabrikam.test")
    expected = ["250-mail1.contoso.test Hello [127.0.0.1]"] + \
        ["250-" + cap for cap in GUIDE_CAPABILITIES[:-1]] + ["250 " + GUIDE_CAPABILITIES[-1]]
    check(ehlo == expected, "EHLO: 250 with the guide's capability list")
    check(session.command("MAIL FROM: <chris@fabrikam.test>") == ["250 2.1.0 Sender OK"], "MAIL FROM: 250 2.1.0")
    check(session.command("RCPT TO: <kate@contoso.test> NOTIFY=success,failure") == ["250 2.1.5 Recipient OK"],
          "RCPT TO: 250 2.1.5")
    check(session.command("DATA") == ["354 Start mail input; end with <CRLF>.<CRLF>"], "DATA: 354")
    queued = session.command("Subject: test\r\n\r\nThis is a test message.\r\n.")
    check(len(queued) == 1 and re.match(r"^250 2\.6\.0 <[^>]+@mail1\.contoso\.test> \[InternalId=\d+, "
                                        r"Hostname=mail1\.contoso\.test\] Queued mail for delivery$",
                                        queued[0]) is not None, "message: %s" % queued[0])
    check(session.command("QUIT") == ["221 2.0.0 Service closing transmission channel"], "QUIT: 221 2.0.0")
    session.sock.close()


def check_log(log_file: str) -> None:
    with open(log_file, encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle if line.strip()]
    verbs = [event.get("verb") for event in events if event["event"] == "command"]
    check(verbs[-5:] == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"], "the event log recorded the dialogue's commands")
    check(any(event["event"] == "dns" and event.get("qname") == "contoso.test." for event in events),
          "the event log recorded the MX query")


def main() -> int:
    env = load_env(sys.argv[1])
    address = check_dns(resolver_for(env))
    check_smtp(address, int(env["MAILFLOW_LAB_SMTP_PORT"]))
    check_log(env["MAILFLOW_LAB_LOG_FILE"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
