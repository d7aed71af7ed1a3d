"""The embedded DNS responder: decisions in-process, then the real UDP/TCP server queried with dnspython."""

from __future__ import annotations

import os
import sys

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dnsd  # noqa: E402  pylint: disable=wrong-import-position
import labctl  # noqa: E402  pylint: disable=wrong-import-position

RECORDS = [
    ("@", 300, "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 60"),
    ("@", 300, "NS", "ns.test."),
    ("ns", 300, "A", "127.0.0.1"),
    ("two.test.", 300, "MX", "10 a.two.test."),
    ("two.test.", 300, "MX", "20 b.two.test."),
    ("a.two.test.", 300, "A", "127.0.3.1"),
    ("b.two.test.", 300, "A", "127.0.3.2"),
    ("b.two.test.", 300, "AAAA", "::1"),
    ("alias.test.", 300, "CNAME", "two.test."),
    ("outside.test.", 300, "CNAME", "mail.example.net."),
    ("loop1.test.", 300, "CNAME", "loop2.test."),
    ("loop2.test.", 300, "CNAME", "loop1.test."),
    ("deep.ent.test.", 300, "A", "127.0.3.3"),
]


@pytest.fixture(name="responder")
def responder_fixture():
    return dnsd.ZoneResponder(dnsd.zone_from_records("test.", RECORDS))


def ask(responder, name, rdtype):
    return responder.respond(dns.message.make_query(name, rdtype))


def test_mx_with_glue(responder):
    response = ask(responder, "two.test.", "MX")
    assert response.rcode() == dns.rcode.NOERROR and response.flags & dns.flags.AA
    assert sorted((r.preference, r.exchange.to_text()) for r in response.answer[0]) == [
        (10, "a.two.test."), (20, "b.two.test.")]
    glue = {(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype)) for rrset in response.additional}
    assert glue == {("a.two.test.", "A"), ("b.two.test.", "A"), ("b.two.test.", "AAAA")}


def test_nxdomain_nodata_and_empty_non_terminal(responder):
    missing = ask(responder, "missing.test.", "MX")
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == dns.rdatatype.SOA
    assert missing.authority[0].ttl == 60  # RFC 2308: min(SOA TTL, MINIMUM)
    nodata = ask(responder, "a.two.test.", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
    ent = ask(responder, "ent.test.", "A")
    assert ent.rcode() == dns.rcode.NOERROR and not ent.answer


def test_cname_chasing(responder):
    response = ask(responder, "alias.test.", "MX")
    assert [rrset.rdtype for rrset in response.answer] == [dns.rdatatype.CNAME, dns.rdatatype.MX]
    outside = ask(responder, "outside.test.", "A")
    assert [rrset.rdtype for rrset in outside.answer] == [dns.rdatatype.CNAME]
    assert ask(responder, "loop1.test.", "A").rcode() == dns.rcode.SERVFAIL


def test_refused_and_notimp(responder):
    assert ask(responder, "example.com.", "MX").rcode() == dns.rcode.REFUSED
    query = dns.message.make_query("two.test.", "MX")
    query.set_opcode(dns.opcode.NOTIFY)
    assert responder.respond(query).rcode() == dns.rcode.NOTIMP


def test_truncation(responder):
    big = [("big.test.", 300, "TXT", '"%03d%s"' % (number, "y" * 200)) for number in range(10)]
    responder = dnsd.ZoneResponder(dnsd.zone_from_records("test.", RECORDS + big))
    response = ask(responder, "big.test.", "TXT")
    wire = responder.wire(response, 512)
    assert len(wire) <= 512 and dns.message.from_wire(wire).flags & dns.flags.TC


def test_server_udp_and_tcp(responder):
    server = dnsd.DNSServer(responder, "127.0.0.1", 0)
    server.start()
    try:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = server.port
        resolver.lifetime = 3
        assert len(resolver.resolve("two.test.", "MX")) == 2
        assert len(resolver.resolve("two.test.", "MX", tcp=True)) == 2
        with pytest.raises(dns.resolver.NXDOMAIN):
            resolver.resolve("missing.test.", "MX")
    finally:
        server.stop()


def test_embedded_zone_matches_the_domain_table():
    responder = dnsd.ZoneResponder(dnsd.zone_from_records("test.", labctl.zone_records()))
    for entry in labctl.DOMAINS:
        response = ask(responder, entry["domain"] + ".", "MX")
        if entry["expect"] == "nxdomain":
            assert response.rcode() == dns.rcode.NXDOMAIN
            continue
        published = sorted([r.preference, r.exchange.to_text().rstrip(".") or "."] for r in response.answer[0])
        assert published == sorted(entry["mx"]), entry["domain"]
    addresses = {p["address"] for p in labctl.PERSONAS} | {h["address"] for h in labctl.UNSERVED_HOSTS}
    assert len(addresses) == len(labctl.PERSONAS) + len(labctl.UNSERVED_HOSTS)
