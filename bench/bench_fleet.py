# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""P5, fleet: the outbound playbook on one transport host against all of them at once (issues 7 and 15).

Builds a healthy fleet lab (lab/fleet/fleetctl up --faults none: transport hosts with their own sshd and address,
Postfix, BIND and faultd's Exchange persona in an "internet" namespace), then runs
`ansible-playbook mailops.mailflow.outbound` (the outbound role, then the report role) over SSH with pipelining:
--limit th1 against every transport host with --forks equal to their number, alternating ABBA, and prints the
median wall times and their ratio. Goal: all hosts <= 2x one host. Every run starts with fresh SSH connections
(fleetctl exec ends the ControlPersist masters with the run), as a scheduled run on a real controller would.
The fleet is torn down at the end, also on failure. Needs root; without it, it says so and exits 0.

Usage: python3 bench/bench_fleet.py [--hosts 20] [--rounds 2] [--no-floor]      # --hosts 6 --rounds 1: the short run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from _collection import REPO, link_collection, task_times  # bench/ is on sys.path: the scripts run as bench/NAME.py

FLEETCTL = os.path.join(REPO, 'lab', 'fleet', 'fleetctl')
GOAL = 2.0
# A prefix and state dir of this run alone (tools/bench passes the prefix, to clean up after a killed run): a test
# run's fleet (mft...) or a user's (mff) may be up as well, and `fleetctl up` tears down a fleet of its prefix.
PREFIX = os.environ.get('MAILFLOW_FLEET_BENCH_PREFIX') or 'mfb%s' % os.urandom(2).hex()
FLEET_ENV = {'MAILFLOW_FLEET_PREFIX': PREFIX, 'MAILFLOW_FLEET_STATE': '/var/tmp/mailops-mailflow-fleet-' + PREFIX}
VARS = {
    'mailflow_outbound_hosts': 'transport',
    'mailflow_outbound_mail_from': 'postmaster@contoso.test',
    'mailflow_outbound_targets': [{'domain': 'fabrikam.test', 'recipient': 'kate@fabrikam.test'},
                                  {'domain': 'exchange.test', 'recipient': 'kate@exchange.test'}],
    'mailflow_outbound_ca_path': '{{ mailflow_fleet_ca_file }}',
    'mailflow_report_title': 'Mail flow report: bench_fleet',
    'mailflow_report_print': False,
}


def fleetctl(*args, **kwargs):
    env = dict(os.environ, **FLEET_ENV)
    return subprocess.run([FLEETCTL] + list(args), env=env, check=kwargs.pop('check', True), **kwargs)


def ansible_playbook():
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    return beside if os.path.exists(beside) else shutil.which('ansible-playbook')


def run_playbook(workdir, inventory, limit, forks, index):
    """One timed `ansible-playbook mailops.mailflow.outbound` in the fleet's controller namespace."""
    log = os.path.join(workdir, 'run-%02d-%s.log' % (index, limit))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(workdir, 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOG_PATH=log + '.ansible', **FLEET_ENV)
    command = [FLEETCTL, 'exec', '--', ansible_playbook(), 'mailops.mailflow.outbound', '-i', inventory,
               '-e', '@' + os.path.join(workdir, 'vars.json'),
               '-e', 'mailflow_report_dir=' + os.path.join(workdir, 'report-%02d' % index),
               '--limit', limit, '--forks', str(forks)]
    started, launched = time.perf_counter(), datetime.datetime.now()
    with open(log, 'w', encoding='utf-8') as output:
        completed = subprocess.run(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=workdir,
                                   check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        with open(log, encoding='utf-8') as output:
            tail = output.read()[-3000:]
        raise RuntimeError('ansible-playbook --limit %s exited %d:\n%s' % (limit, completed.returncode, tail))
    with open(os.path.join(workdir, 'report-%02d' % index, 'report.json'), encoding='utf-8') as handle:
        report = json.load(handle)
    return elapsed, report, task_times(log + '.ansible', launched)


def run_ping(workdir, inventory, limit, forks):
    """Wall time of `ansible LIMIT -m ansible.builtin.ping` from the controller namespace: the cost of a module run."""
    binary = os.path.join(os.path.dirname(ansible_playbook()), 'ansible')
    env = dict(os.environ, ANSIBLE_NOCOLOR='1', **FLEET_ENV)
    started = time.perf_counter()
    completed = subprocess.run([FLEETCTL, 'exec', '--', binary, limit, '-i', inventory, '-m', 'ansible.builtin.ping',
                                '--forks', str(forks)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=workdir, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError('ansible %s -m ping exited %d:\n%s' % (limit, completed.returncode, completed.stdout[-2000:]))
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--hosts', type=int, default=20, help='transport hosts (default 20; at least 5)')
    parser.add_argument('--rounds', type=int, default=2, help='timed runs per side (default 2)')
    parser.add_argument('--no-floor', action='store_true', help='skip the ansible -m ping floor (two runs)')
    args = parser.parse_args()
    if args.hosts < 5 or args.rounds < 1:
        parser.error('--hosts must be at least 5 and --rounds at least 1')
    if os.geteuid() != 0:
        print('bench_fleet: SKIPPED: the fleet lab needs root (network namespaces, sshd, Postfix, nft)')
        return 0
    if not ansible_playbook():
        print('bench_fleet: ansible-playbook not found (run it with the venv Python: make bench)')
        return 1

    # A timeout (tools/bench) sends SIGTERM: leave through the finally blocks, which clean up.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix='bench-fleet-')
    link_collection(os.path.join(workdir, 'collections'))
    with open(os.path.join(workdir, 'vars.json'), 'w', encoding='utf-8') as handle:
        json.dump(VARS, handle)
    up_started = time.perf_counter()
    try:
        fleetctl('up', '--hosts', str(args.hosts), '--faults', 'none', '--python', sys.executable)
        up_seconds = time.perf_counter() - up_started
        inventory = fleetctl('inventory', '--path', stdout=subprocess.PIPE, text=True).stdout.strip()
        every = 'transport'
        # Warm-up (byte-compiled modules, the smtpd processes of every host's connections), then ABBA so drift
        # hits both sides alike.
        run_playbook(workdir, inventory, every, args.hosts, 0)
        order = []
        for index in range(args.rounds):
            order += [('th1', 1), (every, args.hosts)] if index % 2 == 0 else [(every, args.hosts), ('th1', 1)]
        times = {'th1': [], every: []}
        breakdown = {}
        for index, (limit, forks) in enumerate(order, start=1):
            elapsed, report, tasks = run_playbook(workdir, inventory, limit, forks, index)
            breakdown[limit] = (elapsed, tasks)
            hosts = report['hosts']
            checks = report['summary']['checks']
            if report['summary']['verdict'] != 'passed' or len(hosts) != (1 if limit == 'th1' else args.hosts):
                raise RuntimeError('run %d (%s): verdict %s on %s' % (index, limit, report['summary']['verdict'],
                                                                      hosts))
            times[limit].append(elapsed)
            print('  run %d: --limit %-9s --forks %d  %6.2f s  (%d hosts, %d checks passed)'
                  % (index, limit, forks, elapsed, len(hosts), checks))
        one, many = statistics.median(times['th1']), statistics.median(times[every])
        ratio = many / one
        print('bench_fleet: P5, `ansible-playbook mailops.mailflow.outbound` over SSH (pipelining), fleet up in '
              '%.1f s' % up_seconds)
        print('  1 host  (--limit th1, --forks 1):          median %6.2f s of %d runs' % (one, len(times['th1'])))
        print('  %d hosts (--limit transport, --forks %d):   median %6.2f s of %d runs'
              % (args.hosts, args.hosts, many, len(times[every])))
        print('  where the time goes, the last run of each side (from the ansible log\'s timestamps, each task to the '
              'next one):')
        names = [name for name, _seconds in breakdown['th1'][1]]
        names += [name for name, _seconds in breakdown[every][1] if name not in names]
        print('  %9s %9s  %s' % ('1 host', '%d hosts' % args.hosts, 'task'))
        for name in names:
            one = sum(seconds for task, seconds in breakdown['th1'][1] if task == name)
            all_hosts = sum(seconds for task, seconds in breakdown[every][1] if task == name)
            print('  %8.2fs %8.2fs  %s' % (one, all_hosts, name))
        print('  %8.2fs %8.2fs  the whole run' % (breakdown['th1'][0], breakdown[every][0]))
        if not args.no_floor:
            placements = (('th1', 1), (every, args.hosts))
            floor = dict((limit, run_ping(workdir, inventory, limit, forks)) for limit, forks in placements)
            values = (floor['th1'], args.hosts, floor[every], floor[every] / floor['th1'])
            print('  floor: `ansible -m ansible.builtin.ping` (one Python module run per host over SSH, as above): '
                  '1 host %.2f s, %d hosts %.2f s = %.2fx' % values)
        met = ratio <= GOAL
        print('  P5 %d hosts / 1 host = %.2fx   goal <= %.1fx: %s'
              % (args.hosts, ratio, GOAL, 'met' if met else 'MISSED'))
        return 0 if met else 1
    finally:
        down = fleetctl('down', check=False)
        if down.returncode != 0:
            print('bench_fleet: WARNING: fleetctl down exited %d; state kept in %s'
                  % (down.returncode, FLEET_ENV['MAILFLOW_FLEET_STATE']))
        else:
            shutil.rmtree(FLEET_ENV['MAILFLOW_FLEET_STATE'], ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
