#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Concurrent probes from one process against the real lab, with the engine in a thread pool.

    python load.py --collections DIR [--probes 500] [--failing-probes 150] [--in-flight 100] [--report FILE]

Phase `lab`: --probes probes to Postfix mx1 and mx2 and the fault server's Exchange persona, in turn; each must
pass. Phase `failing`: --failing-probes probes to servers that fail them (refused, reset mid-reply, a 10 MB
reply, a self-signed certificate with verification, no banner), so the error paths are loaded too; each must
get its own diagnosis. At most --in-flight probes run at once, and at most PER_TARGET_LIMIT against one server:
Postfix refuses more than 50 connections from one client (smtpd_client_connection_count_limit) and runs at most
100 smtpd per instance.

Holds when, in each phase: every probe has a result with the expected diagnosis, the open file descriptors and
the threads are the same before and after, no ResourceWarning (an unclosed socket) was raised, each probe kept
its deadline and the phase its time budget. Prints the figures; exit status 0 only when all of that holds.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
import warnings

PER_TARGET_LIMIT = 40
DEADLINE_S = 30.0
DEADLINE_SLACK_MS = 150
BUDGET_S = 180.0


def open_fds():
    return sorted(int(name) for name in os.listdir('/proc/self/fd'))


def fd_targets(fds):
    targets = {}
    for fd in fds:
        try:
            targets[fd] = os.readlink('/proc/self/fd/%d' % fd)
        except OSError:
            targets[fd] = '?'
    return targets


def rss_mb():
    with open('/proc/self/status') as handle:
        for line in handle:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return 0.0


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def lab_targets(env):
    """(phase lab, phase failing): probe targets with the outcome each must get."""
    ca_file = env['MAILFLOW_LAB_CA_FILE']
    with open(env['MAILFLOW_LAB_FAULT_MAP']) as handle:
        fault_map = json.load(handle)

    def fault(behaviour, expect, **options):
        server = fault_map[behaviour]
        return {'name': 'faultd_%s' % behaviour, 'host': server['host'], 'server_name': server['hostname'],
                'rcpt_to': ['kate@exchange.test'], 'ca_path': server['ca_file'], 'options': options, 'expect': expect}

    def failure(status, category):
        return {'passed': False, 'status': status, 'category': (category,)}

    # A passing probe with a slow step (Postfix under this load) is diagnosed as a tarpit: still a pass.
    passing = {'passed': True, 'status': 'ok', 'category': ('recipients_accepted', 'tarpit')}
    lab = [
        {'name': 'postfix_mx1', 'host': env['MAILFLOW_LAB_MX1_ADDR'], 'server_name': env['MAILFLOW_LAB_MX1_HOSTNAME'],
         'rcpt_to': ['kate@' + env['MAILFLOW_LAB_MX1_DOMAIN']], 'ca_path': ca_file, 'options': {}, 'expect': passing},
        {'name': 'postfix_mx2', 'host': env['MAILFLOW_LAB_MX2_ADDR'], 'server_name': env['MAILFLOW_LAB_MX2_HOSTNAME'],
         'rcpt_to': ['kate@' + env['MAILFLOW_LAB_MX2_DOMAIN']], 'ca_path': ca_file, 'options': {}, 'expect': passing},
        fault('exchange', passing),
    ]
    failing = [
        {'name': 'refused', 'host': env['MAILFLOW_LAB_REFUSED_ADDR'], 'server_name': None, 'rcpt_to': ['kate@fabrikam.test'],
         'ca_path': ca_file, 'options': {}, 'expect': failure('connection', 'destination_firewall_or_service_down')},
        fault('reset_mid_reply', failure('connection', 'connection_reset')),
        fault('huge_reply', failure('protocol', 'reply_too_large')),
        fault('tls_self_signed', failure('tls', 'tls_cert_self_signed')),
        fault('no_banner', failure('timeout', 'no_greeting'), command_timeout=1),
    ]
    return lab, failing


def run_phase(run_probe, targets, count, in_flight):
    limits = dict((target['name'], threading.BoundedSemaphore(PER_TARGET_LIMIT)) for target in targets)
    gauge = {'now': 0, 'peak': 0}
    gauge_lock = threading.Lock()

    def probe(index):
        target = targets[index % len(targets)]
        probe_options = {
            'host': target['host'], 'server_name': target['server_name'], 'ca_path': target['ca_path'],
            'tls_verify': True, 'helo_name': 'contoso.test', 'mail_from': 'load-%d@contoso.test' % index,
            'rcpt_to': target['rcpt_to'], 'connect_timeout': 10, 'command_timeout': 20, 'deadline': DEADLINE_S,
        }
        probe_options.update(target['options'])
        with limits[target['name']]:
            with gauge_lock:
                gauge['now'] += 1
                gauge['peak'] = max(gauge['peak'], gauge['now'])
            try:
                return index, target, run_probe(probe_options)
            finally:
                with gauge_lock:
                    gauge['now'] -= 1

    # Warm up once per target: imports, cached TLS contexts and the FQDN lookup are not leaks.
    for index in range(len(targets)):
        probe(index)
    fds_before = open_fds()
    threads_before = threading.active_count()
    rss_before = rss_mb()

    results = {}
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', ResourceWarning)
        with concurrent.futures.ThreadPoolExecutor(max_workers=in_flight) as pool:
            futures = [pool.submit(probe, index) for index in range(count)]
            for future in concurrent.futures.as_completed(futures):
                index, target, result = future.result()
                results[index] = (target, result)
    wall = time.monotonic() - started
    threads_after = threading.active_count()
    fds_after = open_fds()
    rss_after = rss_mb()
    resource_warnings = [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)]

    problems = []
    missing = sorted(set(range(count)) - set(results))
    if missing:
        problems.append('%d probes lost: %s' % (len(missing), missing[:20]))
    per_target = {}
    elapsed = []
    slow = 0
    for index in sorted(results):
        target, result = results[index]
        diagnosis = result.get('diagnosis') or {}
        expect = target['expect']
        got = {'passed': result.get('passed'), 'status': diagnosis.get('status'), 'category': diagnosis.get('category')}
        as_expected = (got['passed'] is expect['passed'] and got['status'] == expect['status']
                       and got['category'] in expect['category'])
        entry = per_target.setdefault(target['name'], {'probes': 0, 'as_expected': 0, 'expected': expect, 'categories': {}})
        entry['probes'] += 1
        entry['as_expected'] += as_expected
        entry['categories'][got['category']] = entry['categories'].get(got['category'], 0) + 1
        if not as_expected:
            problems.append('probe %d to %s: %s at %s, expected %s'
                            % (index, target['name'], got, diagnosis.get('step'), target['expect']))
        elapsed.append(result['elapsed_ms'])
        slow += 'tarpit' in (diagnosis.get('conditions') or [])
        if result['elapsed_ms'] > DEADLINE_S * 1000 + DEADLINE_SLACK_MS:
            problems.append('probe %d ran %.0f ms, over its deadline' % (index, result['elapsed_ms']))
    if fds_after != fds_before:
        before, after = fd_targets(fds_before), fd_targets(fds_after)
        problems.append('open file descriptors changed: %d -> %d; new: %s' % (
            len(fds_before), len(fds_after), dict((fd, after[fd]) for fd in after if fd not in before)))
    if threads_after != threads_before:
        problems.append('threads changed: %d -> %d' % (threads_before, threads_after))
    if resource_warnings:
        problems.append('%d ResourceWarnings (unclosed sockets?): %s' % (len(resource_warnings), resource_warnings[:3]))
    if wall > BUDGET_S:
        problems.append('the phase took %.1f s, over its %.0f s budget' % (wall, BUDGET_S))
    figures = {
        'probes': count, 'results': len(results), 'in_flight_limit': in_flight, 'in_flight_peak': gauge['peak'],
        'per_target_limit': PER_TARGET_LIMIT, 'wall_s': round(wall, 2), 'probes_per_s': round(len(results) / wall, 1),
        'elapsed_ms': {'p50': percentile(elapsed, 0.5), 'p95': percentile(elapsed, 0.95), 'max': max(elapsed)} if elapsed else None,
        'fds': {'before': len(fds_before), 'after': len(fds_after)},
        'threads': {'before': threads_before, 'after': threads_after},
        'rss_mb': {'before': round(rss_before, 1), 'after': round(rss_after, 1)},
        'per_target': per_target, 'slow_notes': slow, 'resource_warnings': len(resource_warnings), 'problems': problems,
    }
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--collections', required=True, help='the directory that holds ansible_collections/')
    parser.add_argument('--probes', type=int, default=500)
    parser.add_argument('--failing-probes', type=int, default=150)
    parser.add_argument('--in-flight', type=int, default=100)
    parser.add_argument('--report', help='write the figures here as JSON')
    options = parser.parse_args()

    sys.path.insert(0, options.collections)
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp.dialogue import run_probe

    lab, failing = lab_targets(os.environ)
    figures = {
        'lab': run_phase(run_probe, lab, options.probes, options.in_flight),
        'failing': run_phase(run_probe, failing, options.failing_probes, options.in_flight),
    }
    print(json.dumps(figures, indent=1, sort_keys=True))
    if options.report:
        with open(options.report, 'w') as handle:
            json.dump(figures, handle, indent=1, sort_keys=True)
    problems = ['%s: %s' % (phase, problem) for phase in ('lab', 'failing') for problem in figures[phase]['problems']]
    for problem in problems[:50]:
        print('FAIL: %s' % problem)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
