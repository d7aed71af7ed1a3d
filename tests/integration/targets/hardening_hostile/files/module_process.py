#!/usr/bin/env python
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile servers, seen from the module process: run smtp_probe as its own process per case, as Ansible
runs a module, and bound what that process costs. Peak memory comes from wait4() on that very process
(ru_maxrss), so each case is measured on its own.

    python module_process.py --cases vars/cases.yml --fault-map MAP --collections DIR [--report FILE]

Exit status 0 only when every case holds. One line per case on stdout, the figures as JSON in --report.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import yaml

MODULE = 'ansible_collections.mailops.mailflow.plugins.modules.smtp_probe'
# Interpreter start-up, Ansible imports and teardown on a busy 2-core machine, over the probe's deadline.
STARTUP_ALLOWANCE_S = 3.0
# A case that overruns this is killed, so a hang fails the suite instead of stalling it.
HARD_KILL_MARGIN_S = 30.0
PARALLEL = 4


def module_args(case, defaults, server):
    args = dict(defaults)
    args.update(case.get('options') or {})
    args.update({'host': server['host'], 'port': server['port'], 'server_name': server['hostname'],
                 'ca_path': server.get('ca_file'), 'name': 'hostile_%s' % case['id']})
    return args


def run_module(python, collections, args, workdir):
    """Run the module once; returns (exit status, stdout, stderr, wall seconds, peak RSS in KiB, CPU seconds)."""
    fd, args_path = tempfile.mkstemp(suffix='.json', dir=workdir)
    with os.fdopen(fd, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    env = dict(os.environ, PYTHONPATH=collections, PYTHONDONTWRITEBYTECODE='1')
    with tempfile.TemporaryFile(dir=workdir) as out, tempfile.TemporaryFile(dir=workdir) as err:
        started = time.monotonic()
        proc = subprocess.Popen([python, '-m', MODULE, args_path], stdout=out, stderr=err, env=env, cwd=workdir)
        killer = threading.Timer(float(args['deadline']) + HARD_KILL_MARGIN_S, proc.kill)
        killer.start()
        try:
            # wait4 reaps this child and returns its own resource usage (not the sum of all children).
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.monotonic() - started
        proc.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out.seek(0)
        err.seek(0)
        return proc.returncode, out.read().decode('utf-8', 'replace'), err.read().decode('utf-8', 'replace'), wall, \
            usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def peak_rss_of(python, code):
    """Peak RSS in MiB of ``python -c code``, measured the same way as the module runs."""
    proc = subprocess.Popen([python, '-c', code])
    _pid, _status, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_maxrss / 1024.0


def check_case(case, outcome, limits):
    """The list of problems with one case's process run (empty when it holds)."""
    status, stdout, stderr, wall, _peak_kib, _cpu = outcome['raw']
    expect = case['expect']
    problems = []
    if status != 0:
        problems.append('module exit status %s' % status)
    if stderr.strip():
        problems.append('module wrote to stderr: %s' % stderr.strip()[-500:])
    if 'Traceback' in stdout or 'Traceback' in stderr:
        problems.append('a traceback was printed')
    try:
        result = json.loads(stdout)
    except ValueError:
        return problems + ['stdout is not JSON: %r' % stdout[-300:]]
    outcome['result'] = result
    if result.get('failed') or 'exception' in result:
        problems.append('the task failed: %s' % result.get('msg'))
    diagnosis = result.get('diagnosis') or {}
    for key in ('status', 'category', 'step'):
        if diagnosis.get(key) != expect[key]:
            problems.append('diagnosis.%s is %r, expected %r' % (key, diagnosis.get(key), expect[key]))
    if result.get('passed') is not expect['passed']:
        problems.append('passed is %r, expected %r' % (result.get('passed'), expect['passed']))
    if 'error' in expect and diagnosis.get('error') != expect['error']:
        problems.append('diagnosis.error is %r, expected %r' % (diagnosis.get('error'), expect['error']))
    elapsed_ms = result.get('elapsed_ms', float('inf'))
    if elapsed_ms > outcome['deadline_s'] * 1000 + limits['deadline_slack_ms']:
        problems.append('elapsed %.0f ms is over the %.1f s deadline' % (elapsed_ms, outcome['deadline_s']))
    if wall > outcome['deadline_s'] + STARTUP_ALLOWANCE_S:
        problems.append('the module process ran %.2f s, over deadline + %.1f s' % (wall, STARTUP_ALLOWANCE_S))
    if outcome['peak_mb'] >= limits['memory_limit_mb']:
        problems.append('peak RSS %.1f MB, limit %d MB' % (outcome['peak_mb'], limits['memory_limit_mb']))
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cases', required=True)
    parser.add_argument('--fault-map', required=True)
    parser.add_argument('--collections', required=True, help='the directory that holds ansible_collections/')
    parser.add_argument('--report', help='write the figures here as JSON')
    options = parser.parse_args()

    with open(options.cases) as handle:
        spec = yaml.safe_load(handle)
    with open(options.fault_map) as handle:
        fault_map = json.load(handle)
    limits = {'deadline_slack_ms': spec['deadline_slack_ms'], 'memory_limit_mb': spec['memory_limit_mb']}
    # A complete, valid session with the Exchange persona first: the reference for memory and start-up.
    baseline_case = {'id': 'baseline_exchange', 'behaviour': 'exchange',
                     'expect': {'passed': True, 'status': 'ok', 'category': 'recipients_accepted', 'step': 'rcpt'}}
    cases = [baseline_case] + spec['hostile_cases']

    # The measure itself must see memory: a child that holds 120 MiB has to be reported as at least that.
    control_mb = peak_rss_of(sys.executable, "block = b'x' * (120 * 1024 * 1024)")
    if control_mb < 120:
        print('the memory measure is broken: a 120 MiB child was measured at %.1f MiB' % control_mb)
        return 1
    print('positive control: a child holding 120 MiB peaks at %.1f MiB' % control_mb)

    outcomes = {}
    with tempfile.TemporaryDirectory(prefix='mailflow-hostile-') as workdir:
        def run(case):
            args = module_args(case, spec['probe_defaults'], fault_map[case['behaviour']])
            raw = run_module(sys.executable, options.collections, args, workdir)
            return case['id'], {'raw': raw, 'deadline_s': float(args['deadline']), 'peak_mb': raw[4] / 1024.0}

        outcomes.update([run(baseline_case)])
        with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
            outcomes.update(pool.map(run, spec['hostile_cases']))

    failures = 0
    report = []
    baseline_mb = outcomes['baseline_exchange']['peak_mb']
    print('%-26s %-24s %10s %8s %8s %9s %7s' % ('case', 'category', 'elapsed', 'wall', 'cpu', 'peak RSS', 'delta'))
    for case in cases:
        outcome = outcomes[case['id']]
        problems = check_case(case, outcome, limits)
        result = outcome.get('result') or {}
        _status, _out, _err, wall, _peak, cpu = outcome['raw']
        row = {'case': case['id'], 'behaviour': case['behaviour'],
               'category': (result.get('diagnosis') or {}).get('category'), 'elapsed_ms': result.get('elapsed_ms'),
               'deadline_s': outcome['deadline_s'], 'wall_s': round(wall, 3), 'cpu_s': round(cpu, 3),
               'peak_rss_mb': round(outcome['peak_mb'], 1), 'delta_mb': round(outcome['peak_mb'] - baseline_mb, 1),
               'problems': problems}
        report.append(row)
        print('%-26s %-24s %8.0fms %7.2fs %7.2fs %7.1fMB %+6.1fMB %s' % (
            case['id'], row['category'], row['elapsed_ms'] or -1, wall, cpu, row['peak_rss_mb'], row['delta_mb'],
            'ok' if not problems else 'FAIL: ' + '; '.join(problems)))
        failures += bool(problems)
    if options.report:
        with open(options.report, 'w') as handle:
            json.dump(report, handle, indent=1)
    print('%d cases, %d failed; peak RSS max %.1f MB (limit %d MB), baseline %.1f MB' % (
        len(report), failures, max(row['peak_rss_mb'] for row in report), limits['memory_limit_mb'], baseline_mb))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
