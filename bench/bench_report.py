# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report scale: a fleet of 20 hosts with 200 domains each, every report format and the baseline (issue 15).

The fleet's facts are synthesised from real probe results: tests/unit/plugins/plugin_utils/fixtures/lab_full.json
(ansible_facts.mailflow of one host, captured from the real lab at detail: full) or --facts FILE in the same form,
at --detail (summary, the default: what smtp_probe and mx_probe store with facts: true, as the roles run them). Every host gets the
fixture's mx and smtp entries as they are, and --domains copies of its mx_probe (routes) entry, each under its own
domain dNNN.fleet.test and with labels as the outbound role sets them. Every --failing-every'th domain is made
undeliverable (passed false, verdict.deliverable false), so the renderings carry failures with transcripts.

Timed through the collection's own code (plugins/plugin_utils/_report.py and _baseline.py, imported as the filters
import them): the check records, the summary, the JSON document (serialised as to_nice_json does), Markdown, JUnit,
HTML; then the baseline: a snapshot, a comparison with a snapshot of a changed run, and its Markdown. Median of
--rounds.

Then it times the roles themselves, once each (--no-ansible skips them): `ansible-playbook` on localhost with the
report role, the baseline role saving, and the baseline role comparing, the hosts' facts in hostvars through the
jsonfile fact cache, as after a fleet run. That is the same work plus Ansible's own (reading the facts, templating,
writing the files); it prints each task's time from the log's timestamps.

Goal: the four formats in <= 10 s, through _report.py and through the report role; the baseline role's save and
compare also in <= 10 s each (each stopped after --ansible-timeout).

Usage: python3 bench/bench_report.py [--hosts 20] [--domains 200] [--rounds 3] [--ansible-timeout 60] [--no-ansible]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from _collection import REPO, expose_collection, link_collection, task_times  # bench/ is on sys.path: the scripts run as bench/NAME.py

FIXTURE = os.path.join(REPO, 'tests', 'unit', 'plugins', 'plugin_utils', 'fixtures', 'lab_full.json')
GOAL_SECONDS = 10.0


def domain_of(index):
    return 'd%03d.fleet.test' % index


def load_host_facts(path, detail):
    with open(path, encoding='utf-8') as handle:
        facts = json.load(handle)
    facts = facts.get('mailflow', facts)
    if detail == 'summary':
        from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import detail as lean  # pylint: disable=import-outside-toplevel
        facts = dict(facts, smtp=dict((name, lean.summarize_smtp(entry)) for name, entry in (facts.get('smtp') or {}).items()),
                     routes=dict((name, lean.summarize_route(entry)) for name, entry in (facts.get('routes') or {}).items()))
    routes = facts.get('routes') or {}
    if not routes:
        raise SystemExit('bench_report: %s has no routes (mx_probe) entry to scale' % path)
    return facts, next(iter(routes.values()))


def route_entry(template, index, failing):
    entry = copy.deepcopy(template)
    domain = domain_of(index)
    entry['domain'] = domain
    entry['labels'] = {'check': 'deliverable', 'role': 'outbound', 'domain': domain, 'target': domain, 'required': True}
    if failing:
        entry['passed'] = False
        entry['verdict'] = dict(entry.get('verdict') or {}, deliverable=False)
    return entry


def fleet_facts(host_facts, template, hosts, domains, failing_every):
    """{host: ansible_facts.mailflow}; every host's entries are their own objects, as Ansible would hold them."""
    fleet = {}
    for host_index in range(1, hosts + 1):
        facts = dict((section, copy.deepcopy(host_facts.get(section) or {})) for section in ('mx', 'smtp'))
        facts['routes'] = dict((domain_of(index), route_entry(template, index, failing_every and index % failing_every == 0))
                               for index in range(1, domains + 1))
        fleet['th%d' % host_index] = facts
    return fleet


def changed_run(fleet):
    """The same fleet after a change: one host's domain no longer deliverable, another's fixed."""
    changed = copy.deepcopy(fleet)
    first = next(iter(changed.values()))['routes']
    names = list(first)
    first[names[0]]['passed'] = False
    first[names[0]]['verdict'] = dict(first[names[0]].get('verdict') or {}, deliverable=False)
    return changed


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def one_round(report, baseline, fleet, changed, hosts):
    figures = {}
    figures['check records'], records = timed(report.check_records, fleet, hosts)
    figures['summary'], _summary = timed(report.summarize, records, hosts)
    figures['JSON document'], document = timed(report.report_document, records, hosts, 'bench_report')
    # to_nice_json: json.dumps(indent=2, sort_keys=True) with Ansible's encoder
    figures['JSON serialised'], text_json = timed(json.dumps, document, indent=2, sort_keys=True, ensure_ascii=False)
    figures['Markdown'], text_md = timed(report.render_markdown, records, hosts, 'bench_report')
    figures['JUnit'], text_junit = timed(report.render_junit, records, hosts)
    figures['HTML'], text_html = timed(report.render_html, records, hosts, 'bench_report')
    figures['baseline snapshot'], snapshot = timed(baseline.build_snapshot, fleet, hosts)
    _seconds, current = timed(baseline.build_snapshot, changed, hosts)
    figures['baseline compare'], diff = timed(baseline.compare, snapshot, current)
    figures['baseline Markdown'], text_diff = timed(baseline.render_markdown, diff, 'bench_report')
    sizes = {'records': len(records), 'JSON': len(text_json), 'Markdown': len(text_md), 'JUnit': len(text_junit),
             'HTML': len(text_html), 'baseline JSON': len(json.dumps(snapshot)), 'baseline Markdown': len(text_diff)}
    return figures, sizes


REPORT_PARTS = ('check records', 'summary', 'JSON document', 'JSON serialised', 'Markdown', 'JUnit', 'HTML')
BASELINE_PARTS = ('baseline snapshot', 'baseline compare', 'baseline Markdown')


def prepare_ansible(workdir, fleet, hosts):
    """The fact cache and inventory of a fleet run: the facts reach hostvars through the jsonfile fact cache (one file
    per host holding its ansible_facts), as they would after the probes ran."""
    cache = os.path.join(workdir, 'facts')
    os.makedirs(cache)
    prefix, wrap = cache_format()
    for host, facts in fleet.items():
        with open(os.path.join(cache, prefix + host), 'w', encoding='utf-8') as handle:
            json.dump(wrap({'mailflow': facts}), handle)
    with open(os.path.join(workdir, 'inventory.ini'), 'w', encoding='utf-8') as handle:
        handle.write('[transport]\n' + ''.join('%s ansible_connection=local\n' % host for host in hosts))


# role -> the extra variables of its run
ROLE_RUNS = (
    ('report', 'report', lambda workdir, hosts: {
        'mailflow_report_hosts': hosts, 'mailflow_report_print': False, 'mailflow_report_fail': False,
        'mailflow_report_dir': os.path.join(workdir, 'report')}),
    ('baseline save', 'baseline', lambda workdir, hosts: {
        'mailflow_baseline_hosts': hosts, 'mailflow_baseline_action': 'save',
        'mailflow_baseline_file': os.path.join(workdir, 'baseline.json')}),
    ('baseline compare', 'baseline', lambda workdir, hosts: {
        'mailflow_baseline_hosts': hosts, 'mailflow_baseline_action': 'compare', 'mailflow_baseline_print': False,
        'mailflow_baseline_fail': False, 'mailflow_baseline_file': os.path.join(workdir, 'baseline.json'),
        'mailflow_baseline_report_dir': os.path.join(workdir, 'baseline-diff')}),
)


def ansible_run(workdir, role, extra_vars, timeout):
    """One role on localhost over the hosts' facts (prepare_ansible), as after a fleet run: (seconds or None, task
    times). The task times come from the timestamps of ANSIBLE_LOG_PATH (each TASK line to the next)."""
    playbook = os.path.join(workdir, role + '.yml')
    with open(playbook, 'w', encoding='utf-8') as handle:
        handle.write('- hosts: localhost\n  gather_facts: false\n  roles: [mailops.mailflow.%s]\n' % role)
    log = os.path.join(workdir, role + '-%d.log' % len(os.listdir(workdir)))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(workdir, 'collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_CACHE_PLUGIN='jsonfile',
               ANSIBLE_CACHE_PLUGIN_CONNECTION=os.path.join(workdir, 'facts'), ANSIBLE_CACHE_PLUGIN_TIMEOUT='0',
               ANSIBLE_LOG_PATH=log)
    binary = os.path.join(os.path.dirname(sys.executable), 'ansible-playbook')
    command = [binary if os.path.exists(binary) else 'ansible-playbook', playbook, '-i',
               os.path.join(workdir, 'inventory.ini'), '-e', json.dumps(extra_vars)]
    output = os.path.join(workdir, 'ansible.out')
    started = time.perf_counter()
    with open(output, 'w', encoding='utf-8') as handle:
        child = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=workdir)
        try:
            returncode = child.wait(timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            if child.returncode is None:
                stop_tree(child)
    if returncode is None:
        return None, task_times(log)
    elapsed = time.perf_counter() - started
    if returncode != 0:
        with open(output, encoding='utf-8', errors='replace') as handle:
            raise RuntimeError('the %s role failed:\n%s' % (role, handle.read()[-3000:]))
    return elapsed, task_times(log)


def descendants(pid):
    """The processes under pid, from /proc (Ansible's workers start their own sessions, so killpg misses them)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry, encoding='utf-8', errors='replace') as handle:
                    parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_tree(child):
    """SIGSTOP the ansible-playbook process so that it forks no more, then SIGKILL it and every process under it."""
    try:
        os.kill(child.pid, signal.SIGSTOP)
    except ProcessLookupError:
        pass
    for pid in descendants(child.pid) + [child.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child.wait()


def cache_format():
    """(file name prefix, wrapper) of the jsonfile fact cache: ansible-core 2.19+ keys and wraps entries by schema."""
    try:
        from ansible._internal._plugins._cache import PluginInterposer  # pylint: disable=import-outside-toplevel
    except ImportError:
        return '', lambda value: value
    return PluginInterposer._get_wrapped_key_prefix(), lambda value: {PluginInterposer._PAYLOAD_KEY: json.dumps(value)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--hosts', type=int, default=20, help='hosts in the fleet (default 20)')
    parser.add_argument('--domains', type=int, default=200, help='mx_probe domains per host (default 200)')
    parser.add_argument('--failing-every', type=int, default=20,
                        help='every Nth domain is undeliverable (default 20; 0: none)')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds (default 3)')
    parser.add_argument('--facts', default=FIXTURE, help='one host\'s ansible_facts.mailflow (JSON) to scale')
    parser.add_argument('--detail', choices=('summary', 'full'), default='summary',
                        help='the detail of the facts: summary (the default, as the roles store them) or full')
    parser.add_argument('--no-ansible', action='store_true', help='skip the run of the report role (ansible-playbook)')
    parser.add_argument('--ansible-timeout', type=float, default=60.0,
                        help='stop the report role after this many seconds, and count the goal missed (default 60)')
    args = parser.parse_args()
    if args.hosts < 1 or args.domains < 1 or args.rounds < 1 or args.failing_every < 0:
        parser.error('--hosts, --domains and --rounds must be at least 1, --failing-every at least 0')
    # A timeout (tools/bench) sends SIGTERM: leave through the finally blocks, which stop ansible-playbook.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix='bench-report-')
    try:
        expose_collection(workdir)
        from ansible_collections.mailops.mailflow.plugins.plugin_utils import _baseline as baseline
        from ansible_collections.mailops.mailflow.plugins.plugin_utils import _report as report
        host_facts, template = load_host_facts(args.facts, args.detail)
        fleet = fleet_facts(host_facts, template, args.hosts, args.domains, args.failing_every)
        changed = changed_run(fleet)
        hosts = list(fleet)
        facts_bytes = len(json.dumps(fleet, separators=(',', ':')))
        print('bench_report: %d hosts x (%d mx_probe domains + %d mx + %d smtp entries), facts at detail %s %.1f MB of JSON '
              '(one routes entry %d bytes), every %s domain failing; %d rounds'
              % (args.hosts, args.domains, len(host_facts.get('mx') or {}), len(host_facts.get('smtp') or {}),
                 args.detail, facts_bytes / 1e6, len(json.dumps(template, separators=(',', ':'))),
                 '%dth' % args.failing_every if args.failing_every else 'no', args.rounds))
        rounds = [one_round(report, baseline, fleet, changed, hosts) for _index in range(args.rounds)]
        sizes = rounds[-1][1]
        median = dict((part, statistics.median(figures[part] for figures, _sizes in rounds))
                      for part in REPORT_PARTS + BASELINE_PARTS)
        for part in REPORT_PARTS + BASELINE_PARTS:
            print('  %-20s median %7.3f s' % (part, median[part]))
        report_total = statistics.median(sum(figures[part] for part in REPORT_PARTS) for figures, _sizes in rounds)
        baseline_total = statistics.median(sum(figures[part] for part in BASELINE_PARTS) for figures, _sizes in rounds)
        print('  output: %d records; JSON %.1f MB, Markdown %.1f MB, JUnit %.1f MB, HTML %.1f MB; baseline snapshot '
              '%.1f MB, baseline diff Markdown %d bytes'
              % (sizes['records'], sizes['JSON'] / 1e6, sizes['Markdown'] / 1e6, sizes['JUnit'] / 1e6,
                 sizes['HTML'] / 1e6, sizes['baseline JSON'] / 1e6, sizes['baseline Markdown']))
        print('  every report format (records, summary, JSON, Markdown, JUnit, HTML): median %.2f s' % report_total)
        print('  baseline (snapshot, compare, Markdown): median %.2f s' % baseline_total)
        figure = '%.2f s (with the baseline %.2f s)' % (report_total, report_total + baseline_total)
        goals = [('every format through _report.py, %d hosts x %d domains' % (args.hosts, args.domains),
                  report_total <= GOAL_SECONDS, figure)]
        if not args.no_ansible:
            link_collection(os.path.join(workdir, 'collections'))
            prepare_ansible(workdir, fleet, hosts)
            for label, role, extra in ROLE_RUNS:
                elapsed, tasks = ansible_run(workdir, role, extra(workdir, hosts), args.ansible_timeout)
                if elapsed is None:
                    print('  the %s role through ansible-playbook: stopped after %.0f s (--ansible-timeout); the tasks '
                          'that finished:' % (label, args.ansible_timeout))
                else:
                    print('  the %s role through ansible-playbook (facts from the fact cache, %d checks): %.2f s'
                          % (label, sizes['records'], elapsed))
                for name, seconds in tasks:
                    print('    %7.2f s  %s' % (seconds, name))
                goals.append(('the %s role, %d hosts x %d domains' % (label, args.hosts, args.domains),
                              elapsed is not None and elapsed <= GOAL_SECONDS,
                              '> %.0f s (stopped)' % args.ansible_timeout if elapsed is None else '%.2f s' % elapsed))
            with open(os.path.join(workdir, 'report', 'report.json'), encoding='utf-8') as handle:
                checks = len(json.load(handle)['checks'])
            if checks != sizes['records']:
                raise RuntimeError('the report role wrote %d checks, _report.py %d' % (checks, sizes['records']))
        for name, met, figure in goals:
            print('  report scale: %-52s %-30s goal <= %.0f s: %s'
                  % (name, figure, GOAL_SECONDS, 'met' if met else 'MISSED'))
        return 0 if all(met for _name, met, _figure in goals) else 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
