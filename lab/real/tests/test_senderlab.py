"""The sender identity and smuggling lab data (senderlab.py) and how labctl uses it, without root."""

from __future__ import annotations

import os
import sys

import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import labctl  # noqa: E402  pylint: disable=wrong-import-position
import senderlab  # noqa: E402  pylint: disable=wrong-import-position


def answers(zone, name, rdtype):
    rdataset = zone.get_rdataset(name + ".", rdtype)
    return sorted(rdata.to_text() for rdata in rdataset) if rdataset is not None else []


def test_reverse_zone_has_the_three_ptr_cases():
    zone = dns.zone.from_text(senderlab.reverse_zone_text(), origin=senderlab.REVERSE_ZONE + ".", relativize=False)
    sender = dns.zone.from_text(senderlab.sender_zone_text(), origin=senderlab.SENDER_ZONE + ".", relativize=False)
    hosts = senderlab.EGRESS_HOSTS
    assert answers(zone, "21.0.0.127.in-addr.arpa", dns.rdatatype.PTR) == ["mta1.sender.test."]
    assert answers(sender, "mta1.sender.test", dns.rdatatype.A) == [hosts["match"]["addr"]]
    assert answers(zone, "22.0.0.127.in-addr.arpa", dns.rdatatype.PTR) == []
    assert answers(zone, "23.0.0.127.in-addr.arpa", dns.rdatatype.PTR) == ["mta3.sender.test."]
    assert answers(sender, "mta3.sender.test", dns.rdatatype.A) == ["127.0.0.99"]


def test_sender_zone_holds_every_txt_case_and_the_smuggling_names():
    zone = dns.zone.from_text(senderlab.sender_zone_text(), origin=senderlab.SENDER_ZONE + ".", relativize=False)
    for name, texts in senderlab.SENDER_TXT.items():
        found = sorted(b"".join(rdata.strings).decode() for rdata in zone.get_rdataset(name + ".sender.test.", "TXT"))
        assert found == sorted(texts)
    for spec in senderlab.SMUGGLING_INSTANCES.values():
        assert answers(zone, spec["hostname"], dns.rdatatype.A) == [spec["listen"][0][0]]


def test_smuggling_instances_differ_only_in_bare_newline_handling():
    open_cf = labctl.main_cf("smuggle_open")
    strict_cf = labctl.main_cf("smuggle_strict")
    assert "\nsmtpd_forbid_bare_newline = no\n" in open_cf
    assert "\nsmtpd_forbid_bare_newline = yes\n" in strict_cf
    assert "\nsmtpd_forbid_bare_newline_exclusions = \n" in strict_cf
    assert "\nmynetworks = \n" in open_cf and "\ndefault_transport = error:" in open_cf
    # Each listens on its own loopback address, distinct from every other listener and the egress sources.
    taken = [addr for name, spec in labctl.INSTANCES.items() if name not in senderlab.SMUGGLING_INSTANCES
             for addr, _port in spec["listen"]] + [labctl.DNS_ADDR, labctl.REFUSED_ADDR, labctl.MTA_STS_ADDR]
    taken += [host["addr"] for host in senderlab.EGRESS_HOSTS.values()]
    for spec in senderlab.SMUGGLING_INSTANCES.values():
        assert spec["listen"][0][0] not in taken


def test_named_conf_names_both_zones():
    stanzas = senderlab.zone_stanzas(labctl.state_path("named", "sender"))
    assert 'zone "sender.test" { type primary;' in stanzas
    assert 'zone "0.0.127.in-addr.arpa" { type primary;' in stanzas


def test_fleet_reverse_zone_cases():
    hosts = [{"addr": "198.18.0.%d" % (10 + n), "hostname": "th%d.contoso.test" % n} for n in range(1, 5)]
    name, text = senderlab.fleet_reverse_zone(hosts)
    zone = dns.zone.from_text(text, origin=name + ".", relativize=False)
    assert answers(zone, "11.0.18.198.in-addr.arpa", dns.rdatatype.PTR) == ["th1.contoso.test."]
    assert answers(zone, "12.0.18.198.in-addr.arpa", dns.rdatatype.PTR) == []
    assert answers(zone, "13.0.18.198.in-addr.arpa", dns.rdatatype.PTR) == ["old-th3.contoso.test."]
    assert answers(zone, "14.0.18.198.in-addr.arpa", dns.rdatatype.PTR) == ["th4.contoso.test."]
