"""Lab data of the sender identity and smuggling checks (issue 17, items 3-5), used by labctl.py.

Stdlib only. Two zones served by the lab's BIND next to `test`: `sender.test` (SPF and DMARC cases, the egress
hosts' names, the smuggling instances' names) and `0.0.127.in-addr.arpa` (PTR of the egress source addresses),
plus two Postfix instances that differ only in `smtpd_forbid_bare_newline`. `fleet_reverse_zone` gives the fleet
lab the same three PTR cases for its transport hosts (wired in by lab/fleet/fleetctl.py).
"""

from __future__ import annotations

import zlib
from pathlib import Path

SENDER_ZONE = "sender.test"
REVERSE_ZONE = "0.0.127.in-addr.arpa"

# Source addresses an egress test binds to (loopback, nothing listens on them): PTR that resolves back, no PTR,
# and a PTR whose name resolves to another address.
EGRESS_HOSTS = {
    "match": {"addr": "127.0.0.21", "ptr": "mta1.sender.test", "a": "127.0.0.21"},
    "missing": {"addr": "127.0.0.22", "ptr": None, "a": None},
    "mismatch": {"addr": "127.0.0.23", "ptr": "mta3.sender.test", "a": "127.0.0.99"},
}

# Postfix 3.7.11 smuggling pair: the same instance, with and without smtpd_forbid_bare_newline.
SMUGGLING_INSTANCES = {
    "smuggle_open": {
        "hostname": "smuggle-open.sender.test",
        "listen": [("127.0.0.17", 25)],
        "domain": "smuggle-open.sender.test",
        "users": ["kate", "postmaster"],
        "submission": False,
        "main_cf": {"smtpd_forbid_bare_newline": "no"},
    },
    "smuggle_strict": {
        "hostname": "smuggle-strict.sender.test",
        "listen": [("127.0.0.18", 25)],
        "domain": "smuggle-strict.sender.test",
        "users": ["kate", "postmaster"],
        "submission": False,
        # The exclusions default to $mynetworks, which is empty in the lab: loopback clients are checked too.
        "main_cf": {"smtpd_forbid_bare_newline": "yes", "smtpd_forbid_bare_newline_exclusions": ""},
    },
}

GOOD_SPF = "v=spf1 ip4:127.0.0.21 ip4:127.0.0.23 a:mta1.sender.test -all"
# name (relative to sender.test) -> list of TXT strings; the SPF and DMARC cases.
SENDER_TXT = {
    "good": [GOOD_SPF],
    "_dmarc.good": ["v=DMARC1; p=reject; sp=quarantine; adkim=s; rua=mailto:dmarc@good.sender.test"],
    "monitor": ["v=spf1 ip4:127.0.0.21 ?all"],
    "_dmarc.monitor": ["v=DMARC1; p=none"],
    "toomany": ["v=spf1 %s -all" % " ".join("include:inc%d.sender.test" % index for index in range(1, 7))],
    "void": ["v=spf1 a:gone1.sender.test mx:gone2.sender.test a:gone3.sender.test -all"],
    "syntax": ["v=spf1 ip4:mta1.sender.test -all"],
    "_dmarc.syntax": ["v=DMARC1; p=block"],
    "multi": ["v=spf1 ip4:127.0.0.21 -all", "v=spf1 ip4:127.0.0.23 -all"],
    "_dmarc.multi": ["v=DMARC1; p=reject", "v=DMARC1; p=none"],
    "passall": ["v=spf1 +all"],
    "noinclude": ["v=spf1 include:nothing.sender.test -all"],
    "macro": ["v=spf1 exists:%{ir}._spf.macro.sender.test -all"],
    "external": ["v=spf1 -all"],
    "_dmarc.external": ["v=DMARC1; p=quarantine; pct=50; rua=mailto:reports@reports.sender.test"],
    "authorized": ["v=spf1 -all"],
    "_dmarc.authorized": ["v=DMARC1; p=reject; rua=mailto:reports@reports.sender.test,mailto:dmarc@authorized.sender.test"],
    "authorized.sender.test._report._dmarc.reports": ["v=DMARC1"],
}
# Each included record costs its own lookup (a:), so 6 includes make 12: over the limit of 10.
for _index in range(1, 7):
    SENDER_TXT["inc%d" % _index] = ["v=spf1 a:mta1.sender.test -all"]


def _txt(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def _head(zone: str) -> list:
    return ["$TTL 300", "$ORIGIN %s." % zone, "@ IN SOA ns.test. hostmaster.test. ( SERIAL 300 60 3600 60 )",
            "@ IN NS ns.test.", ""]


def _with_serial(lines: list) -> str:
    body = "\n".join(lines) + "\n"
    return body.replace("SERIAL", str(zlib.crc32(body.encode("utf-8")) & 0x7FFFFFFF), 1)


def sender_zone_text() -> str:
    lines = _head(SENDER_ZONE)
    for name, texts in SENDER_TXT.items():
        lines += ["%s IN TXT %s" % (name, _txt(text)) for text in texts]
    lines += ["", "; egress hosts (the PTR side is in %s)" % REVERSE_ZONE]
    for host in EGRESS_HOSTS.values():
        if host["ptr"]:
            lines.append("%s. IN A %s" % (host["ptr"], host["a"]))
    lines += ["", "; exists:%{ir} of macro.sender.test matches 127.0.0.21 only",
              "21.0.0.127._spf.macro IN A 127.0.0.2", "", "; smuggling instances"]
    for spec in SMUGGLING_INSTANCES.values():
        addr = spec["listen"][0][0]
        lines.append("%s. IN A %s" % (spec["hostname"], addr))
        lines.append("%s. IN MX 10 %s." % (spec["domain"], spec["hostname"]))
    return _with_serial(lines)


def reverse_zone_text() -> str:
    lines = _head(REVERSE_ZONE)
    for host in EGRESS_HOSTS.values():
        if host["ptr"]:
            lines.append("%s IN PTR %s." % (host["addr"].rsplit(".", 1)[1], host["ptr"]))
    return _with_serial(lines)


def zone_stanzas(zones_dir: Path) -> str:
    return "".join('zone "%s" { type primary; file "%s/db.%s"; };\n' % (zone, zones_dir, zone)
                   for zone in (SENDER_ZONE, REVERSE_ZONE))


def write_zones(zones_dir: Path, write_if_changed) -> bool:
    """Write both zone files; True when one changed (named must reload)."""
    zones_dir.mkdir(parents=True, exist_ok=True)
    changed = write_if_changed(zones_dir / ("db.%s" % SENDER_ZONE), sender_zone_text())
    return write_if_changed(zones_dir / ("db.%s" % REVERSE_ZONE), reverse_zone_text()) or changed


def fleet_reverse_zone(hosts: list, zone: str = "0.18.198.in-addr.arpa") -> tuple:
    """(zone name, zone text) with the PTR cases for the fleet's transport hosts (dicts with addr and hostname,
    in order): the first host's PTR resolves back, the second has none, the third names a host that does not
    exist (FCrDNS mismatch), every further host resolves back."""
    lines = _head(zone)
    for index, host in enumerate(hosts):
        last = host["addr"].rsplit(".", 1)[1]
        if index == 1:
            continue
        target = "old-%s" % host["hostname"] if index == 2 else host["hostname"]
        lines.append("%s IN PTR %s." % (last, target))
    return zone, _with_serial(lines)
