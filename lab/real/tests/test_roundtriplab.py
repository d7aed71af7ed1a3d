"""The round-trip chain's generated configuration, without root: the zone rows, the chain of transports, Dovecot."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import labctl  # noqa: E402  pylint: disable=wrong-import-position
import roundtriplab  # noqa: E402  pylint: disable=wrong-import-position


def test_the_zone_routes_roundtrip_test_to_its_mx_and_names_every_host():
    text, _serial = labctl.zone_text([])
    zone = dns.zone.from_text(text, origin="test.", relativize=False)
    mx = zone.find_rdataset("roundtrip.test.", dns.rdatatype.MX)
    assert [rdata.to_text() for rdata in mx] == ["10 mx.roundtrip.test."]
    for host, addr in (("mx", roundtriplab.MX_ADDR), ("relay", roundtriplab.RELAY_ADDR),
                       ("smtp", roundtriplab.SUBMIT_ADDR), ("imap", roundtriplab.IMAP_ADDR)):
        rdataset = zone.find_rdataset("%s.roundtrip.test." % host, dns.rdatatype.A)
        assert [rdata.to_text() for rdata in rdataset] == [addr]


def test_each_hop_hands_on_to_the_next_and_nothing_leaves():
    instances = roundtriplab.instances(Path("/state"))
    submit, relay, mx = (instances[name]["main_cf"] for name in ("rt_submit", "rt_relay", "rt_mx"))
    assert submit["transport_maps"] == "inline:{roundtrip.test=smtp:[%s]:25}" % roundtriplab.RELAY_ADDR
    assert "roundtrip.test=smtp:[%s]:25" % roundtriplab.MX_ADDR in relay["transport_maps"]
    assert "lost@roundtrip.test=discard:" in relay["transport_maps"]
    assert mx["virtual_transport"] == "lmtp:unix:/state/roundtrip/run/lmtp-postfix"
    # Everything else keeps labctl's error transports: main_cf of each instance still says so.
    for name in instances:
        config = labctl.main_cf(name)
        assert re.search(r"^default_transport = error:", config, re.MULTILINE)
        assert re.search(r"^relay_transport = error:", config, re.MULTILINE)


def test_slow_is_held_by_the_relay_for_the_documented_delay():
    relay = roundtriplab.instances(Path("/state"))["rt_relay"]["main_cf"]
    assert relay["lab_hold"] == "sleep %d" % roundtriplab.SLOW_DELAY
    assert relay["smtpd_recipient_restrictions"] == "check_recipient_access inline:{slow@roundtrip.test=lab_hold}"


def test_dovecot_serves_imap_on_its_own_address_and_files_junk_by_sieve():
    config = roundtriplab.dovecot_conf(Path("/state"), Path("/state/tls"))
    assert "listen = %s" % roundtriplab.IMAP_ADDR in config
    assert "port = 993\n    ssl = yes" in config
    assert "sieve_before = /state/roundtrip/junk.sieve" in config
    assert 'fileinto :create "Junk"' in roundtriplab.SIEVE_SCRIPT
