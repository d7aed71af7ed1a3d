"""The transport security lab's generated zones and configuration, without root (labctl's DANE and MTA-STS part)."""

from __future__ import annotations

import ipaddress
import os
import sys

import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import labctl  # noqa: E402  pylint: disable=wrong-import-position

# Stand-ins for the DER of each lab certificate (0) and of its public key (1).
MATERIALS = {name: {0: ("cert-" + name).encode(), 1: ("spki-" + name).encode()}
             for name in ("mx1", "mx2", "ca", "exim")}


def parsed(text, origin):
    return dns.zone.from_text(text, origin=origin + ".", relativize=False, check_origin=True)


def answers(zone, name, rdtype):
    rdataset = zone.get_rdataset(name + ".", rdtype)
    return sorted(rdata.to_text() for rdata in rdataset) if rdataset is not None else []


def test_policy_zone_has_each_case():
    zone = parsed(labctl.policy_zone_text(MATERIALS.get), labctl.POLICY_ZONE)
    assert answers(zone, "_mta-sts.enforce.policy.test", dns.rdatatype.TXT) == ['"v=STSv1; id=20261204T000000"']
    assert answers(zone, "mta-sts.enforce.policy.test", dns.rdatatype.A) == [labctl.MTA_STS_ADDR]
    assert answers(zone, "mta-sts.nohost.policy.test", dns.rdatatype.A) == []
    assert answers(zone, "mta-sts.refused.policy.test", dns.rdatatype.A) == [labctl.REFUSED_ADDR]
    assert answers(zone, "uncovered.policy.test", dns.rdatatype.MX) == ["10 mx1.fabrikam.test.", "20 mx.exim.test."]
    tlsa = answers(zone, "_25._tcp.mx.unsigned.policy.test", dns.rdatatype.TLSA)
    assert len(tlsa) == 1 and tlsa[0].startswith("3 1 1 ")


def test_dane_zone_records_are_computed_from_the_certificates():
    import hashlib
    zone = parsed(labctl.dane_zone_text(MATERIALS.get), labctl.DANE_ZONE)
    spki = hashlib.sha256(b"spki-mx1").hexdigest()
    assert answers(zone, "_25._tcp.mx.ee-11.dane.test", dns.rdatatype.TLSA) == sorted([
        "3 1 1 %s" % hashlib.sha256(b"spki-ca").hexdigest(), "3 1 1 %s" % spki])
    assert answers(zone, "_25._tcp.mx.ee-00.dane.test", dns.rdatatype.TLSA) == ["3 0 0 %s" % b"cert-mx1".hex()]
    assert answers(zone, "_25._tcp.mx.ee-12.dane.test", dns.rdatatype.TLSA) == [
        "3 1 2 %s" % hashlib.sha512(b"spki-mx1").hexdigest()]
    wrong = [rdata for rdata in answers(zone, "_25._tcp.mx.nomatch.dane.test", dns.rdatatype.TLSA)
             if rdata.endswith(spki[8:])]
    assert wrong and wrong[0] != "3 1 1 %s" % spki
    assert answers(zone, "_25._tcp.mx.notlsa.dane.test", dns.rdatatype.TLSA) == []
    assert answers(zone, "mx.notls.dane.test", dns.rdatatype.A) == ["127.0.2.10"]


def test_policy_server_serves_every_case_with_http_and_no_other():
    hosts = labctl.mta_sts_hosts()
    served = {name for name, case in labctl.STS_CASES.items() if case["http"] is not None}
    assert set(hosts) == {"mta-sts.%s.%s" % (name, labctl.POLICY_ZONE) for name in served}
    assert "mta-sts.tlsname.policy.test" not in hosts
    assert len(hosts["mta-sts.big.policy.test"]["body"]) > 65536


def test_new_addresses_are_loopback_and_free():
    used = {addr for spec in labctl.INSTANCES.values() for addr, _port in spec["listen"]}
    used |= {addr for addr, _port in labctl.exim_listen()} | {labctl.REFUSED_ADDR}
    assert labctl.MTA_STS_ADDR not in used
    assert ipaddress.ip_address(labctl.MTA_STS_ADDR).is_loopback
    assert (labctl.RESOLVER_ADDR, labctl.RESOLVER_PORT) != (labctl.DNS_ADDR, labctl.DNS_PORT)


def test_resolver_forwards_only_to_the_lab(monkeypatch):
    monkeypatch.setattr(labctl, "dane_anchor", lambda: '"dane.test." static-key 257 3 13 "AAAA";')
    conf = labctl.resolver_conf()
    assert "forward only;" in conf
    assert "forwarders { %s port %d; };" % (labctl.DNS_ADDR, labctl.DNS_PORT) in conf
    assert "allow-recursion { 127.0.0.0/8; };" in conf
    assert "dnssec-validation yes;" in conf


# A throwaway EC certificate and its SubjectPublicKeyInfo as `openssl x509 -pubkey | openssl pkey -pubin -outform DER`
# printed it: the TLSA data comes from the same bytes as openssl's.
LEAF_PEM = """-----BEGIN CERTIFICATE-----
MIIBgjCCASigAwIBAgIBBzAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAx1bml0IHRl
c3QgQ0EwHhcNMjYxMjA0MTgxNjMxWhcNMzYxMjAxMTgxNjMxWjAcMRowGAYDVQQD
DBFteDEuZmFicmlrYW0udGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABA+R
84hqz7IjMSCHF/rzw2suS5L473QFgDS+TR2FrXJc2+swTI5AsEPPrDZzWbcf5ROS
eKvrK7M8clkxzaUgQMGjYDBeMBwGA1UdEQQVMBOCEW14MS5mYWJyaWthbS50ZXN0
MB0GA1UdDgQWBBTmIhV0BYVHyTWNO/9eGyoXrVV6kjAfBgNVHSMEGDAWgBSLAUaq
IfmGqbxmfmBxT4Oxux8KnDAKBggqhkjOPQQDAgNIADBFAiEAyh68xXUbpUeLvhKZ
cT2I7cuS1apuSBgA2kbXu3BwoGkCIBNPzEsCQEjob7qLYkwSljDnS1emZLr4+Meo
7WKs2rqo
-----END CERTIFICATE-----
"""
LEAF_SPKI = ("3059301306072a8648ce3d020106082a8648ce3d030107034200040f91f3886acfb22331208717faf3c36b2e4b92f8ef74058034"
             "be4d1d85ad725cdbeb304c8e40b043cfac367359b71fe5139278abeb2bb33c725931cda52040c1")


def test_cert_material_reads_the_public_key_as_openssl_does(tmp_path, monkeypatch):
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "leaf.crt").write_text(LEAF_PEM, encoding="ascii")
    monkeypatch.setattr(labctl, "STATE_DIR", tmp_path)
    material = labctl.cert_material("leaf")
    assert material[1].hex() == LEAF_SPKI
    assert len(material[0]) == 390
