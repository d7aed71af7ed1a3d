"""The real lab's generated files, without root: the zone, the address plan and Exim's configuration."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys

import dns.rdatatype
import dns.zone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import labctl  # noqa: E402  pylint: disable=wrong-import-position

BEHAVIOURS = [{"name": "exchange", "hostname": "mail1.exchange.test", "index": 0},
              {"name": "mail_530", "hostname": "mail-530.faultd.test", "index": 1}]


def lab_zone():
    text, _serial = labctl.zone_text(BEHAVIOURS)
    return dns.zone.from_text(text, origin=labctl.ZONE + ".", relativize=False, check_origin=True)


def answers(zone, name, rdtype):
    rdataset = zone.get_rdataset(name + ".", rdtype)
    return sorted(rdata.to_text() for rdata in rdataset) if rdataset is not None else []


def test_zone_routes_the_exim_domains_to_the_exim_addresses():
    zone = lab_zone()
    exim = labctl.EXIM
    assert answers(zone, exim["domain"], dns.rdatatype.MX) == ["10 %s." % exim["hostname"]]
    assert answers(zone, exim["hostname"], dns.rdatatype.A) == [exim["addr"]]
    assert answers(zone, exim["tarpit_domain"], dns.rdatatype.MX) == ["10 %s." % exim["tarpit_hostname"]]
    assert answers(zone, exim["tarpit_hostname"], dns.rdatatype.A) == [exim["tarpit_addr"]]
    # The Postfix names are untouched by the Exim rows.
    assert answers(zone, "mx1.fabrikam.test", dns.rdatatype.A) == ["127.0.0.11"]


def test_every_smtp_listener_has_its_own_loopback_address():
    listeners = [addr for spec in labctl.INSTANCES.values() for addr, _port in spec["listen"] if ":" not in addr]
    listeners += [addr for addr, _port in labctl.exim_listen()]
    hosts = set(listeners)
    # mx1/mx2/submission each once (submission twice: ports 25 and 587), Exim twice.
    assert len(hosts) == len(labctl.INSTANCES) + 2
    reserved = {labctl.DNS_ADDR, labctl.REFUSED_ADDR}
    for addr in hosts:
        ip = ipaddress.ip_address(addr)
        assert ip in ipaddress.ip_network("127.0.0.0/8")
        assert addr not in reserved
        # 127.0.1.0/24 is bigmx.test's, 127.0.2.0/24 the fault server's.
        assert ip not in ipaddress.ip_network("127.0.1.0/24") and ip not in ipaddress.ip_network("127.0.2.0/24")


def test_exim_config_keeps_every_message_on_the_machine():
    config = labctl.exim_conf()
    drivers = re.findall(r"^\s*driver\s*=\s*(\S+)", config, re.MULTILINE)
    assert drivers == ["accept", "appendfile"]
    assert re.search(r"^queue_only = true$", config, re.MULTILINE)
    assert re.search(r"^host_lookup =$", config, re.MULTILINE)
    interfaces = re.search(r"^local_interfaces = (.*)$", config, re.MULTILINE).group(1)
    assert [part.strip() for part in interfaces.split(":")] == [labctl.EXIM["addr"], labctl.EXIM["tarpit_addr"]]
    # The greeting delay is tied to the tarpit address only.
    assert "${if eq{$received_ip_address}{%s}}\n         delay = %ds" % (
        labctl.EXIM["tarpit_addr"], labctl.EXIM["tarpit_delay"]) in config


def test_exim_command_is_valid_sh_and_quotes_its_paths(tmp_path):
    tree = tmp_path / "with space" / "exim" / "4.96" / "root"
    script = tmp_path / "exim"
    script.write_text(labctl.exim_command_script(tree), encoding="utf-8")
    subprocess.run(["sh", "-n", str(script)], check=True)
    assert "'%s/usr'" % tree in script.read_text(encoding="utf-8")
