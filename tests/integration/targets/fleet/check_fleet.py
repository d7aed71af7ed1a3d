# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Assertions of the fleet target on the files the report and baseline roles wrote.

    check_fleet.py faults REPORT_JSON REPORT_MD INVENTORY_JSON
        every arranged fault (from the fleet inventory) shows up as exactly one of the Exchange guide's OPEN
        failure causes on the right host, told apart by what the probe observed; every other check passed
    check_fleet.py regression DIFF_JSON REPORT_JSON HOST
        the baseline diff holds exactly the regressions of HOST's outbound checks, nothing else changed
    check_fleet.py counters STATUS_JSON KIND:HOST...
        the nft rule of each listed fault matched packets (the firewall really was in the path)
"""

from __future__ import annotations

import json
import re
import sys

# The guide's causes for a failed OPEN, each as the observation that identifies it. A record is a check of
# report.json; `others_passed` means the same check passed from another host (so the destination is fine).
GUIDE_CAUSES = (
    ("destination firewall", "ICMP admin-prohibited reject: EHOSTUNREACH within milliseconds",
     {"error": "no_route", "category": "no_route_to_host"}),
    ("service down", "TCP reset on the SMTP port", {"error": "connection_refused", "odd_port": False}),
    ("wrong port", "TCP reset on a port that is not an SMTP port", {"error": "connection_refused", "odd_port": True}),
    ("source firewall", "connect timeout from this host only", {"error": "connect_timeout", "others_passed": True}),
    ("destination firewall (drop)", "connect timeout from every host",
     {"error": "connect_timeout", "others_passed": False}),
    ("wrong FQDN/IP (DNS)", "the resolver did not answer or the name does not resolve", {"status": "dns"}),
)
# The fleet's fault kinds (lab/fleet/fleetctl) and the cause each must be diagnosed as.
FAULT_CAUSE = {
    "source-firewall": "source firewall",
    "destination-firewall": "destination firewall",
    "service-down": "service down",
    "dead-dns": "wrong FQDN/IP (DNS)",
    "wrong-port": "wrong port",
}
ODD_PORT_NOTE = re.compile(r"Port \d+ is not a usual SMTP port")

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


def observed(record, records):
    diagnosis = record.get("diagnosis") or {}
    others = [other for other in records if other["id"] == record["id"] and other["host"] != record["host"]]
    return {
        "error": diagnosis.get("error"),
        "category": diagnosis.get("category"),
        "status": diagnosis.get("status"),
        "odd_port": any(ODD_PORT_NOTE.search(note) for note in diagnosis.get("notes") or []),
        "others_passed": any(other["passed"] for other in others),
    }


def causes_of(record, records):
    seen = observed(record, records)
    return [name for name, _why, wanted in GUIDE_CAUSES
            if all(seen.get(key) == value for key, value in wanted.items())]


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def check_faults(report_path, markdown_path, inventory_path):
    report, inventory = load(report_path), load(inventory_path)
    fleet_vars = inventory["all"]["vars"]
    mx_hosts = fleet_vars["mailflow_fleet_mx_hosts"]
    faults = [(item["kind"], item["host"]) for item in fleet_vars["mailflow_fleet_fault_list"]]
    records = report["checks"]
    transport = sorted(inventory["all"]["children"]["transport"]["hosts"])
    vantage = sorted(inventory["all"]["children"]["internet"]["hosts"])
    check(set(report["hosts"]) == set(transport + vantage), "report hosts %s" % report["hosts"])

    # Which records each fault must break: a transport host's every check, or the vantage's checks of one MX.
    expected = {}
    for kind, host in faults:
        if host in inventory["all"]["children"]["transport"]["hosts"]:
            broken = [record for record in records if record["host"] == host]
            check(len(broken) >= 2, "%s %s: only %d checks on that host" % (kind, host, len(broken)))
        else:
            mx_name = [name for name in mx_hosts if name.split(".")[0] == host][0]
            broken = [record for record in records if record["host"] in vantage and record["target"] == mx_name
                      and record["check"] == "banner"]
            check(len(broken) == 1, "%s %s: want one banner check of %s, got %d" % (kind, host, mx_name, len(broken)))
        for record in broken:
            expected[(record["host"], record["id"])] = (kind, host)

    for record in records:
        key = (record["host"], record["id"])
        where = "%s %s" % key
        if key not in expected:
            # A check a fault does not touch passes, except the later checks of a broken MX, which the
            # inbound role skips (no record).
            check(record["passed"] and record["status"] == "pass", "%s should pass, got %s (%s)"
                  % (where, record["status"], (record.get("diagnosis") or {}).get("category")))
            continue
        kind, host = expected[key]
        causes = causes_of(record, records)
        check(not record["passed"] and record["status"] == "fail",
              "%s: should fail (fault %s %s)" % (where, kind, host))
        check(causes == [FAULT_CAUSE[kind]], "%s: fault %s %s observed as %s (want exactly %s; observation %s)"
              % (where, kind, host, causes, FAULT_CAUSE[kind], observed(record, records)))
        print("ok  %-8s %-48s %-22s -> %s (%s)" % (record["host"], record["id"], kind, FAULT_CAUSE[kind],
                                                   (record.get("diagnosis") or {}).get("category")))

    # Every cause told apart: five faults, five different causes, each from a different observation.
    check({FAULT_CAUSE[kind] for kind, _host in faults} == set(FAULT_CAUSE.values()),
          "the arranged faults do not cover the five causes: %s" % faults)
    broken_hosts = sorted({record["host"] for record in records if not record["passed"]})
    check(report["summary"]["verdict"] == "failed", "verdict %s" % report["summary"]["verdict"])
    check(sorted(report["summary"]["failed_hosts"]) == broken_hosts, "failed_hosts %s, records say %s"
          % (report["summary"]["failed_hosts"], broken_hosts))
    check(report["summary"]["failed"] == len(expected), "summary.failed %s, expected %d"
          % (report["summary"]["failed"], len(expected)))
    # The Markdown a person reads names every broken host (transport host or MX).
    with open(markdown_path, encoding="utf-8") as handle:
        markdown = handle.read()
    for kind, host in faults:
        check(re.search(r"\b%s\b" % re.escape(host), markdown), "report.md does not name %s (%s)" % (host, kind))


def check_regression(diff_path, report_path, host):
    diff, report = load(diff_path), load(report_path)
    regressions = [change for change in diff["changes"] if change["kind"] == "regression"]
    outbound = sorted(record["id"] for record in report["checks"]
                      if record["host"] == host and record["role"] == "outbound")
    check(diff["verdict"] == "regressed", "diff verdict %s" % diff["verdict"])
    check(len(outbound) >= 2, "%s has only %d outbound checks" % (host, len(outbound)))
    check(sorted(change["id"] for change in regressions) == outbound and all(
        change["host"] == host for change in regressions), "regressions %s, want %s on %s" % (
        [(change["host"], change["id"]) for change in regressions], outbound, host))
    check(sorted((item["host"], item["id"]) for item in diff["failing"]) == [(host, name) for name in outbound],
          "failing %s" % diff["failing"])
    others = [change for change in diff["changes"] if change["host"] != host]
    check(not others, "changes on other hosts: %s" % others)
    for kind in ("fixed", "added", "removed", "optional_failure", "exchangers", "certificate", "banner"):
        check(diff["counts"][kind] == 0, "diff counts %s = %s" % (kind, diff["counts"][kind]))
    check(diff["counts"]["regression"] == len(outbound), "diff counts regression %s" % diff["counts"]["regression"])
    for record in report["checks"]:
        if record["host"] == host:
            check(causes_of(record, report["checks"]) == ["source firewall"],
                  "%s %s after the DROP observed as %s" % (host, record["id"], causes_of(record, report["checks"])))
    print("ok  baseline diff: %s" % diff["line"])


def check_counters(status_path, wanted):
    status = load(status_path)
    matched = {"%s:%s" % (item["kind"], item["host"]): item.get("matched_packets") for item in status["faults"]}
    for item in wanted:
        check((matched.get(item) or 0) > 0, "nft rule of %s matched %s packets" % (item, matched.get(item)))
        print("ok  %s: the nft rule matched %s packets" % (item, matched.get(item)))


def main(argv):
    if len(argv) >= 4 and argv[0] == "faults":
        check_faults(*argv[1:4])
    elif len(argv) == 4 and argv[0] == "regression":
        check_regression(*argv[1:4])
    elif len(argv) >= 3 and argv[0] == "counters":
        check_counters(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for failure in failures:
        print("FAILED: %s" % failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
