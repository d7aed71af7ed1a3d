#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Check the job artifacts (set_stats) of one change_window run, as the default callback prints them.

    python check_run.py pre|post|no-baseline LOG STORE

The default callback with show_custom_stats prints the run's stats (per_host false) on one line,
"\tRUN: {json}"; AWX keeps the same data as the job's artifacts.
"""

import json
import sys

REGRESSED = [
    {'host': 'edge1', 'id': 'inbound/fabrikam.test/recipients/mx1.fabrikam.test', 'kind': 'regression'},
    {'host': 'edge1', 'id': 'inbound/fabrikam.test/recipients/mx2.fabrikam.test', 'kind': 'regression'},
    {'host': 'edge1', 'id': 'outbound/fabrikam.test/delivery/fabrikam.test', 'kind': 'regression'},
]


def artifacts(log):
    with open(log) as handle:
        lines = [line for line in handle.read().splitlines() if line.startswith('\tRUN: ')]
    if len(lines) != 1:
        raise SystemExit('check_run.py: %s has %d RUN: stats lines, expected 1' % (log, len(lines)))
    return json.loads(lines[0][len('\tRUN: '):])


def expect(what, got, want):
    if got != want:
        raise SystemExit('check_run.py: %s is %r, expected %r' % (what, got, want))


def main():
    mode, log, store = sys.argv[1:4]
    stats = artifacts(log)
    report = stats.get('mailflow_report') or {}
    baseline = stats.get('mailflow_baseline')
    # six required checks: mx_set, banner and recipients on mx1 and mx2 (banner per MX), the outbound delivery
    expect('mailflow_report.checks', report.get('checks'), 6)
    if mode == 'pre':
        expect('mailflow_report.verdict', report.get('verdict'), 'passed')
        expect('mailflow_report.failed', report.get('failed'), 0)
        expect('mailflow_baseline', baseline and {k: baseline.get(k) for k in ('action', 'store', 'hosts', 'checks')},
               {'action': 'save', 'store': store, 'hosts': 1, 'checks': 6})
    elif mode == 'post':
        expect('mailflow_report.verdict', report.get('verdict'), 'failed')
        expect('mailflow_report.failed', report.get('failed'), 3)
        expect('mailflow_baseline.action', baseline and baseline.get('action'), 'compare')
        expect('mailflow_baseline.store', baseline.get('store'), store)
        expect('mailflow_baseline.verdict', baseline.get('verdict'), 'regressed')
        expect('mailflow_baseline.counts.regression', baseline['counts'].get('regression'), 3)
        expect('mailflow_baseline.regressions', sorted(baseline['regressions'], key=lambda item: item['id']), REGRESSED)
        expect('mailflow_baseline.line prefix', baseline['line'].split(':')[0], 'mailflow baseline')
    elif mode == 'no-baseline':
        # the baseline step failed before it compared: the report's artifacts only
        expect('mailflow_baseline', baseline, None)
        expect('mailflow_report.verdict', report.get('verdict'), 'failed')
    else:
        raise SystemExit('check_run.py: unknown mode %r' % mode)
    print('check_run.py: %s run (%s): artifacts as expected' % (mode, store))


if __name__ == '__main__':
    main()
