#!/usr/bin/env python
"""faultd: one asyncio process serving many scripted SMTP behaviours, each on its own listening socket.

Behaviour N (its position in BEHAVIOURS; 0 is the Exchange persona of the Telnet guide) listens at
--bind-base + N on --port (the real lab: 127.0.2.1.. on port 25, as root), or with --host H --port-base P
at H:P+N (no root). A behaviour is data: a persona (reply texts, capabilities, verb handlers) plus overrides,
static per-verb replies, and a few named hooks for the hostile cases. The embedded lab imports this module and
runs the same engine in-process (FaultServer, Listener).

Loopback only: binding any other address is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import email.utils
import hmac
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------------------------
# Personas: reply texts (templated with {hostname}, {client_ip}, {date}, ...), capabilities, verb -> handler.
# ---------------------------------------------------------------------------------------------------------------

EXCHANGE_CAPABILITIES = [
    "SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM",
    "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING", "XRDST",
]
# Once TLS is up Exchange no longer offers STARTTLS or anonymous TLS.
EXCHANGE_TLS_CAPABILITIES = [cap for cap in EXCHANGE_CAPABILITIES if cap not in ("STARTTLS", "X-ANONYMOUSTLS")]

EXCHANGE_TEXTS = {
    "banner": "220 {hostname} Microsoft ESMTP MAIL Service ready at {date}",
    "ehlo": "250 {hostname} Hello [{client_ip}]",
    "helo": "250 {hostname} Hello [{client_ip}]",
    "ehlo_bad_domain": "501 5.5.4 Invalid domain name",
    "need_hello": "503 5.5.2 Send hello first",
    "need_mail": "503 5.5.2 Need mail command",
    "need_rcpt": "503 5.5.2 Need rcpt command",
    "bad_sequence": "503 5.5.1 Bad sequence of commands",
    "syntax": "501 5.5.4 Invalid arguments",
    "unsupported_param": "555 5.5.4 Unsupported option: {param}",
    "mail_ok": "250 2.1.0 Sender OK",
    "mail_nested": "503 5.5.2 Sender already specified",
    "mail_bad_address": "550 5.1.7 Invalid address",
    "rcpt_ok": "250 2.1.5 Recipient OK",
    "rcpt_unknown": "550 5.1.1 User unknown",
    "rcpt_relay": "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
    "rcpt_bad_address": "501 5.1.3 Invalid address",
    "size_exceeded": "552 5.3.4 Message size exceeds fixed maximum message size",
    "data_go": "354 Start mail input; end with <CRLF>.<CRLF>",
    "queued": "250 2.6.0 <{message_id}> [InternalId={internal_id}, Hostname={hostname}] Queued mail for delivery",
    "bdat_ok": "250 2.0.0 {size} octets received",
    "rset": "250 2.0.0 Resetting",
    "noop": "250 2.0.0 OK",
    "vrfy": "252 2.1.5 Cannot VRFY user",
    "quit": "221 2.0.0 Service closing transmission channel",
    "unrecognized": "500 5.3.3 Unrecognized command",
    "line_too_long": "500 5.5.2 Line too long",
    "starttls_go": "220 2.0.0 SMTP server ready",
    "tls_already": "503 5.5.1 TLS already active",
    "tls_unavailable": "454 4.7.0 TLS not available due to local problem",
    "auth_required": "530 5.7.0 Authentication required",
    "auth_ok": "235 2.7.0 Authentication successful",
    "auth_failed": "535 5.7.3 Authentication unsuccessful",
    "auth_mech_unsupported": "504 5.7.4 Unrecognized authentication type",
    "auth_already": "503 5.5.2 Already authenticated",
    "auth_cancelled": "501 5.0.0 Authentication cancelled",
    "auth_bad_base64": "501 5.5.2 Cannot decode base64 response",
    "idle_timeout": "421 4.4.2 {hostname} Connection timed out, closing transmission channel",
}

ESMTP_HANDLERS = {
    "EHLO": "ehlo", "HELO": "helo", "MAIL": "mail", "RCPT": "rcpt", "DATA": "data", "BDAT": "bdat",
    "RSET": "rset", "NOOP": "noop", "VRFY": "vrfy", "QUIT": "quit", "STARTTLS": "starttls", "AUTH": "auth",
}

ENHANCED_CODE = re.compile(r"^(\d{3}[ -])[245]\.\d{1,3}\.\d{1,3} ")


def strip_enhanced(texts: dict) -> dict:
    """The same texts with the RFC 3463 x.y.z removed (a server that never offered ENHANCEDSTATUSCODES)."""
    return {key: ENHANCED_CODE.sub(r"\1", value) for key, value in texts.items()}


PERSONAS = {
    "exchange": {
        "texts": EXCHANGE_TEXTS,
        "capabilities": EXCHANGE_CAPABILITIES,
        "capabilities_tls": EXCHANGE_TLS_CAPABILITIES,
        "handlers": ESMTP_HANDLERS,
    },
    # A plain RFC 5321 server: no enhanced status codes anywhere.
    "basic": {
        "texts": dict(strip_enhanced(EXCHANGE_TEXTS),
                      banner="220 {hostname} ESMTP Service ready",
                      queued="250 OK queued as {queue_id}",
                      quit="221 {hostname} closing connection"),
        "capabilities": ["SIZE 37748736", "PIPELINING", "DSN", "STARTTLS", "8BITMIME"],
        "capabilities_tls": ["SIZE 37748736", "PIPELINING", "DSN", "8BITMIME"],
        "handlers": ESMTP_HANDLERS,
    },
    # Port 587 style: AUTH PLAIN LOGIN offered, MAIL refused until AUTH succeeded.
    "submission": {
        "texts": EXCHANGE_TEXTS,
        "capabilities": ["SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS", "AUTH PLAIN LOGIN",
                         "8BITMIME", "BINARYMIME", "CHUNKING"],
        "capabilities_tls": ["SIZE 37748736", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "AUTH PLAIN LOGIN",
                             "8BITMIME", "BINARYMIME", "CHUNKING"],
        "handlers": ESMTP_HANDLERS,
        "auth_required": True,
    },
}

# ---------------------------------------------------------------------------------------------------------------
# The behaviour table. Order is the contract: N = position, address = base + N. Only ever append.
# Keys: persona, hostname, texts (overrides), capabilities, handlers (full verb map), handler_overrides (merged),
# replies (static per-verb reply, "*" = any verb), after ({verb: close|reset}), banner_hook, banner_raw,
# after_banner, banner_delay / reply_delay (seconds or "$option"), eol, tls (certificate kind), extra_lines.
# ---------------------------------------------------------------------------------------------------------------

BEHAVIOURS = [
    {"name": "exchange", "hostname": "mail1.exchange.test",
     "description": "the Exchange persona of the Telnet guide: full session, STARTTLS, DSN, PIPELINING"},
    {"name": "mail_530", "replies": {"MAIL": "530 5.7.1 Client was not authenticated"},
     "description": "Exchange; MAIL FROM -> 530 5.7.1 Client was not authenticated"},
    {"name": "ehlo_501", "replies": {"EHLO": "501 5.5.4 Invalid domain name", "HELO": "501 5.5.4 Invalid domain name"},
     "description": "Exchange; EHLO and HELO -> 501 5.5.4 Invalid domain name"},
    {"name": "mail_550_517", "replies": {"MAIL": "550 5.1.7 Invalid address"},
     "description": "Exchange; MAIL FROM -> 550 5.1.7 Invalid address"},
    {"name": "unrecognized_500", "handlers": {}, "replies": {"*": "500 5.3.3 Unrecognized command"},
     "description": "every command after the banner -> 500 5.3.3 Unrecognized command"},
    {"name": "banner_421", "banner": "421 4.3.2 Service not available, closing transmission channel",
     "after_banner": "close",
     "description": "banner 421 4.3.2 Service not available, then the server closes"},
    {"name": "banner_554", "banner": "554 5.7.1 <unknown[{client_ip}]>: Client host rejected: Access denied",
     "handlers": {"QUIT": "quit"}, "replies": {"*": "503 5.5.1 Bad sequence of commands"},
     "description": "banner 554 5.7.1 Client host rejected; then 503 to everything but QUIT (RFC 5321 3.1)"},
    {"name": "slow_banner", "banner_delay": "$slow_banner_delay",
     "description": "Exchange session whose banner comes after --slow-banner-delay seconds (tarpit)"},
    {"name": "drop_after_ehlo", "after": {"EHLO": "close"},
     "description": "Exchange; closes the connection right after the EHLO reply"},
    {"name": "ehlo_rejected_helo_ok", "persona": "basic",
     "replies": {"EHLO": '500 5.5.1 Command unrecognized: "EHLO"'}, "texts": {"helo": "250 {hostname}"},
     "description": "RFC 821 server: EHLO -> 500 5.5.1, HELO -> 250, rest of the session works (basic codes)"},
    {"name": "no_enhanced", "persona": "basic",
     "description": "full valid session with basic codes only; no ENHANCEDSTATUSCODES, no x.y.z in replies"},
    {"name": "multiline",
     "banner": ["220-{hostname} Microsoft ESMTP MAIL Service ready at {date}",
                "220-This lab server answers with multi-line replies",
                "220 Send EHLO to continue"],
     "extra_lines": {"mail_ok": ["Sender policy checks passed", "Sender address accepted"],
                     "rcpt_ok": ["Recipient mailbox exists", "Recipient address accepted"],
                     "rcpt_unknown": ["Recipient lookup failed"], "rcpt_relay": ["Relay policy applied"],
                     "data_go": ["Message input begins"], "queued": ["Message accepted"],
                     "quit": ["Goodbye"]},
     "description": "Exchange with multi-line replies: 3-line banner, multi-line MAIL/RCPT/DATA/QUIT replies"},
    {"name": "auth_required", "persona": "submission",
     "description": "port-587 style: AUTH PLAIN LOGIN; MAIL before AUTH -> 530 5.7.0; good AUTH -> 235 2.7.0, "
                    "bad -> 535 5.7.3 (user probe@exchange.test, password in the map's password_file)"},
    {"name": "greylist", "replies": {"RCPT": "451 4.7.1 Greylisted, try again later"},
     "description": "Exchange; RCPT TO -> 451 4.7.1 Greylisted, try again later"},
    {"name": "backpressure", "replies": {"MAIL": "452 4.3.1 Insufficient system resources"},
     "description": "Exchange; MAIL FROM -> 452 4.3.1 Insufficient system resources (back pressure)"},
    # Hostile behaviours.
    {"name": "no_banner", "banner_hook": "silent",
     "description": "accepts the connection and never says anything"},
    {"name": "banner_drip", "banner_hook": "drip", "banner": "220 {hostname} ESMTP",
     "description": "banner sent one byte per --drip-interval seconds, then an Exchange session"},
    {"name": "endless_line", "banner_hook": "endless",
     "description": "banner line that never ends: streams '220 xxxx...' up to --endless-bytes, then closes"},
    {"name": "huge_reply", "handler_overrides": {"EHLO": "huge_ehlo"},
     "description": "EHLO reply is a --huge-bytes (10 MB) multi-line reply; the session then works"},
    {"name": "many_lines", "handler_overrides": {"EHLO": "many_lines_ehlo"},
     "description": "EHLO reply has 2,000 lines (the real capabilities are the last ones); the session then works"},
    {"name": "bad_code_2x0", "banner_hook": "raw", "banner_raw": "2x0 hello\r\n",
     "description": "banner '2x0 hello' (non-numeric code), then an Exchange session"},
    {"name": "bad_code_short", "banner_hook": "raw", "banner_raw": "99 hi\r\n",
     "description": "banner '99 hi' (two-digit code), then an Exchange session"},
    {"name": "empty_line_reply", "banner_hook": "raw", "banner_raw": "\r\n",
     "description": "banner is an empty line, then an Exchange session"},
    {"name": "code_change_midreply", "handler_overrides": {"EHLO": "code_change_ehlo"},
     "description": "EHLO reply changes code mid-reply: '250-<host> Hello' then '251 SIZE 37748736'"},
    {"name": "bare_lf", "eol": "\n",
     "description": "Exchange session whose replies end with LF only"},
    {"name": "reset_mid_reply", "handler_overrides": {"EHLO": "reset_mid_ehlo"},
     "description": "sends half the EHLO reply, then resets the connection (SO_LINGER 0: RST)"},
    {"name": "starttls_garbage", "handler_overrides": {"STARTTLS": "starttls_garbage"},
     "description": "offers STARTTLS, answers 220, then sends plain-text garbage instead of a TLS handshake"},
    {"name": "tls_expired", "tls": "expired",
     "description": "Exchange; STARTTLS with an expired certificate (signed by the lab CA)"},
    {"name": "tls_self_signed", "tls": "self_signed",
     "description": "Exchange; STARTTLS with a self-signed certificate"},
    {"name": "tls_wrong_name", "tls": "wrong_name",
     "description": "Exchange; STARTTLS with a lab-CA certificate for another name (wrong-name.invalid.test)"},
    {"name": "data_no_answer", "handler_overrides": {"DATA": "data_no_answer"},
     "description": "Exchange; accepts DATA (354) and never answers the final dot"},
    {"name": "tarpit_ok", "banner_delay": "$tarpit_delay", "reply_delay": "$tarpit_delay",
     "description": "Exchange session with every reply (banner included) delayed by --tarpit-delay (300 ms)"},
    {"name": "tls_not_yet_valid", "tls": "not_yet_valid",
     "description": "Exchange; STARTTLS with a lab-CA certificate whose validity starts in the future"},
]

DEFAULT_ACCEPTED_DOMAINS = ("exchange.test",)
# Local parts that exist in every accepted domain; postmaster is required by RFC 5321 4.5.1.
DEFAULT_RECIPIENTS = ("kate", "chris", "admin", "postmaster", "abuse")
AUTH_USERNAME = "probe@exchange.test"

MAX_COMMAND_LINE = 4096          # RFC 5321 allows 512; extensions make lines longer, 4 KiB is generous
MAX_AUTH_LINE = 12288            # RFC 4954 4: at least 12288 octets for an AUTH response
DATA_CHUNK = 65536               # message lines longer than this are read in pieces
READ_SIZE = 65536


class Options:
    """Tunables shared by all listeners (the CLI flags)."""

    def __init__(self, slow_banner_delay=2.0, tarpit_delay=0.3, drip_interval=1.0, endless_bytes=20 * 1024 * 1024,
                 huge_bytes=10 * 1024 * 1024, many_lines=2000, idle_timeout=300.0, tls_handshake_timeout=15.0,
                 max_connections=256, max_message_size=37748736, auth_username=AUTH_USERNAME, auth_password=None):
        self.slow_banner_delay = slow_banner_delay
        self.tarpit_delay = tarpit_delay
        self.drip_interval = drip_interval
        self.endless_bytes = endless_bytes
        self.huge_bytes = huge_bytes
        self.many_lines = many_lines
        self.idle_timeout = idle_timeout
        self.tls_handshake_timeout = tls_handshake_timeout
        self.max_connections = max_connections
        self.max_message_size = max_message_size
        self.auth_username = auth_username
        self.auth_password = auth_password if auth_password is not None else secrets.token_urlsafe(18)


def default_hostname(spec: dict) -> str:
    return spec.get("hostname") or spec["name"].replace("_", "-") + ".faultd.test"


class Behaviour:
    """A table entry merged with its persona and checked against the handler and hook registries."""

    def __init__(self, spec: dict, index: int):
        persona = PERSONAS[spec.get("persona", "exchange")]
        self.name = spec["name"]
        self.index = index
        self.description = spec["description"]
        self.hostname = default_hostname(spec)
        self.texts = dict(persona["texts"], **spec.get("texts", {}))
        self.capabilities = list(spec.get("capabilities", persona["capabilities"]))
        self.capabilities_tls = list(spec.get("capabilities_tls", persona["capabilities_tls"]))
        self.handlers = dict(spec["handlers"] if "handlers" in spec else persona["handlers"])
        self.handlers.update(spec.get("handler_overrides", {}))
        self.replies = {verb.upper(): text for verb, text in spec.get("replies", {}).items()}
        self.after = {verb.upper(): action for verb, action in spec.get("after", {}).items()}
        self.banner = spec.get("banner", self.texts["banner"])
        self.banner_hook = spec.get("banner_hook", "standard")
        self.banner_raw = spec.get("banner_raw", "")
        self.after_banner = spec.get("after_banner")
        self.banner_delay = spec.get("banner_delay", 0)
        self.reply_delay = spec.get("reply_delay", 0)
        self.eol = spec.get("eol", "\r\n")
        self.offers_starttls = "STARTTLS" in self.capabilities
        self.tls = spec.get("tls", "valid" if self.offers_starttls else None)
        self.extra_lines = spec.get("extra_lines", {})
        self.auth_required = bool(spec.get("auth_required", persona.get("auth_required", False)))
        self._check()

    def _check(self) -> None:
        unknown = [name for name in self.handlers.values() if name not in HANDLERS]
        if unknown:
            raise ValueError("%s: unknown handlers %s" % (self.name, unknown))
        if self.banner_hook not in BANNER_HOOKS:
            raise ValueError("%s: unknown banner hook %r" % (self.name, self.banner_hook))
        bad_actions = [action for action in self.after.values() if action not in AFTER_ACTIONS]
        if self.after_banner is not None:
            bad_actions += [] if self.after_banner in AFTER_ACTIONS else [self.after_banner]
        if bad_actions:
            raise ValueError("%s: unknown after-actions %s" % (self.name, bad_actions))
        for key in self.extra_lines:
            if key not in self.texts:
                raise ValueError("%s: extra_lines for unknown text %r" % (self.name, key))

    def delay(self, value, options: Options) -> float:
        if isinstance(value, str) and value.startswith("$"):
            return float(getattr(options, value[1:]))
        return float(value or 0)

    def max_message_size(self, options: Options) -> int:
        for cap in self.capabilities:
            words = cap.split()
            if words[0].upper() == "SIZE" and len(words) > 1 and words[1].isdigit() and int(words[1]) > 0:
                return int(words[1])
        return options.max_message_size

    def describe(self) -> dict:
        return {"index": self.index, "name": self.name, "hostname": self.hostname, "description": self.description,
                "starttls": self.offers_starttls, "tls_certificate": self.tls}


def behaviour_table() -> list:
    return [Behaviour(spec, index) for index, spec in enumerate(BEHAVIOURS)]


def behaviour_by_name(name: str) -> Behaviour:
    for index, spec in enumerate(BEHAVIOURS):
        if spec["name"] == name:
            return Behaviour(spec, index)
    raise KeyError("unknown behaviour %r (known: %s)" % (name, ", ".join(spec["name"] for spec in BEHAVIOURS)))


# ---------------------------------------------------------------------------------------------------------------
# Event log (JSONL). Never holds AUTH data or message content.
# ---------------------------------------------------------------------------------------------------------------

# Verbs whose argument carries no secret and helps tests (who was greeted, which addresses were given).
LOGGED_ARGUMENT_VERBS = ("EHLO", "HELO", "MAIL", "RCPT", "VRFY", "BDAT")
KNOWN_VERBS = frozenset(("EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "VRFY", "EXPN", "HELP",
                         "QUIT", "STARTTLS", "AUTH", "TURN", "ETRN", "ATRN", "XCLIENT", "XFORWARD"))


class EventLog:
    """Thread-safe: the embedded lab's DNS threads write to the same log."""

    def __init__(self, path=None):
        self.path = path
        self.lock = threading.Lock()
        self.handle = None
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.handle = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, event: str, **fields) -> None:
        if self.handle is None:
            return
        record = {"ts": round(time.time(), 6), "event": event}
        record.update(fields)
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self.lock:
            if self.handle is not None:
                self.handle.write(line)

    def close(self) -> None:
        with self.lock:
            if self.handle is not None:
                self.handle.close()
                self.handle = None


# ---------------------------------------------------------------------------------------------------------------
# SMTP syntax helpers
# ---------------------------------------------------------------------------------------------------------------

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN = re.compile(r"^(?=.{1,253}\.?$)%s(?:\.%s)*\.?$" % (LABEL, LABEL))
LOCAL_PART = re.compile(r'^(?:[A-Za-z0-9!#$%&\'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&\'*+/=?^_`{|}~-]+)*|"[^"\\\r\n]*")$')


def valid_domain(value: str) -> bool:
    if value.startswith("[") and value.endswith("]"):
        literal = value[1:-1]
        if literal.upper().startswith("IPV6:"):
            literal = literal[5:]
        try:
            ipaddress.ip_address(literal)
            return True
        except ValueError:
            return False
    return bool(DOMAIN.match(value))


def valid_mailbox(address: str) -> bool:
    if "@" not in address:
        return False
    local, domain = address.rsplit("@", 1)
    return bool(LOCAL_PART.match(local)) and valid_domain(domain)


def parse_path(text: str):
    """'<a@b> K=V ...' -> (address, [params]) or None when the path is malformed. Source routes are dropped."""
    text = text.strip()
    if text.startswith("<"):
        end = text.find(">")
        if end < 0:
            return None
        address, rest = text[1:end], text[end + 1:]
        if rest and not rest.startswith(" "):
            return None
    else:
        parts = text.split(" ", 1)
        address, rest = parts[0], parts[1] if len(parts) > 1 else ""
    if address.startswith("@") and ":" in address:
        address = address.split(":", 1)[1]
    return address, rest.split()


def _xtext_ok(value: str) -> bool:
    return bool(value) and all(33 <= ord(char) <= 126 and char != "=" for char in value)


def _notify_ok(value: str) -> bool:
    words = [word.upper() for word in value.split(",")]
    if words == ["NEVER"]:
        return True
    return bool(words) and len(set(words)) == len(words) and set(words) <= {"SUCCESS", "FAILURE", "DELAY"}


def _body_values(caps: set) -> set:
    values = {"7BIT"}
    if "8BITMIME" in caps:
        values.add("8BITMIME")
    if "BINARYMIME" in caps:
        values.add("BINARYMIME")
    return values


# verb -> parameter -> (capability keyword that enables it, validator(value, capability keywords))
PARAMETERS = {
    "MAIL": {
        "SIZE": ("SIZE", lambda value, caps: value.isdigit()),
        "BODY": ("8BITMIME", lambda value, caps: value.upper() in _body_values(caps)),
        "RET": ("DSN", lambda value, caps: value.upper() in ("FULL", "HDRS")),
        "ENVID": ("DSN", lambda value, caps: _xtext_ok(value)),
        "AUTH": ("AUTH", lambda value, caps: bool(value)),
        "SMTPUTF8": ("SMTPUTF8", lambda value, caps: value == ""),
    },
    "RCPT": {
        "NOTIFY": ("DSN", lambda value, caps: _notify_ok(value)),
        "ORCPT": ("DSN", lambda value, caps: ";" in value and _xtext_ok(value)),
    },
}


def format_reply_lines(lines: list, eol: str, final: bool = True) -> bytes:
    """['250 a', '250 b'] -> b'250-a<eol>250 b<eol>': the separator is derived, texts hold 'CODE text'.
    final=False continues every line (a reply streamed in parts)."""
    out = []
    for position, line in enumerate(lines):
        code, text = line[:3], line[4:]
        separator = "-" if position < len(lines) - 1 or not final else " "
        out.append(code + separator + text + eol)
    return "".join(out).encode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------------------------
# Session
# ---------------------------------------------------------------------------------------------------------------

class SessionClosed(Exception):
    """The session ends here; reason says why (for the log)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LineTooLong(Exception):
    pass


class Session:
    def __init__(self, server: "FaultServer", listener: "Listener", reader, writer, conn_id: int):
        self.server = server
        self.listener = listener
        self.behaviour = listener.behaviour
        self.options = server.options
        self.reader = reader
        self.writer = writer
        self.conn_id = conn_id
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.client_ip = peer[0]
        self.peer = "%s:%s" % (peer[0], peer[1])
        self.buffer = bytearray()
        self.greeted = None
        self.tls_active = False
        self.authenticated = None
        self.mute = False
        self.close_reason = None
        self.reset_transaction()

    # -- logging -------------------------------------------------------------------------------------------------
    def log(self, event: str, **fields) -> None:
        self.server.log.write(event, behaviour=self.behaviour.name, conn=self.conn_id, peer=self.peer,
                              listener="%s:%s" % (self.listener.host, self.listener.port), **fields)

    # -- state ---------------------------------------------------------------------------------------------------
    def reset_transaction(self) -> None:
        self.mail_from = None
        self.recipients = []
        self.bdat_size = 0

    def capabilities(self) -> list:
        return self.behaviour.capabilities_tls if self.tls_active else self.behaviour.capabilities

    def capability_keywords(self) -> set:
        return {cap.split()[0].upper() for cap in self.capabilities()}

    def auth_mechanisms(self) -> list:
        for cap in self.capabilities():
            words = cap.upper().split()
            if words[0] == "AUTH":
                return words[1:]
        return []

    # -- templating and replies ------------------------------------------------------------------------------------
    def fill(self, template: str, **extra) -> str:
        values = {
            "hostname": self.listener.hostname,
            "client_ip": self.client_ip,
            "date": email.utils.formatdate(localtime=True),
            "message_id": "%s@%s" % (uuid.uuid4(), self.listener.hostname),
            "internal_id": str(secrets.randbelow(9 * 10 ** 12) + 10 ** 12),
            "queue_id": secrets.token_hex(5).upper(),
        }
        values.update(extra)
        return template.format(**values)

    def render(self, key: str, **extra) -> list:
        """Text key -> reply lines, with the behaviour's extra lines placed before the final line."""
        template = self.behaviour.texts[key]
        lines = [self.fill(item, **extra) for item in (template if isinstance(template, list) else [template])]
        extra_texts = self.behaviour.extra_lines.get(key)
        if extra_texts:
            final = lines[-1]
            enhanced = ENHANCED_CODE.match(final)
            prefix = final[:4] + (final[4:enhanced.end()] if enhanced else "")
            lines = lines[:-1] + [prefix + text for text in extra_texts] + [final]
        return lines

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_lines(self, lines: list, delay: float = None) -> None:
        if self.mute:
            return
        pause = self.behaviour.delay(self.behaviour.reply_delay, self.options) if delay is None else delay
        if pause > 0:
            await asyncio.sleep(pause)
        await self.write(format_reply_lines(lines, self.behaviour.eol))

    async def say(self, key: str, **extra) -> None:
        await self.send_lines(self.render(key, **extra))

    async def say_static(self, reply) -> None:
        lines = reply if isinstance(reply, list) else [reply]
        await self.send_lines([self.fill(line) for line in lines])

    # -- input ---------------------------------------------------------------------------------------------------
    async def _fill_buffer(self) -> bool:
        timeout = self.options.idle_timeout
        try:
            chunk = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
        except asyncio.TimeoutError:
            raise SessionClosed("idle_timeout")
        if not chunk:
            return False
        self.buffer += chunk
        return True

    async def read_line(self, limit: int, partial_ok: bool = False):
        """One line (bytes, with its LF) or None at EOF. Bounded: over limit raises LineTooLong, or with
        partial_ok returns the first limit bytes as a piece of a longer line."""
        while True:
            newline = self.buffer.find(b"\n", 0, limit + 1)
            if newline >= 0:
                line = bytes(self.buffer[:newline + 1])
                del self.buffer[:newline + 1]
                return line
            if len(self.buffer) > limit:
                if partial_ok:
                    piece = bytes(self.buffer[:limit])
                    del self.buffer[:limit]
                    return piece
                raise LineTooLong()
            if not await self._fill_buffer():
                return None

    async def discard_rest_of_line(self) -> bool:
        """After an over-long line: drop input up to and including the next LF (memory stays bounded)."""
        while True:
            newline = self.buffer.find(b"\n")
            if newline >= 0:
                del self.buffer[:newline + 1]
                return True
            self.buffer.clear()
            if not await self._fill_buffer():
                return False

    async def read_exact_discard(self, size: int) -> bool:
        """Consume exactly size octets (a BDAT chunk) without keeping them."""
        remaining = size
        while remaining > 0:
            if not self.buffer and not await self._fill_buffer():
                return False
            taken = min(remaining, len(self.buffer))
            del self.buffer[:taken]
            remaining -= taken
        return True

    async def read_message(self):
        """Read DATA content up to the lone dot. Returns (octets, oversize) or None at EOF. Content is discarded."""
        limit = self.behaviour.max_message_size(self.options)
        octets, at_line_start = 0, True
        while True:
            line = await self.read_line(DATA_CHUNK, partial_ok=True)
            if line is None:
                return None
            if at_line_start and line in (b".\r\n", b".\n"):
                return octets, octets > limit
            octets += len(line)
            at_line_start = line.endswith(b"\n")

    async def challenge(self, text: str) -> str:
        """An AUTH 334 exchange. The answer is never logged."""
        await self.send_lines(["334 " + text])
        try:
            line = await self.read_line(MAX_AUTH_LINE)
        except LineTooLong:
            await self.discard_rest_of_line()
            raise AuthAbort("auth_bad_base64")
        if line is None:
            raise SessionClosed("client_eof")
        answer = line.decode("ascii", "replace").strip()
        if answer == "*":
            raise AuthAbort("auth_cancelled")
        return answer

    # -- TLS -----------------------------------------------------------------------------------------------------
    async def start_tls(self) -> None:
        context = self.listener.ssl_context
        timeout = self.options.tls_handshake_timeout
        if hasattr(self.writer, "start_tls"):
            await self.writer.start_tls(context, ssl_handshake_timeout=timeout)
        else:
            # Python < 3.11: StreamWriter has no start_tls; upgrade the transport under the same protocol.
            loop = asyncio.get_running_loop()
            transport = self.writer.transport
            new_transport = await loop.start_tls(transport, transport.get_protocol(), context, server_side=True,
                                                 ssl_handshake_timeout=timeout)
            self.writer._transport = new_transport  # pylint: disable=protected-access

    # -- the session -----------------------------------------------------------------------------------------------
    async def run(self) -> None:
        started = time.monotonic()
        self.log("open")
        reason = "server_close"
        try:
            await BANNER_HOOKS[self.behaviour.banner_hook](self)
            if self.behaviour.after_banner:
                await AFTER_ACTIONS[self.behaviour.after_banner](self)
            while self.close_reason is None:
                try:
                    line = await self.read_line(MAX_COMMAND_LINE)
                except LineTooLong:
                    self.log("command", verb="(line too long)")
                    if not await self.discard_rest_of_line():
                        raise SessionClosed("client_eof")
                    await self.say("line_too_long")
                    continue
                if line is None:
                    raise SessionClosed("client_eof")
                await self.dispatch(line.decode("utf-8", "replace").rstrip("\r\n"))
            reason = self.close_reason
        except SessionClosed as closed:
            reason = closed.reason
            if reason == "idle_timeout" and not self.mute:
                try:
                    await asyncio.wait_for(self.say("idle_timeout"), 5)
                except (OSError, asyncio.TimeoutError):
                    pass
        except (ConnectionError, asyncio.IncompleteReadError):
            reason = "client_reset"
        except ssl.SSLError as error:
            reason = "tls_error"
            self.log("tls", result="error", error=str(error)[:200])
        except OSError as error:
            reason = "os_error: %s" % error.strerror
        except asyncio.CancelledError:
            reason = "server_shutdown"
            raise
        finally:
            self.writer.close()
            self.log("close", reason=reason, duration_ms=round((time.monotonic() - started) * 1000, 1))

    async def dispatch(self, line: str) -> None:
        words = line.split(" ", 1)
        verb = words[0].upper()
        argument = words[1].strip() if len(words) > 1 else ""
        self.log("command", **self._loggable(verb, argument))
        if self.mute:
            return
        static = self.behaviour.replies.get(verb)
        handler_name = self.behaviour.handlers.get(verb)
        if static is not None:
            await self.say_static(static)
        elif handler_name is not None:
            await HANDLERS[handler_name](self, argument)
        elif "*" in self.behaviour.replies:
            await self.say_static(self.behaviour.replies["*"])
        else:
            await self.say("unrecognized")
        action = self.behaviour.after.get(verb)
        if action and self.close_reason is None:
            await AFTER_ACTIONS[action](self)

    def _loggable(self, verb: str, argument: str) -> dict:
        if verb not in KNOWN_VERBS:
            # An unknown "verb" may be a credential typed out of turn: log only that something came.
            return {"verb": "(unknown)"}
        fields = {"verb": verb}
        if verb in LOGGED_ARGUMENT_VERBS:
            fields["arg"] = argument[:512]
        elif verb == "AUTH":
            fields["mechanism"] = argument.split(" ", 1)[0].upper()[:32]
        return fields


class AuthAbort(Exception):
    def __init__(self, text_key: str):
        super().__init__(text_key)
        self.text_key = text_key


# ---------------------------------------------------------------------------------------------------------------
# Registries: verb handlers, banner hooks, after-actions
# ---------------------------------------------------------------------------------------------------------------

HANDLERS = {}
BANNER_HOOKS = {}
AFTER_ACTIONS = {}


def registered(registry: dict, name: str):
    def register(function):
        registry[name] = function
        return function
    return register


def _parameter_error(session: Session, verb: str, params: list):
    """Text key and values for the first unacceptable ESMTP parameter, or None."""
    keywords = session.capability_keywords()
    allowed = PARAMETERS.get(verb, {})
    for param in params:
        name, _equals, value = param.partition("=")
        spec = allowed.get(name.upper())
        if spec is None or session.greeted != "EHLO" or spec[0] not in keywords:
            return "unsupported_param", {"param": name.upper()[:32]}
        if not spec[1](value, keywords):
            return "syntax", {}
        if name.upper() == "SIZE" and int(value) > session.behaviour.max_message_size(session.options):
            return "size_exceeded", {}
    return None


@registered(HANDLERS, "ehlo")
async def handle_ehlo(session: Session, argument: str) -> None:
    if not valid_domain(argument):
        await session.say("ehlo_bad_domain")
        return
    session.reset_transaction()
    session.greeted = "EHLO"
    await session.send_lines(session.render("ehlo") + ["250 " + cap for cap in session.capabilities()])


@registered(HANDLERS, "helo")
async def handle_helo(session: Session, argument: str) -> None:
    if not valid_domain(argument):
        await session.say("ehlo_bad_domain")
        return
    session.reset_transaction()
    session.greeted = "HELO"
    await session.say("helo")


@registered(HANDLERS, "mail")
async def handle_mail(session: Session, argument: str) -> None:
    if not session.greeted:
        await session.say("need_hello")
        return
    if session.behaviour.auth_required and not session.authenticated:
        await session.say("auth_required")
        return
    if session.mail_from is not None:
        await session.say("mail_nested")
        return
    match = re.match(r"^FROM:(.*)$", argument, re.IGNORECASE)
    parsed = parse_path(match.group(1)) if match else None
    if parsed is None:
        await session.say("syntax")
        return
    address, params = parsed
    if address and not valid_mailbox(address):
        await session.say("mail_bad_address")
        return
    error = _parameter_error(session, "MAIL", params)
    if error:
        await session.say(error[0], **error[1])
        return
    session.mail_from = address
    session.recipients = []
    await session.say("mail_ok")


@registered(HANDLERS, "rcpt")
async def handle_rcpt(session: Session, argument: str) -> None:
    if not session.greeted:
        await session.say("need_hello")
        return
    if session.mail_from is None:
        await session.say("need_mail")
        return
    match = re.match(r"^TO:(.*)$", argument, re.IGNORECASE)
    parsed = parse_path(match.group(1)) if match else None
    if parsed is None:
        await session.say("syntax")
        return
    address, params = parsed
    if address.lower() == "postmaster":
        address = "postmaster@" + session.listener.accepted_domains[0]
    if not valid_mailbox(address):
        await session.say("rcpt_bad_address")
        return
    error = _parameter_error(session, "RCPT", params)
    if error:
        await session.say(error[0], **error[1])
        return
    local, domain = address.rsplit("@", 1)
    if domain.lower().rstrip(".") not in session.listener.accepted_domains:
        await session.say("rcpt_relay")
    elif local.lower() not in session.listener.recipients:
        await session.say("rcpt_unknown")
    else:
        session.recipients.append(address)
        await session.say("rcpt_ok")


def _transaction_error(session: Session):
    if not session.greeted:
        return "need_hello"
    if session.mail_from is None:
        return "need_mail"
    if not session.recipients:
        return "need_rcpt"
    return None


async def _finish_message(session: Session, octets: int, oversize: bool, how: str) -> None:
    session.log("message", octets=octets, how=how, recipients=len(session.recipients), accepted=not oversize)
    session.reset_transaction()
    await session.say("size_exceeded" if oversize else "queued")


@registered(HANDLERS, "data")
async def handle_data(session: Session, argument: str) -> None:
    error = _transaction_error(session) or ("syntax" if argument else None)
    if session.bdat_size:
        error = "bad_sequence"
    if error:
        await session.say(error)
        return
    await session.say("data_go")
    result = await session.read_message()
    if result is None:
        raise SessionClosed("client_eof_in_data")
    await _finish_message(session, result[0], result[1], "DATA")


@registered(HANDLERS, "bdat")
async def handle_bdat(session: Session, argument: str) -> None:
    match = re.match(r"^(\d{1,12})(?: +(LAST))?$", argument, re.IGNORECASE)
    if "CHUNKING" not in session.capability_keywords():
        await session.say("unrecognized")
        return
    if not match:
        await session.say("syntax")
        return
    size, last = int(match.group(1)), bool(match.group(2))
    # RFC 3030: the chunk follows the command whatever the reply, so read it first.
    if not await session.read_exact_discard(size):
        raise SessionClosed("client_eof_in_bdat")
    error = _transaction_error(session)
    if error:
        await session.say(error)
        return
    session.bdat_size += size
    if last:
        total = session.bdat_size
        await _finish_message(session, total, total > session.behaviour.max_message_size(session.options), "BDAT")
    else:
        await session.say("bdat_ok", size=size)


@registered(HANDLERS, "rset")
async def handle_rset(session: Session, argument: str) -> None:
    session.reset_transaction()
    await session.say("rset")


@registered(HANDLERS, "noop")
async def handle_noop(session: Session, argument: str) -> None:
    await session.say("noop")


@registered(HANDLERS, "vrfy")
async def handle_vrfy(session: Session, argument: str) -> None:
    await session.say("vrfy")


@registered(HANDLERS, "quit")
async def handle_quit(session: Session, argument: str) -> None:
    await session.say("quit")
    session.close_reason = "client_quit"


@registered(HANDLERS, "unrecognized")
async def handle_unrecognized(session: Session, argument: str) -> None:
    await session.say("unrecognized")


@registered(HANDLERS, "starttls")
async def handle_starttls(session: Session, argument: str) -> None:
    if "STARTTLS" not in session.capability_keywords():
        await session.say("tls_already" if session.tls_active else "unrecognized")
        return
    if argument:
        await session.say("syntax")
        return
    if session.listener.ssl_context is None:
        await session.say("tls_unavailable")
        return
    await session.say("starttls_go")
    if session.buffer:
        # Plain text pipelined after STARTTLS must not be read as if it came over TLS.
        session.log("tls", result="discarded_plaintext", octets=len(session.buffer))
        session.buffer.clear()
    try:
        await session.start_tls()
    except (ssl.SSLError, ConnectionError, asyncio.TimeoutError) as error:
        session.log("tls", result="handshake_failed", error=(str(error) or type(error).__name__)[:200])
        raise SessionClosed("tls_handshake_failed")
    ssl_object = session.writer.get_extra_info("ssl_object")
    session.log("tls", result="established", version=ssl_object.version() if ssl_object else None,
                cipher=(ssl_object.cipher() or [None])[0] if ssl_object else None)
    session.tls_active = True
    session.greeted = None
    session.authenticated = None
    session.reset_transaction()


def _decode_base64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@registered(HANDLERS, "auth")
async def handle_auth(session: Session, argument: str) -> None:
    words = argument.split()
    if not session.greeted:
        await session.say("need_hello")
        return
    if session.authenticated:
        await session.say("auth_already")
        return
    if session.mail_from is not None or not words:
        await session.say("bad_sequence" if words else "syntax")
        return
    mechanism = words[0].upper()
    initial = words[1] if len(words) > 1 else None
    if mechanism not in session.auth_mechanisms():
        await session.say("auth_mech_unsupported")
        return
    try:
        if mechanism == "PLAIN":
            response = initial if initial is not None else await session.challenge("")
            fields = _decode_base64(response).split(b"\0")
            if len(fields) != 3:
                raise AuthAbort("auth_failed")
            username, password = fields[1].decode("utf-8", "replace"), fields[2].decode("utf-8", "replace")
        elif mechanism == "LOGIN":
            user_b64 = initial if initial is not None else await session.challenge("VXNlcm5hbWU6")
            username = _decode_base64(user_b64).decode("utf-8", "replace")
            password = _decode_base64(await session.challenge("UGFzc3dvcmQ6")).decode("utf-8", "replace")
        else:
            # NTLM/GSSAPI are offered (as Exchange does) but the lab cannot complete them.
            if initial is None:
                await session.challenge("NTLM supported" if mechanism == "NTLM" else "")
            raise AuthAbort("auth_failed")
    except (binascii.Error, ValueError):
        await session.say("auth_bad_base64")
        return
    except AuthAbort as abort:
        session.log("auth", mechanism=mechanism, result=abort.text_key)
        await session.say(abort.text_key)
        return
    good = username == session.options.auth_username and hmac.compare_digest(
        password.encode("utf-8"), session.options.auth_password.encode("utf-8"))
    session.log("auth", mechanism=mechanism, username=username[:128], result="success" if good else "failure")
    if good:
        session.authenticated = username
        await session.say("auth_ok")
    else:
        await session.say("auth_failed")


# -- hostile verb handlers ----------------------------------------------------------------------------------------

@registered(HANDLERS, "huge_ehlo")
async def handle_huge_ehlo(session: Session, argument: str) -> None:
    """A multi-line EHLO reply of --huge-bytes, streamed (the client's reading pace bounds our memory)."""
    session.greeted = "EHLO"
    eol = session.behaviour.eol
    await session.write(format_reply_lines(session.render("ehlo"), eol, final=False))
    filler = "X-PADDING-" + "a" * 1000
    line = ("250-" + filler + eol).encode("ascii")
    batch = line * 64
    sent = 0
    while sent < session.options.huge_bytes:
        await session.write(batch)
        sent += len(batch)
    await session.write(format_reply_lines(["250 " + cap for cap in session.capabilities()], eol))


@registered(HANDLERS, "many_lines_ehlo")
async def handle_many_lines_ehlo(session: Session, argument: str) -> None:
    session.greeted = "EHLO"
    caps = ["250 " + cap for cap in session.capabilities()]
    padding = ["250 X-LINE-%04d" % number for number in range(session.options.many_lines - 1 - len(caps))]
    await session.send_lines(session.render("ehlo") + padding + caps)


@registered(HANDLERS, "code_change_ehlo")
async def handle_code_change_ehlo(session: Session, argument: str) -> None:
    eol = session.behaviour.eol
    first = session.render("ehlo")[0]
    await session.write(("250-" + first[4:] + eol + "251 SIZE 37748736" + eol).encode("utf-8"))


@registered(HANDLERS, "reset_mid_ehlo")
async def handle_reset_mid_ehlo(session: Session, argument: str) -> None:
    reply = format_reply_lines(session.render("ehlo") + ["250 " + cap for cap in session.capabilities()],
                               session.behaviour.eol)
    await session.write(reply[:len(reply) // 2])
    await _wait_flushed(session)
    # Give the client time to read the half reply: a Linux client drops unread data when the RST arrives.
    await asyncio.sleep(0.2)
    await AFTER_ACTIONS["reset"](session)


@registered(HANDLERS, "starttls_garbage")
async def handle_starttls_garbage(session: Session, argument: str) -> None:
    await session.say("starttls_go")
    session.log("tls", result="garbage_sent")
    await session.write(b"This is not a TLS ServerHello, just plain text.\r\n" + bytes(range(256)) * 4)
    await _wait_flushed(session)
    await asyncio.sleep(0.2)
    session.close_reason = "server_garbage"


@registered(HANDLERS, "data_no_answer")
async def handle_data_no_answer(session: Session, argument: str) -> None:
    error = _transaction_error(session)
    if error:
        await session.say(error)
        return
    await session.say("data_go")
    result = await session.read_message()
    if result is None:
        raise SessionClosed("client_eof_in_data")
    session.log("message", octets=result[0], how="DATA", recipients=len(session.recipients), accepted=None)
    # Never answer the final dot: keep reading (and logging) until the client gives up.
    session.mute = True


async def _wait_flushed(session: Session, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    transport = session.writer.transport
    while transport.get_write_buffer_size() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


# -- banner hooks ---------------------------------------------------------------------------------------------------

@registered(BANNER_HOOKS, "standard")
async def banner_standard(session: Session) -> None:
    banner = session.behaviour.banner
    lines = banner if isinstance(banner, list) else [banner]
    await session.send_lines([session.fill(line) for line in lines],
                             delay=session.behaviour.delay(session.behaviour.banner_delay, session.options))


@registered(BANNER_HOOKS, "silent")
async def banner_silent(session: Session) -> None:
    session.mute = True


@registered(BANNER_HOOKS, "drip")
async def banner_drip(session: Session) -> None:
    data = (session.fill(session.behaviour.banner) + session.behaviour.eol).encode("utf-8")
    for position in range(len(data)):
        await session.write(data[position:position + 1])
        await asyncio.sleep(session.options.drip_interval)


@registered(BANNER_HOOKS, "endless")
async def banner_endless(session: Session) -> None:
    chunk = b"x" * 65536
    await session.write(b"220 ")
    sent = 4
    while sent < session.options.endless_bytes:
        piece = chunk[:session.options.endless_bytes - sent]
        await session.write(piece)
        sent += len(piece)
    await _wait_flushed(session)
    raise SessionClosed("endless_bound_reached")


@registered(BANNER_HOOKS, "raw")
async def banner_raw(session: Session) -> None:
    await session.write(session.behaviour.banner_raw.encode("utf-8"))


# -- after-actions ------------------------------------------------------------------------------------------------

@registered(AFTER_ACTIONS, "close")
async def after_close(session: Session) -> None:
    await _wait_flushed(session)
    raise SessionClosed("server_close")


@registered(AFTER_ACTIONS, "reset")
async def after_reset(session: Session) -> None:
    sock = session.writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    session.writer.transport.abort()
    raise SessionClosed("reset_sent")


# ---------------------------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------------------------

def require_loopback(host: str) -> str:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("refusing to bind %s: the lab listens on loopback only" % host)
    return host


class Listener:
    """One listening socket: a behaviour, an address, and the identity it presents."""

    def __init__(self, behaviour, host: str, port: int, hostname: str = None, accepted_domains=None,
                 recipients=None):
        self.behaviour = behaviour if isinstance(behaviour, Behaviour) else behaviour_by_name(behaviour)
        self.host = require_loopback(host)
        self.port = int(port)
        self.hostname = hostname or self.behaviour.hostname
        domains = accepted_domains or DEFAULT_ACCEPTED_DOMAINS
        self.accepted_domains = [domain.lower().rstrip(".") for domain in domains]
        self.recipients = {local.lower() for local in (recipients or DEFAULT_RECIPIENTS)} | {"postmaster"}
        self.ssl_context = None
        self.cert_file = None
        self.ca_file = None

    def describe(self) -> dict:
        entry = {"host": self.host, "port": self.port, "description": self.behaviour.description,
                 "index": self.behaviour.index, "hostname": self.hostname}
        if self.ca_file:
            entry["ca_file"] = self.ca_file
            entry["tls_certificate"] = self.behaviour.tls
        return entry


def prepare_tls(listeners: list, tls_dir: str) -> None:
    """Create (or reuse) the lab CA and each listener's certificate; load a server context per listener."""
    wanted = [listener for listener in listeners if listener.behaviour.tls]
    if not wanted:
        return
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    import labtls  # pylint: disable=import-outside-toplevel

    ca = labtls.LabCA(tls_dir)
    for listener in wanted:
        issued = ca.issue(listener.hostname, listener.behaviour.tls)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(issued["cert"], issued["key"])
        listener.ssl_context = context
        listener.cert_file = issued["cert"]
        listener.ca_file = ca.cert_path


class FaultServer:
    """Serves a set of listeners in the running event loop."""

    def __init__(self, listeners: list, options: Options = None, log: EventLog = None):
        self.listeners = listeners
        self.options = options or Options()
        self.log = log or EventLog(None)
        self.servers = []
        self.sessions = {}  # task -> StreamWriter of every live connection
        self.connection_count = 0

    async def start(self) -> None:
        try:
            for listener in self.listeners:
                server = await asyncio.start_server(self._connection_factory(listener), listener.host,
                                                    listener.port, reuse_address=True, limit=READ_SIZE)
                self.servers.append(server)
                if listener.port == 0:
                    listener.port = server.sockets[0].getsockname()[1]
        except BaseException:
            await self.close()
            raise

    def _connection_factory(self, listener: Listener):
        async def on_connection(reader, writer):
            self.connection_count += 1
            if len(self.sessions) >= self.options.max_connections:
                self.log.write("refused", behaviour=listener.behaviour.name, reason="max_connections")
                writer.transport.abort()
                return
            task = asyncio.current_task()
            self.sessions[task] = writer
            try:
                await Session(self, listener, reader, writer, self.connection_count).run()
            except asyncio.CancelledError:
                pass
            except Exception as error:  # pylint: disable=broad-except
                # A bug in one session must not take the whole lab down; record it and drop that client.
                self.log.write("error", behaviour=listener.behaviour.name, error=repr(error)[:300])
                writer.transport.abort()
            finally:
                self.sessions.pop(task, None)
        return on_connection

    def describe(self) -> dict:
        return {listener.behaviour.name: listener.describe() for listener in self.listeners}

    async def close(self) -> None:
        """Stop listening, end every session, and drop connections that linger (a TLS shutdown waiting for a
        peer that never answers would otherwise hold the process for ssl_shutdown_timeout)."""
        for server in self.servers:
            server.close()
        for task in list(self.sessions):
            task.cancel()
        if self.sessions:
            await asyncio.wait(list(self.sessions), timeout=2)
        for writer in list(self.sessions.values()):
            writer.transport.abort()
        for server in self.servers:
            abort_clients = getattr(server, "abort_clients", None)  # Python 3.13+
            if abort_clients is not None:
                abort_clients()
        if self.servers:
            await asyncio.wait([asyncio.ensure_future(server.wait_closed()) for server in self.servers], timeout=3)
        self.servers = []


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------

def write_atomic(path: str, text: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def listeners_from_args(args) -> list:
    table = behaviour_table()
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    known = {behaviour.name for behaviour in table}
    if only:
        unknown = [name for name in only if name not in known]
        if unknown:
            raise SystemExit("faultd: unknown behaviour(s): %s" % ", ".join(unknown))
    listeners = []
    for behaviour in table:
        if only and behaviour.name not in only:
            continue
        if args.port_base is not None:
            host, port = args.host, args.port_base + behaviour.index
        else:
            host, port = str(ipaddress.ip_address(args.bind_base) + behaviour.index), args.port
        listeners.append(Listener(behaviour, host, port))
    return listeners


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Scripted SMTP fault server (loopback only).")
    parser.add_argument("--bind-base", default="127.0.2.1", help="address of behaviour 0; behaviour N gets base+N")
    parser.add_argument("--port", type=int, default=25, help="port used with --bind-base (default 25)")
    parser.add_argument("--host", default="127.0.0.1", help="address used with --port-base")
    parser.add_argument("--port-base", type=int, default=None,
                        help="serve every behaviour on --host at port P+N instead of one address each")
    parser.add_argument("--only", default=None, help="comma-separated behaviour names to serve")
    parser.add_argument("--map-file", default=None, help="JSON map written once every socket listens")
    parser.add_argument("--log-file", default=None, help="JSONL event log")
    parser.add_argument("--pid-file", default=None)
    parser.add_argument("--tls-dir", default=None, help="lab CA and certificates (created when missing)")
    parser.add_argument("--list-json", action="store_true", help="print the behaviour table and exit")
    parser.add_argument("--slow-banner-delay", type=float, default=2.0)
    parser.add_argument("--tarpit-delay", type=float, default=0.3)
    parser.add_argument("--drip-interval", type=float, default=1.0)
    parser.add_argument("--endless-bytes", type=int, default=20 * 1024 * 1024)
    parser.add_argument("--huge-bytes", type=int, default=10 * 1024 * 1024)
    parser.add_argument("--idle-timeout", type=float, default=300.0)
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--auth-password", default=None, help="password of %s (default: random)" % AUTH_USERNAME)
    parser.add_argument("--auth-password-file", default=None,
                        help="where the password is written (0600); default: next to --map-file")
    return parser


def options_from_args(args) -> Options:
    return Options(slow_banner_delay=args.slow_banner_delay, tarpit_delay=args.tarpit_delay,
                   drip_interval=args.drip_interval, endless_bytes=args.endless_bytes, huge_bytes=args.huge_bytes,
                   idle_timeout=args.idle_timeout, max_connections=args.max_connections,
                   auth_password=args.auth_password)


async def serve(args) -> int:
    listeners = listeners_from_args(args)
    options = options_from_args(args)
    anchor = args.map_file or args.pid_file
    scratch_tls_dir = None
    if args.tls_dir:
        tls_dir = args.tls_dir
    elif anchor:
        tls_dir = os.path.join(os.path.dirname(os.path.abspath(anchor)), "faultd-tls")
    else:
        tls_dir = scratch_tls_dir = tempfile.mkdtemp(prefix="faultd-tls-")
    prepare_tls(listeners, tls_dir)
    password_file = args.auth_password_file
    if password_file is None and args.map_file:
        password_file = os.path.splitext(os.path.abspath(args.map_file))[0] + ".auth-password"
    if password_file:
        write_atomic(password_file, options.auth_password + "\n", mode=0o600)
        os.chmod(password_file, 0o600)
    log = EventLog(args.log_file)
    server = FaultServer(listeners, options, log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
        table = server.describe()
        for name, entry in table.items():
            if name == "auth_required":
                entry["username"] = options.auth_username
                entry["password_file"] = os.path.abspath(password_file) if password_file else None
        if args.map_file:
            write_atomic(args.map_file, json.dumps(table, indent=2) + "\n")
        log.write("ready", listeners=len(listeners))
        sys.stderr.write("faultd: %d behaviours listening (pid %d)\n" % (len(listeners), os.getpid()))
        sys.stderr.flush()
        await stop.wait()
    finally:
        await server.close()
        log.write("stopped")
        log.close()
        if scratch_tls_dir:
            shutil.rmtree(scratch_tls_dir, ignore_errors=True)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_json:
        rows = []
        for listener in listeners_from_args(args):
            row = listener.behaviour.describe()
            row.update(host=listener.host, port=listener.port)
            rows.append(row)
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.map_file and os.path.exists(args.map_file):
        os.unlink(args.map_file)  # a stale map would look like readiness
    if args.pid_file:
        write_atomic(args.pid_file, "%d\n" % os.getpid())
    try:
        return asyncio.run(serve(args))
    except OSError as error:
        sys.stderr.write("faultd: %s\n" % error)
        return 1
    finally:
        if args.pid_file and os.path.exists(args.pid_file):
            os.unlink(args.pid_file)


if __name__ == "__main__":
    sys.exit(main())
