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
    check_fleet.py newrows REPORT_DIR FACTS_DIR INVENTORY_JSON
        the round trip (roles/roundtrip) and the egress check (roles/outbound) of every transport host: the round
        trip delivered into INBOX where the host can reach mx1 and the mailbox, and failed where a fault stops it;
        egress matches the arranged reverse DNS (matching, missing, mismatched PTR; DNS failure on the dead-DNS
        host), in the facts (Ansible's fact cache) and in report.json, report.md, report.html and report.xml
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from xml.etree import ElementTree

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
# Faults that stop a transport host's round trip (via mx: SMTP to port 25, and the mailbox name in the fleet DNS);
# wrong-port is a mistake in the outbound checks' configuration only.
ROUNDTRIP_BROKEN_BY = ("source-firewall", "dead-dns")
# Checks whose expectations are not the guide's OPEN causes: the round trip and the egress identity (newrows).
NEW_ROWS = ("roundtrip", "egress")

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
            broken = [record for record in records if record["host"] == host and record["check"] == "delivery"]
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
        if record["check"] in NEW_ROWS:
            continue  # check_new_rows
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
    broken_hosts = sorted({record["host"] for record in records if record["status"] == "fail"})
    check(report["summary"]["verdict"] == "failed", "verdict %s" % report["summary"]["verdict"])
    check(sorted(report["summary"]["failed_hosts"]) == broken_hosts, "failed_hosts %s, records say %s"
          % (report["summary"]["failed_hosts"], broken_hosts))
    new_failed = [record for record in records if record["check"] in NEW_ROWS and record["status"] == "fail"]
    check(report["summary"]["failed"] == len(expected) + len(new_failed), "summary.failed %s, expected %d + %d"
          % (report["summary"]["failed"], len(expected), len(new_failed)))
    # The Markdown a person reads names every broken host (transport host or MX).
    with open(markdown_path, encoding="utf-8") as handle:
        markdown = handle.read()
    for kind, host in faults:
        check(re.search(r"\b%s\b" % re.escape(host), markdown), "report.md does not name %s (%s)" % (host, kind))


def check_regression(diff_path, report_path, host):
    diff, report = load(diff_path), load(report_path)
    regressions = [change for change in diff["changes"] if change["kind"] == "regression"]
    # The DROP stops the host's deliveries and its round trip; its egress identity (DNS only) stays as it was.
    outbound = sorted(record["id"] for record in report["checks"]
                      if record["host"] == host and record["check"] in ("delivery", "roundtrip"))
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
        if record["host"] == host and record["check"] == "delivery":
            check(causes_of(record, report["checks"]) == ["source firewall"],
                  "%s %s after the DROP observed as %s" % (host, record["id"], causes_of(record, report["checks"])))
    print("ok  baseline diff: %s" % diff["line"])


def check_counters(status_path, wanted):
    status = load(status_path)
    matched = {"%s:%s" % (item["kind"], item["host"]): item.get("matched_packets") for item in status["faults"]}
    for item in wanted:
        check((matched.get(item) or 0) > 0, "nft rule of %s matched %s packets" % (item, matched.get(item)))
        print("ok  %s: the nft rule matched %s packets" % (item, matched.get(item)))


def cached_facts(facts_dir, host):
    """ansible_facts of one host from Ansible's jsonfile fact cache (ANSIBLE_CACHE_PLUGIN=jsonfile)."""
    pattern = re.compile(r"(^|_)%s$" % host)
    paths = [path for path in glob.glob(os.path.join(facts_dir, "*")) if pattern.search(os.path.basename(path))]
    if not check(len(paths) == 1, "fact cache of %s: %s" % (host, paths)):
        return {}
    data = load(paths[0])
    payload = data.get("__payload__", data)
    return json.loads(payload) if isinstance(payload, str) else payload


def expected_egress(host, fleet_vars, faults_of):
    """(passes, first condition) the arranged reverse DNS gives the host's sending address."""
    if "dead-dns" in faults_of.get(host, []):
        return False, "egress_dns_failed"
    ptr = fleet_vars["mailflow_fleet_ptr"][host]
    if ptr is None:
        return False, "egress_no_ptr"
    if ptr != "%s.%s" % (host, fleet_vars["mailflow_fleet_org_domain"]):
        return False, "egress_fcrdns_mismatch"
    return True, None


def check_new_rows(report_dir, facts_dir, inventory_path):
    report, inventory = load(os.path.join(report_dir, "report.json")), load(inventory_path)
    fleet_vars = inventory["all"]["vars"]
    transport = inventory["all"]["children"]["transport"]["hosts"]
    faults_of = {}
    for item in fleet_vars["mailflow_fleet_fault_list"]:
        faults_of.setdefault(item["host"], []).append(item["kind"])
    records = report["checks"]
    with open(os.path.join(report_dir, "report.md"), encoding="utf-8") as handle:
        markdown = handle.read()
    with open(os.path.join(report_dir, "report.html"), encoding="utf-8") as handle:
        html = handle.read()
    junit = ElementTree.parse(os.path.join(report_dir, "report.xml")).getroot()
    cases = {}
    for case in junit.iter("testcase"):
        cases.setdefault((case.get("classname"), case.get("name")), []).append(case)
    cases_by_host = {}
    for (classname, name), found in cases.items():
        cases_by_host.setdefault(classname.split(".")[1] if classname.count(".") >= 2 else "", []).append((name, found))

    outcomes = {"egress": set()}
    for host in sorted(transport):
        facts = cached_facts(facts_dir, host).get("mailflow") or {}
        # The round trip: one fact entry and one report row per host, labelled by the roundtrip role.
        want_delivered = not any(kind in ROUNDTRIP_BROKEN_BY for kind in faults_of.get(host, []))
        entry = (facts.get("roundtrip") or {}).get("roundtrip:kate@fabrikam.test") or {}
        check(entry.get("labels", {}).get("check") == "roundtrip", "%s: no roundtrip fact entry" % host)
        check(bool(entry.get("delivered")) == want_delivered and bool(entry.get("passed")) == want_delivered,
              "%s roundtrip: delivered %s passed %s, want %s (%s)" % (host, entry.get("delivered"), entry.get("passed"),
                                                                      want_delivered, (entry.get("diagnosis") or {}).get("category")))
        if want_delivered:
            check(entry.get("folder") == "INBOX" and (entry.get("hops") or []) and entry.get("latency_s") is not None,
                  "%s roundtrip: folder %s, hops %s, latency %s" % (host, entry.get("folder"), entry.get("hops"),
                                                                    entry.get("latency_s")))
        rows = [record for record in records if record["host"] == host and record["check"] == "roundtrip"]
        check(len(rows) == 1 and rows[0]["status"] == ("pass" if want_delivered else "fail"),
              "%s roundtrip rows in report.json: %s" % (host, [(row["id"], row["status"]) for row in rows]))
        junit_cases = [found for name, found in cases_by_host.get(host, []) if name.startswith("roundtrip")]
        check(len(junit_cases) == 1 and len(junit_cases[0]) == 1 and (
            junit_cases[0][0].find("failure") is None) == want_delivered,
            "%s roundtrip in report.xml: %d test cases, failure %s" % (
                host, len(junit_cases), [case.find("failure") is not None for found in junit_cases for case in found]))
        outcome = ("delivered to %s in %s s" % (entry.get("folder"), entry.get("latency_s")) if want_delivered
                   else "not delivered, as arranged")
        print("ok  %-4s roundtrip  %s (%s)" % (host, outcome, (entry.get("diagnosis") or {}).get("category")))

        # Egress identity: the facts, then the report row where the report has the section.
        passes, condition = expected_egress(host, fleet_vars, faults_of)
        egress = (facts.get("egress") or {}).get("outbound:egress") or {}
        check(egress.get("labels", {}).get("check") == "egress", "%s: no egress fact entry" % host)
        check(egress.get("passed") == passes and (egress.get("conditions") or [None])[0] == condition,
              "%s egress: passed %s conditions %s, want %s %s"
              % (host, egress.get("passed"), egress.get("conditions"), passes, condition))
        if condition != "egress_dns_failed":
            ptr = fleet_vars["mailflow_fleet_ptr"][host]
            check(egress.get("address") == inventory["all"]["children"]["transport"]["hosts"][host]["ansible_host"],
                  "%s egress address %s" % (host, egress.get("address")))
            check(egress.get("ptr_name") == ptr and egress.get("fcrdns") == passes,
                  "%s egress: ptr_name %s fcrdns %s, want %s %s"
                  % (host, egress.get("ptr_name"), egress.get("fcrdns"), ptr, passes))
            check((egress.get("spf") or {}).get("result") == "pass", "%s egress SPF %s" % (host, egress.get("spf")))
        outcomes["egress"].add(condition or "pass")
        rows = [record for record in records if record["host"] == host and record["check"] == "egress"]
        if any(record["check"] == "egress" for record in records):
            check(len(rows) == 1 and rows[0]["status"] == ("pass" if passes else "optional_fail"),
                  "%s egress rows in report.json: %s" % (host, [(row["id"], row["status"]) for row in rows]))
            check(any(name.startswith("egress") for name, _found in cases_by_host.get(host, [])),
                  "%s: no egress test case in report.xml" % host)
        print("ok  %-4s egress     %s (PTR %s)" % (host, condition or "pass", egress.get("ptr_name")))
    check(outcomes["egress"] >= {"pass", "egress_no_ptr", "egress_fcrdns_mismatch"},
          "the fleet shows matching, missing and mismatched PTRs: %s" % sorted(outcomes["egress"]))
    for word in ("roundtrip", "kate@fabrikam.test") + (("egress",) if any(
            record["check"] == "egress" for record in records) else ()):
        check(word in markdown, "report.md does not show %s" % word)
        check(word in html, "report.html does not show %s" % word)


def main(argv):
    if len(argv) >= 4 and argv[0] == "faults":
        check_faults(*argv[1:4])
    elif len(argv) == 4 and argv[0] == "regression":
        check_regression(*argv[1:4])
    elif len(argv) == 4 and argv[0] == "newrows":
        check_new_rows(*argv[1:4])
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
