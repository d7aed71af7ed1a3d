"""Every faultd behaviour, driven over real sockets on 127.0.0.1 high ports."""

from __future__ import annotations

import base64
import json
import re
import socket
import ssl
import subprocess
import sys
import time

import pytest

from conftest import FAULTD, start_faultd, stop_faultd
from smtp_client import Client

import faultd

GUIDE_CAPABILITIES = [
    "250-SIZE 37748736", "250-PIPELINING", "250-DSN", "250-ENHANCEDSTATUSCODES", "250-STARTTLS",
    "250-X-ANONYMOUSTLS", "250-AUTH NTLM", "250-X-EXPS GSSAPI NTLM", "250-8BITMIME", "250-BINARYMIME",
    "250-CHUNKING", "250 XRDST",
]
RFC2822_DATE = r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}"
ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d+\.\d+")


def connect(lab, name, timeout=5.0):
    host, port = lab.address(name)
    return Client(host, port, timeout=timeout)


def wait_for_event(lab, behaviour, predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [event for event in lab.events(behaviour) if predicate(event)]
        if found:
            return found
        time.sleep(0.05)
    return []


def tls_context(lab, verify=True):
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=lab.table["exchange"]["ca_file"])


# --- the table itself ---------------------------------------------------------------------------------------------

def test_table_order_is_stable():
    names = [spec["name"] for spec in faultd.BEHAVIOURS]
    assert names[:15] == ["exchange", "mail_530", "ehlo_501", "mail_550_517", "unrecognized_500", "banner_421",
                          "banner_554", "slow_banner", "drop_after_ehlo", "ehlo_rejected_helo_ok", "no_enhanced",
                          "multiline", "auth_required", "greylist", "backpressure"]
    assert len(names) == len(set(names))
    assert all(behaviour.description for behaviour in faultd.behaviour_table())


def test_list_json_addresses():
    output = subprocess.run([sys.executable, FAULTD, "--list-json"], check=True, capture_output=True).stdout
    rows = json.loads(output)
    assert rows[0]["name"] == "exchange" and rows[0]["host"] == "127.0.2.1" and rows[0]["port"] == 25
    assert rows[5]["name"] == "banner_421" and rows[5]["host"] == "127.0.2.6"
    output = subprocess.run([sys.executable, FAULTD, "--list-json", "--port-base", "40000", "--only", "greylist"],
                            check=True, capture_output=True).stdout
    assert json.loads(output) == [dict(faultd.behaviour_by_name("greylist").describe(), host="127.0.0.1",
                                       port=40000 + 13)]


def test_refuses_non_loopback():
    with pytest.raises(ValueError):
        faultd.Listener("exchange", "192.0.2.1", 25)


def test_map_has_every_behaviour(lab):
    assert list(lab.table) == [spec["name"] for spec in faultd.BEHAVIOURS]
    assert lab.table["auth_required"]["username"] == "probe@exchange.test"
    with open(lab.table["auth_required"]["password_file"], encoding="utf-8") as handle:
        assert handle.read().strip() == "lab-secret-pw"


# --- exchange: the guide's session ------------------------------------------------------------------------------

def test_exchange_guide_session(lab):
    client = connect(lab, "exchange")
    banner = client.reply()
    assert re.match(r"^220 mail1\.exchange\.test Microsoft ESMTP MAIL Service ready at %s$" % RFC2822_DATE,
                    banner[0]), banner
    assert client.cmd("EHLO contoso.test") == ["250-mail1.exchange.test Hello [127.0.0.1]"] + GUIDE_CAPABILITIES
    assert client.cmd("MAIL FROM: <chris@contoso.test>") == ["250 2.1.0 Sender OK"]
    assert client.cmd("RCPT TO: <kate@exchange.test> NOTIFY=success,failure") == ["250 2.1.5 Recipient OK"]
    assert client.cmd("DATA") == ["354 Start mail input; end with <CRLF>.<CRLF>"]
    client.send("Subject: test\r\n\r\nThis is a test message.\r\n.")
    queued = client.reply()
    assert re.match(r"^250 2\.6\.0 <[0-9a-f-]{36}@mail1\.exchange\.test> \[InternalId=\d+, "
                    r"Hostname=mail1\.exchange\.test\] Queued mail for delivery$", queued[0]), queued
    assert client.cmd("QUIT") == ["221 2.0.0 Service closing transmission channel"]
    assert client.at_eof()
    closes = wait_for_event(lab, "exchange", lambda event: event["event"] == "close" and event["conn"] > 0)
    assert closes and closes[-1]["reason"] == "client_quit"


def test_exchange_recipients_and_errors(lab):
    client = connect(lab, "exchange")
    client.reply()
    assert client.cmd("MAIL FROM:<a@b.test>") == ["503 5.5.2 Send hello first"]
    assert client.cmd("EHLO bad_domain!") == ["501 5.5.4 Invalid domain name"]
    assert client.cmd("EHLO [127.0.0.1]")[-1] == "250 XRDST"
    assert client.cmd("RCPT TO:<kate@exchange.test>") == ["503 5.5.2 Need mail command"]
    assert client.cmd("MAIL FROM:<not an address>") == ["550 5.1.7 Invalid address"]
    assert client.cmd("MAIL FROM:<>") == ["250 2.1.0 Sender OK"]
    assert client.cmd("MAIL FROM:<a@b.test>") == ["503 5.5.2 Sender already specified"]
    assert client.cmd("DATA") == ["503 5.5.2 Need rcpt command"]
    assert client.cmd("RCPT TO:<KATE@Exchange.Test>") == ["250 2.1.5 Recipient OK"]
    assert client.cmd("RCPT TO:<postmaster>") == ["250 2.1.5 Recipient OK"]
    assert client.cmd("RCPT TO:<nobody@exchange.test>") == ["550 5.1.1 User unknown"]
    assert client.cmd("RCPT TO:<kate@fabrikam.test>") == [
        "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain"]
    assert client.cmd("RCPT TO:<kate@exchange.test> ORCPT=rfc822;kate@exchange.test") == ["250 2.1.5 Recipient OK"]
    assert client.cmd("RCPT TO:<kate@exchange.test> NOTIFY=NEVER,DELAY") == ["501 5.5.4 Invalid arguments"]
    assert client.cmd("RCPT TO:<kate@exchange.test> FOO=1") == ["555 5.5.4 Unsupported option: FOO"]
    assert client.cmd("RSET") == ["250 2.0.0 Resetting"]
    assert client.cmd("MAIL FROM:<a@b.test> RET=HDRS ENVID=x123 BODY=BINARYMIME SIZE=10") == ["250 2.1.0 Sender OK"]
    assert client.cmd("RSET") == ["250 2.0.0 Resetting"]
    assert client.cmd("MAIL FROM:<a@b.test> SIZE=99999999") == [
        "552 5.3.4 Message size exceeds fixed maximum message size"]
    assert client.cmd("XYZZY") == ["500 5.3.3 Unrecognized command"]
    assert client.cmd("NOOP") == ["250 2.0.0 OK"]
    assert client.cmd("VRFY kate") == ["252 2.1.5 Cannot VRFY user"]
    assert client.cmd("A" * 5000) == ["500 5.5.2 Line too long"]
    assert client.cmd("HELO contoso.test") == ["250 mail1.exchange.test Hello [127.0.0.1]"]
    assert client.cmd("MAIL FROM:<a@b.test> SIZE=10") == ["555 5.5.4 Unsupported option: SIZE"]
    assert client.cmd("QUIT")[0].startswith("221 ")


def test_exchange_pipelining_replies_in_order(lab):
    client = connect(lab, "exchange")
    client.reply()
    client.cmd("EHLO contoso.test")
    client.sock.sendall(b"MAIL FROM:<chris@contoso.test>\r\nRCPT TO:<kate@exchange.test>\r\n"
                        b"RCPT TO:<ghost@exchange.test>\r\nRCPT TO:<x@elsewhere.test>\r\nDATA\r\n")
    assert [client.reply()[0][:9] for _reply in range(5)] == [
        "250 2.1.0", "250 2.1.5", "550 5.1.1", "550 5.7.5", "354 Start"]
    client.sock.sendall(b"Subject: x\r\n\r\n..leading dot\r\n.\r\nRSET\r\nQUIT\r\n")
    assert [client.reply()[0][:9] for _reply in range(3)] == ["250 2.6.0", "250 2.0.0", "221 2.0.0"]


def test_exchange_bdat(lab):
    client = connect(lab, "exchange")
    client.reply()
    client.cmd("EHLO contoso.test")
    client.cmd("MAIL FROM:<chris@contoso.test> BODY=BINARYMIME")
    client.cmd("RCPT TO:<kate@exchange.test>")
    client.sock.sendall(b"BDAT 5\r\nhello")
    assert client.reply() == ["250 2.0.0 5 octets received"]
    client.sock.sendall(b"BDAT 3 LAST\r\nabc")
    assert client.reply()[0].startswith("250 2.6.0 <")
    assert client.cmd("DATA") == ["503 5.5.2 Need mail command"]
    message = wait_for_event(lab, "exchange", lambda event: event["event"] == "message" and event["how"] == "BDAT")
    assert message[-1]["octets"] == 8


def test_exchange_starttls(lab):
    client = connect(lab, "exchange")
    client.reply()
    client.cmd("EHLO contoso.test")
    assert client.cmd("STARTTLS") == ["220 2.0.0 SMTP server ready"]
    client.starttls(tls_context(lab), "mail1.exchange.test")
    assert client.sock.getpeercert()["subjectAltName"] == (("DNS", "mail1.exchange.test"),)
    assert client.cmd("MAIL FROM:<a@b.test>") == ["503 5.5.2 Send hello first"]
    ehlo = client.cmd("EHLO contoso.test")
    assert "250-STARTTLS" not in ehlo and "250-X-ANONYMOUSTLS" not in ehlo and ehlo[-1] == "250 XRDST"
    assert client.cmd("STARTTLS") == ["503 5.5.1 TLS already active"]
    assert client.cmd("MAIL FROM:<a@b.test>") == ["250 2.1.0 Sender OK"]
    assert client.cmd("QUIT")[0] == "221 2.0.0 Service closing transmission channel"
    tls = wait_for_event(lab, "exchange", lambda event: event["event"] == "tls" and event["result"] == "established")
    assert tls[-1]["version"].startswith("TLS")


def test_exchange_auth_ntlm_is_offered_but_fails(lab):
    client = connect(lab, "exchange")
    client.reply()
    client.cmd("EHLO contoso.test")
    assert client.cmd("AUTH PLAIN AGFiYwBkZWY=") == ["504 5.7.4 Unrecognized authentication type"]
    assert client.cmd("AUTH NTLM") == ["334 NTLM supported"]
    assert client.cmd("TlRMTVNTUAABAAAA") == ["535 5.7.3 Authentication unsuccessful"]


# --- simple scripted failures --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, verb, expected", [
    ("mail_530", "MAIL FROM:<chris@contoso.test>", "530 5.7.1 Client was not authenticated"),
    ("mail_550_517", "MAIL FROM:<chris@contoso.test>", "550 5.1.7 Invalid address"),
    ("backpressure", "MAIL FROM:<chris@contoso.test>", "452 4.3.1 Insufficient system resources"),
])
def test_mail_failures(lab, name, verb, expected):
    client = connect(lab, name)
    assert client.reply()[0].startswith("220 ")
    assert client.cmd("EHLO contoso.test")[-1] == "250 XRDST"
    assert client.cmd(verb) == [expected]
    assert client.cmd("QUIT")[0].startswith("221 2.0.0")


def test_greylist(lab):
    client = connect(lab, "greylist")
    client.reply()
    client.cmd("EHLO contoso.test")
    assert client.cmd("MAIL FROM:<chris@contoso.test>") == ["250 2.1.0 Sender OK"]
    assert client.cmd("RCPT TO:<kate@exchange.test>") == ["451 4.7.1 Greylisted, try again later"]
    assert client.cmd("DATA") == ["503 5.5.2 Need rcpt command"]


def test_ehlo_501(lab):
    client = connect(lab, "ehlo_501")
    client.reply()
    assert client.cmd("EHLO contoso.test") == ["501 5.5.4 Invalid domain name"]
    assert client.cmd("HELO contoso.test") == ["501 5.5.4 Invalid domain name"]
    assert client.cmd("MAIL FROM:<a@b.test>") == ["503 5.5.2 Send hello first"]


def test_unrecognized_500(lab):
    client = connect(lab, "unrecognized_500")
    assert client.reply()[0].startswith("220 ")
    for command in ("EHLO contoso.test", "HELO contoso.test", "MAIL FROM:<a@b.test>", "QUIT"):
        assert client.cmd(command) == ["500 5.3.3 Unrecognized command"]


def test_banner_421_then_close(lab):
    client = connect(lab, "banner_421")
    assert client.reply() == ["421 4.3.2 Service not available, closing transmission channel"]
    assert client.at_eof()


def test_banner_554_waits_for_quit(lab):
    client = connect(lab, "banner_554")
    assert client.reply() == ["554 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied"]
    assert client.cmd("EHLO contoso.test") == ["503 5.5.1 Bad sequence of commands"]
    assert client.cmd("QUIT") == ["221 2.0.0 Service closing transmission channel"]
    assert client.at_eof()


def test_slow_banner(lab):
    client = connect(lab, "slow_banner")
    lines, elapsed = client.timed_reply()
    assert lines[0].startswith("220 slow-banner.faultd.test Microsoft ESMTP")
    assert 0.9 <= elapsed < 3
    started = time.monotonic()
    assert client.cmd("EHLO contoso.test")[-1] == "250 XRDST"
    assert time.monotonic() - started < 0.5


def test_drop_after_ehlo(lab):
    client = connect(lab, "drop_after_ehlo")
    client.reply()
    assert client.cmd("EHLO contoso.test")[-1] == "250 XRDST"
    assert client.at_eof()


def test_ehlo_rejected_helo_ok(lab):
    client = connect(lab, "ehlo_rejected_helo_ok")
    assert client.reply() == ["220 ehlo-rejected-helo-ok.faultd.test ESMTP Service ready"]
    assert client.cmd("EHLO contoso.test") == ['500 5.5.1 Command unrecognized: "EHLO"']
    assert client.cmd("HELO contoso.test") == ["250 ehlo-rejected-helo-ok.faultd.test"]
    assert client.cmd("MAIL FROM:<chris@contoso.test> SIZE=100") == ["555 Unsupported option: SIZE"]
    assert client.cmd("MAIL FROM:<chris@contoso.test>") == ["250 Sender OK"]
    assert client.cmd("RCPT TO:<kate@exchange.test>") == ["250 Recipient OK"]
    assert client.cmd("DATA") == ["354 Start mail input; end with <CRLF>.<CRLF>"]
    client.send("Subject: x\r\n\r\nbody\r\n.")
    assert re.match(r"^250 OK queued as [0-9A-F]{10}$", client.reply()[0])
    assert client.cmd("QUIT") == ["221 ehlo-rejected-helo-ok.faultd.test closing connection"]


def test_no_enhanced(lab):
    client = connect(lab, "no_enhanced")
    replies = [client.reply()]
    replies.append(client.cmd("EHLO contoso.test"))
    assert not any("ENHANCEDSTATUSCODES" in line for line in replies[-1])
    for command in ("MAIL FROM:<chris@contoso.test>", "RCPT TO:<kate@exchange.test>", "RCPT TO:<no@exchange.test>",
                    "RCPT TO:<kate@other.test>", "FOO", "DATA"):
        replies.append(client.cmd(command))
    client.send("Subject: x\r\n\r\nbody\r\n.")
    replies.append(client.reply())
    replies.append(client.cmd("QUIT"))
    codes = [reply[-1][:3] for reply in replies]
    assert codes == ["220", "250", "250", "250", "550", "550", "500", "354", "250", "221"]
    assert not [line for reply in replies for line in reply if ENHANCED.match(line)]


def test_multiline(lab):
    client = connect(lab, "multiline")
    banner = client.reply()
    assert len(banner) == 3 and banner[0].startswith("220-multiline.faultd.test") and banner[2].startswith("220 ")
    client.cmd("EHLO contoso.test")
    assert client.cmd("MAIL FROM:<chris@contoso.test>") == [
        "250-2.1.0 Sender policy checks passed", "250-2.1.0 Sender address accepted", "250 2.1.0 Sender OK"]
    assert client.cmd("RCPT TO:<kate@exchange.test>")[-1] == "250 2.1.5 Recipient OK"
    assert client.cmd("RCPT TO:<nobody@exchange.test>") == [
        "550-5.1.1 Recipient lookup failed", "550 5.1.1 User unknown"]
    assert len(client.cmd("DATA")) == 2
    client.send("Subject: x\r\n\r\nbody\r\n.")
    queued = client.reply()
    assert queued[0] == "250-2.6.0 Message accepted" and queued[1].endswith("Queued mail for delivery")
    assert client.cmd("QUIT") == ["221-2.0.0 Goodbye", "221 2.0.0 Service closing transmission channel"]


def test_auth_required(lab):
    client = connect(lab, "auth_required")
    client.reply()
    ehlo = client.cmd("EHLO contoso.test")
    assert "250-AUTH PLAIN LOGIN" in ehlo
    assert client.cmd("MAIL FROM:<probe@exchange.test>") == ["530 5.7.0 Authentication required"]
    bad = base64.b64encode(b"\0probe@exchange.test\0wrong-password").decode()
    assert client.cmd("AUTH PLAIN " + bad) == ["535 5.7.3 Authentication unsuccessful"]
    assert client.cmd("AUTH LOGIN") == ["334 VXNlcm5hbWU6"]
    assert client.cmd(base64.b64encode(b"probe@exchange.test").decode()) == ["334 UGFzc3dvcmQ6"]
    assert client.cmd("*") == ["501 5.0.0 Authentication cancelled"]
    assert client.cmd("AUTH PLAIN") == ["334 "]
    assert client.cmd("not base64!") == ["501 5.5.2 Cannot decode base64 response"]
    assert client.cmd("AUTH LOGIN " + base64.b64encode(b"probe@exchange.test").decode()) == ["334 UGFzc3dvcmQ6"]
    assert client.cmd(base64.b64encode(b"lab-secret-pw").decode()) == ["235 2.7.0 Authentication successful"]
    assert client.cmd("AUTH PLAIN " + bad) == ["503 5.5.2 Already authenticated"]
    assert client.cmd("MAIL FROM:<probe@exchange.test>") == ["250 2.1.0 Sender OK"]
    assert client.cmd("QUIT")[0].startswith("221")
    auth_events = wait_for_event(lab, "auth_required", lambda event: event["event"] == "auth"
                                 and event["result"] == "success")
    assert auth_events
    with open(lab.paths["log.jsonl"], encoding="utf-8") as handle:
        log_text = handle.read()
    for secret in ("lab-secret-pw", bad, base64.b64encode(b"lab-secret-pw").decode(), "wrong-password"):
        assert secret not in log_text


def test_out_of_turn_secret_is_not_logged(lab):
    client = connect(lab, "unrecognized_500")
    client.reply()
    assert client.cmd("Hunter2-Secret") == ["500 5.3.3 Unrecognized command"]
    assert client.cmd("NOOP") == ["500 5.3.3 Unrecognized command"]
    verbs = [event["verb"] for event in wait_for_event(lab, "unrecognized_500",
                                                       lambda event: event["event"] == "command")]
    assert "(unknown)" in verbs and "NOOP" in verbs
    with open(lab.paths["log.jsonl"], encoding="utf-8") as handle:
        assert "hunter2" not in handle.read().lower()


# --- hostile --------------------------------------------------------------------------------------------------------

def test_no_banner(lab):
    client = connect(lab, "no_banner")
    client.sock.settimeout(0.7)
    with pytest.raises(socket.timeout):
        client.recv_some()
    client.send("EHLO contoso.test")
    with pytest.raises(socket.timeout):
        client.recv_some()
    assert wait_for_event(lab, "no_banner", lambda event: event["event"] == "command" and event["verb"] == "EHLO")


def test_banner_drip(lab):
    client = connect(lab, "banner_drip")
    pieces = []
    started = time.monotonic()
    while not pieces or not pieces[-1].endswith(b"\n"):
        pieces.append(client.recv_some())
    assert b"".join(pieces) == b"220 banner-drip.faultd.test ESMTP\r\n"
    assert len(pieces) > 10 and time.monotonic() - started > 0.5
    assert client.cmd("EHLO contoso.test")[-1] == "250 XRDST"


def test_endless_line(lab):
    client = connect(lab, "endless_line")
    total = 0
    while True:
        data = client.sock.recv(1 << 20)
        if not data:
            break
        assert b"\n" not in data
        total += len(data)
    assert total == 2000000


def test_huge_reply(lab):
    client = connect(lab, "huge_reply")
    client.reply()
    client.send("EHLO contoso.test")
    lines = client.reply()
    assert sum(len(line) + 2 for line in lines) >= 3000000
    assert lines[0] == "250-huge-reply.faultd.test Hello [127.0.0.1]" and lines[-1] == "250 XRDST"
    assert all(line.startswith("250-") for line in lines[:-1])
    assert client.cmd("MAIL FROM:<chris@contoso.test>") == ["250 2.1.0 Sender OK"]


def test_many_lines(lab):
    client = connect(lab, "many_lines")
    client.reply()
    lines = client.cmd("EHLO contoso.test")
    assert len(lines) == 2000 and lines[-1] == "250 XRDST" and "250-STARTTLS" in lines
    assert client.cmd("MAIL FROM:<chris@contoso.test>") == ["250 2.1.0 Sender OK"]


@pytest.mark.parametrize("name, raw", [("bad_code_2x0", b"2x0 hello\r\n"), ("bad_code_short", b"99 hi\r\n"),
                                       ("empty_line_reply", b"\r\n")])
def test_malformed_banners(lab, name, raw):
    client = connect(lab, name)
    assert client.read_line() == raw
    assert client.cmd("EHLO contoso.test")[-1] == "250 XRDST"


def test_code_change_midreply(lab):
    client = connect(lab, "code_change_midreply")
    client.reply()
    client.send("EHLO contoso.test")
    assert client.read_line() == b"250-code-change-midreply.faultd.test Hello [127.0.0.1]\r\n"
    assert client.read_line() == b"251 SIZE 37748736\r\n"


def test_bare_lf(lab):
    client = connect(lab, "bare_lf")
    client.reply()
    client.cmd("EHLO contoso.test")
    client.cmd("QUIT")
    assert b"\r" not in client.raw and client.raw.count(b"\n") == 1 + 13 + 1


def test_reset_mid_reply(lab):
    client = connect(lab, "reset_mid_reply")
    client.reply()
    client.send("EHLO contoso.test")
    received = b""
    with pytest.raises(ConnectionResetError):
        while True:
            data = client.sock.recv(65536)
            if not data:
                break
            received += data
    assert received.startswith(b"250-reset-mid-reply.faultd.test Hello") and not received.endswith(b"XRDST\r\n")


def test_starttls_garbage(lab):
    client = connect(lab, "starttls_garbage")
    client.reply()
    assert "250-STARTTLS" in client.cmd("EHLO contoso.test")
    assert client.cmd("STARTTLS") == ["220 2.0.0 SMTP server ready"]
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        client.starttls(tls_context(lab, verify=False), "starttls-garbage.faultd.test")


@pytest.mark.parametrize("name, message", [
    ("tls_expired", "certificate has expired"),
    ("tls_self_signed", "self-signed certificate"),
    ("tls_wrong_name", "Hostname mismatch"),
    ("tls_not_yet_valid", "certificate is not yet valid"),
])
def test_hostile_certificates(lab, name, message):
    hostname = lab.table[name]["hostname"]
    client = connect(lab, name)
    client.reply()
    client.cmd("EHLO contoso.test")
    assert client.cmd("STARTTLS") == ["220 2.0.0 SMTP server ready"]
    with pytest.raises(ssl.SSLCertVerificationError) as raised:
        client.starttls(tls_context(lab), hostname)
    assert message in str(raised.value)
    # Without verification the same server works: the certificate is the only fault.
    client = connect(lab, name)
    client.reply()
    client.cmd("EHLO contoso.test")
    client.cmd("STARTTLS")
    client.starttls(tls_context(lab, verify=False), hostname)
    assert client.cmd("EHLO contoso.test")[-1] == "250 XRDST"


def test_data_no_answer(lab):
    client = connect(lab, "data_no_answer")
    client.reply()
    client.cmd("EHLO contoso.test")
    client.cmd("MAIL FROM:<chris@contoso.test>")
    client.cmd("RCPT TO:<kate@exchange.test>")
    assert client.cmd("DATA")[0].startswith("354 ")
    client.send("Subject: x\r\n\r\nbody\r\n.")
    client.sock.settimeout(1.0)
    with pytest.raises(socket.timeout):
        client.recv_some()
    assert wait_for_event(lab, "data_no_answer", lambda event: event["event"] == "message")


def test_tarpit_ok(lab):
    client = connect(lab, "tarpit_ok")
    lines, elapsed = client.timed_reply()
    assert lines[0].startswith("220 ") and elapsed >= 0.28
    for command, code in (("EHLO contoso.test", "250"), ("MAIL FROM:<chris@contoso.test>", "250"),
                          ("RCPT TO:<kate@exchange.test>", "250"), ("QUIT", "221")):
        client.send(command)
        lines, elapsed = client.timed_reply()
        assert lines[-1][:3] == code and 0.28 <= elapsed < 1.5


# --- log and process ---------------------------------------------------------------------------------------------

def test_log_shows_no_connection_and_no_data(lab):
    events = lab.events()
    assert all(set(event) >= {"ts", "event"} for event in events)
    opened = {event["behaviour"] for event in events if event["event"] == "open"}
    assert "exchange" in opened
    # mail_530 never got as far as DATA; that is what a "no DATA was sent" check looks at.
    assert not [event for event in lab.events("mail_530") if event.get("verb") == "DATA"]


def test_idle_timeout_and_sigterm(tmp_path):
    process, table, paths = start_faultd(tmp_path, ["--only", "exchange,no_banner", "--idle-timeout", "0.5"])
    try:
        assert set(table) == {"exchange", "no_banner"}
        client = Client(table["exchange"]["host"], table["exchange"]["port"])
        client.reply()
        assert client.reply() == ["421 4.4.2 mail1.exchange.test Connection timed out, closing transmission channel"]
        assert client.at_eof()
        silent = Client(table["no_banner"]["host"], table["no_banner"]["port"])
        assert silent.at_eof(wait=2.0)
        assert silent.raw == b""
        lingering = Client(table["exchange"]["host"], table["exchange"]["port"])
        lingering.reply()
    finally:
        assert stop_faultd(process) == 0
    assert lingering.at_eof()
    with open(paths["log.jsonl"], encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle]
    assert events[-1]["event"] == "stopped"
    assert [event["reason"] for event in events if event["event"] == "close"][-1] == "server_shutdown"
