# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""P3 end to end: the whole `ansible localhost -m mailops.mailflow.mx_probe` process, N domains against 1 (issue 15).

What a user runs, timed as a whole process: `ansible localhost -m mailops.mailflow.mx_probe` with the default
(minimal) callback writing to a file. The domains dNNNN.e2e.test each have one exchanger at its own loopback address
(127.0.8.1 .. 127.0.11.250, 250 a /24) that greets after --delay seconds and answers like Postfix; a dnspython
responder on 127.0.8.254 serves their MX and A records. A child process serves them all (bench_fanout's SMTP
protocol) and exits with this process, or after --lifetime seconds.

Rounds alternate the variants (1 domain, --domains, --big) in a rotating order; --big only in the first --big-rounds
rounds (it takes 10-30 s a run today). The figures are medians:
  P3       --domains (200) / 1 domain,  goal <= 1.5x
  P3 big   --big (1000) / 1 domain,     goal <= 2x
  RSS      the module process's peak RSS at --big domains, goal <= 200 MB. Measured in one extra, untimed run at
           1 and at --big domains: the module runs under a wrapper interpreter (ansible_python_interpreter) that
           starts the real Python as its child and reports getrusage(RUSAGE_CHILDREN).ru_maxrss, the child's peak
           RSS, and the child's wall time. AnsiballZ runs the module inside that one process, so this is the
           module's peak; the rest of the ansible process's time is the controller's (start-up, the result).
  size     bytes of JSON per domain of the mx_probe result (one domain's entry in `results`, compact, and the
           whole printed result / domains), stdout bytes per domain; and the line count of one passing ad-hoc
           `ansible localhost -m mailops.mailflow.smtp_probe` with the default callback (against the real lab's
           Postfix mx1 when it answers on 127.0.0.11:25, else against one of the bench exchangers). Goals: a
           domain <= 4 KB of JSON, no domain's result also whole in ansible_facts, smtp_probe <= 150 lines.

Loopback only. Usage: python3 bench/bench_e2e.py [--domains 200] [--big 1000] [--rounds 3] [--big-rounds 2]
                      python3 bench/bench_e2e.py --rounds 1 --big 0        # the short run (P3 and sizes only)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _collection import link_collection  # bench/ is on sys.path: the scripts run as bench/NAME.py
from bench_fanout import SlowGreetingSmtp

ZONE = 'e2e.test'
DNS_ADDRESS = '127.0.8.254'
PER_SUBNET = 250
MAX_DOMAINS = 4 * PER_SUBNET  # 127.0.8.0/24 .. 127.0.11.0/24
MAIL_FROM = 'chris@contoso.test'
HELO = 'contoso.test'
LAB_MX1 = ('127.0.0.11', 25)
P3_GOAL = 1.5
BIG_GOAL = 2.0
RSS_GOAL_MB = 200
ENTRY_GOAL_BYTES = 4096
LINES_GOAL = 150
RUN_TIMEOUT = 300


def domain_of(index):
    return 'd%04d.%s' % (index, ZONE)


def target_of(index):
    return '127.0.%d.%d' % (8 + (index - 1) // PER_SUBNET, (index - 1) % PER_SUBNET + 1)


# --- child: SMTP listeners and DNS responder -------------------------------------------------------------------------

def common_port(addresses):
    """A TCP port free on every address, and UDP on the DNS address."""
    for _attempt in range(100):
        probe = socket.socket()
        probe.bind((addresses[0], 0))
        port = probe.getsockname()[1]
        probe.close()
        sockets = []
        try:
            for address in addresses:
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((address, port))
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(udp)
            udp.bind((DNS_ADDRESS, port))
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise OSError('no port free on all %d addresses' % len(addresses))


class DnsResponder(asyncio.DatagramProtocol):
    """MX dNNNN.e2e.test -> mx.dNNNN.e2e.test, A mx.dNNNN.e2e.test -> its loopback address; nothing else exists."""

    def __init__(self, domains):
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset
        self.dns = (dns.flags, dns.message, dns.rcode, dns.rdatatype, dns.rrset)
        self.domains = domains
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        flags, message, rcode, rdatatype, rrset = self.dns
        try:
            query = message.from_wire(data)
        except Exception:  # pylint: disable=broad-except
            return
        response = message.make_response(query)
        response.flags |= flags.AA
        question = query.question[0]
        labels = question.name.to_text(omit_final_dot=True).lower().split('.')
        index = None
        if len(labels) >= 3 and labels[-2:] == ZONE.split('.') and labels[-3][:1] == 'd' and labels[-3][1:].isdigit():
            index = int(labels[-3][1:])
        if index is None or not 1 <= index <= self.domains or len(labels) not in (3, 4):
            response.set_rcode(rcode.NXDOMAIN)
        elif len(labels) == 3 and question.rdtype == rdatatype.MX:
            response.answer.append(rrset.from_text(question.name, 300, 'IN', 'MX', '10 mx.%s.' % domain_of(index)))
        elif len(labels) == 4 and labels[0] == 'mx' and question.rdtype == rdatatype.A:
            response.answer.append(rrset.from_text(question.name, 300, 'IN', 'A', target_of(index)))
        self.transport.sendto(response.to_wire(), addr)


async def serve(domains, delay, lifetime):
    addresses = [target_of(index) for index in range(1, domains + 1)]
    port = common_port(addresses)
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: SlowGreetingSmtp(delay, True), address, port, backlog=64)
               for address in addresses]
    transport, _protocol = await loop.create_datagram_endpoint(lambda: DnsResponder(domains),
                                                               local_addr=(DNS_ADDRESS, port))
    print(json.dumps({'port': port}), flush=True)
    stdin_closed = asyncio.Event()
    # The parent keeps our stdin open; EOF means it is gone.
    loop.add_reader(sys.stdin.fileno(), lambda: stdin_closed.set() if not os.read(sys.stdin.fileno(), 1024) else None)
    try:
        await asyncio.wait_for(stdin_closed.wait(), lifetime)
    except asyncio.TimeoutError:
        pass
    finally:
        loop.remove_reader(sys.stdin.fileno())
        transport.close()
        for server in servers:
            server.close()


def start_servers(domains, delay, lifetime):
    command = [sys.executable, os.path.abspath(__file__), '--serve', '--domains', str(domains), '--delay', str(delay),
               '--lifetime', str(lifetime)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = {}

    def read_ready():
        ready.update(json.loads(child.stdout.readline() or '{}'))

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(60)
    if 'port' not in ready:
        stop_servers(child)
        raise RuntimeError('the bench servers did not start')
    return child, ready['port']


def stop_servers(child):
    child.stdin.close()
    try:
        child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    child.stdout.close()


# --- parent: the ansible runs ------------------------------------------------------------------------------------------

def ansible_binary():
    beside = os.path.join(os.path.dirname(sys.executable), 'ansible')
    return beside if os.path.exists(beside) else shutil.which('ansible')


class Runner:
    def __init__(self, workdir, port):
        self.workdir = workdir
        self.port = port
        self.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(workdir, 'collections'), ANSIBLE_NOCOLOR='1',
                        ANSIBLE_LOCALHOST_WARNING='False', ANSIBLE_INVENTORY_UNPARSED_WARNING='False',
                        ANSIBLE_LOCAL_TEMP=os.path.join(workdir, 'tmp'), ANSIBLE_REMOTE_TEMP=os.path.join(workdir, 'tmp'),
                        ANSIBLE_HOME=os.path.join(workdir, 'home'))
        self.env.pop('ANSIBLE_STDOUT_CALLBACK', None)
        self.count = 0

    def mx_probe_args(self, domains):
        concurrency = min(max(domains, 1), 500)
        return {'domains': [domain_of(index) for index in range(1, domains + 1)], 'nameservers': [DNS_ADDRESS],
                'dns_port': self.port, 'port': self.port, 'helo_name': HELO, 'mail_from': MAIL_FROM,
                'concurrency': concurrency, 'fail_on_failure': False}

    def run(self, module, module_args, extra=()):
        """One `ansible localhost -m MODULE`; returns (seconds, stdout path)."""
        self.count += 1
        output = os.path.join(self.workdir, 'run-%03d.out' % self.count)
        command = [ansible_binary(), 'localhost', '-m', module, '-a', json.dumps(module_args)] + list(extra)
        started = time.perf_counter()
        with open(output, 'w', encoding='utf-8') as handle:
            completed = subprocess.run(command, env=self.env, stdout=handle, stderr=subprocess.STDOUT, cwd=self.workdir,
                                       timeout=RUN_TIMEOUT, check=False)
        elapsed = time.perf_counter() - started
        if completed.returncode != 0:
            with open(output, encoding='utf-8', errors='replace') as handle:
                raise RuntimeError('ansible -m %s exited %d:\n%s' % (module, completed.returncode, handle.read()[-3000:]))
        return elapsed, output

    def mx_probe(self, domains, extra=()):
        elapsed, output = self.run('mailops.mailflow.mx_probe', self.mx_probe_args(domains), extra)
        result = printed_result(output)
        results = result.get('results', [])
        bad = [entry['domain'] for entry in results if not entry.get('passed')]
        if len(results) != domains or bad:
            raise RuntimeError('mx_probe on %d domains: %d results, not passed: %s' % (domains, len(results), bad[:5]))
        return elapsed, output, result


def printed_result(path):
    """The result the minimal callback printed: `localhost | SUCCESS => {...}`."""
    with open(path, encoding='utf-8') as handle:
        text = handle.read()
    marker = text.find(' => {')
    if marker < 0:
        raise RuntimeError('no result in %s:\n%s' % (path, text[-2000:]))
    return json.JSONDecoder().raw_decode(text[marker + 4:])[0]


def write_rss_wrapper(workdir):
    """An interpreter for ansible_python_interpreter that runs the real one and appends its peak RSS (KiB) to a file."""
    path = os.path.join(workdir, 'rss-python')
    log = os.path.join(workdir, 'rss.log')
    with open(path, 'w', encoding='utf-8') as handle:
        handle.write('#!%s\n' % sys.executable
                     + 'import resource, subprocess, sys, time\n'
                     + 'started = time.perf_counter()\n'
                     + 'code = subprocess.call([%r] + sys.argv[1:])\n' % sys.executable
                     + 'with open(%r, "a") as log:\n' % log
                     + '    log.write("%d %.3f\\n" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,'
                     + ' time.perf_counter() - started))\n'
                     + 'sys.exit(code)\n')
    os.chmod(path, 0o755)
    return path, log


def module_run(runner, wrapper, log, domains):
    """One untimed run under the wrapper: (module peak RSS in MB, module process seconds, whole ansible seconds)."""
    if os.path.exists(log):
        os.unlink(log)
    elapsed, _output, _result = runner.mx_probe(domains, ['-e', 'ansible_python_interpreter=' + wrapper])
    with open(log, encoding='utf-8') as handle:
        reports = [line.split() for line in handle if line.strip()]
    if len(reports) != 1:
        raise RuntimeError('the RSS wrapper reported %d module runs, expected 1' % len(reports))
    return int(reports[0][0]) / 1024.0, float(reports[0][1]), elapsed


def smtp_probe_lines(runner):
    """Line count of one passing ad-hoc smtp_probe with the default callback; and against what it ran."""
    try:
        with socket.create_connection(LAB_MX1, timeout=2) as sock:
            sock.settimeout(5)
            lab_up = sock.recv(64).startswith(b'220')
    except OSError:
        lab_up = False
    if lab_up:
        where = 'the real lab Postfix mx1 %s:%d, STARTTLS verified, rcpt kate@fabrikam.test' % LAB_MX1
        args = {'host': LAB_MX1[0], 'port': LAB_MX1[1], 'helo_name': HELO, 'mail_from': MAIL_FROM,
                'rcpt_to': ['kate@fabrikam.test'], 'server_name': 'mx1.fabrikam.test'}
        ca = '/var/tmp/mailops-mailflow-lab/tls/ca.crt'
        if os.path.exists(ca):
            args['ca_path'] = ca
    else:
        where = 'bench exchanger %s:%d (the lab is not up)' % (target_of(1), runner.port)
        args = {'host': target_of(1), 'port': runner.port, 'helo_name': HELO, 'mail_from': MAIL_FROM,
                'rcpt_to': ['postmaster@' + domain_of(1)]}
    _elapsed, output = runner.run('mailops.mailflow.smtp_probe', args)
    with open(output, encoding='utf-8') as handle:
        text = handle.read()
    if 'SUCCESS' not in text.split('\n', 1)[0] and 'CHANGED' not in text.split('\n', 1)[0]:
        raise RuntimeError('smtp_probe did not pass:\n%s' % text[-2000:])
    return len(text.splitlines()), len(text.encode('utf-8')), where


def result_sizes(result, output, domains):
    compact = dict(separators=(',', ':'))
    entry = len(json.dumps(result['results'][0], **compact))
    whole = len(json.dumps(result, **compact))
    facts = len(json.dumps(result.get('ansible_facts', {}), **compact))
    return {'entry': entry, 'whole': whole / domains, 'facts': facts / domains, 'stdout': os.path.getsize(output) / domains}


def returned_twice(result):
    """How many domains' results are also returned whole in ansible_facts (the same entry, or a copy of it)."""
    routes = ((result.get('ansible_facts') or {}).get('mailflow') or {}).get('routes') or {}
    return sum(1 for entry in result.get('results', []) if routes.get(entry.get('domain')) == entry)


def measure(args):
    workdir = tempfile.mkdtemp(prefix='bench-e2e-')
    child = None
    try:
        link_collection(os.path.join(workdir, 'collections'))
        os.makedirs(os.path.join(workdir, 'tmp'))
        served = max(args.domains, args.big)
        child, port = start_servers(served, args.delay, args.lifetime)
        runner = Runner(workdir, port)
        print('bench_e2e: `ansible localhost -m mailops.mailflow.mx_probe`, exchangers greet after %.0f ms, '
              'port %d, %d rounds' % (args.delay * 1000, port, args.rounds))
        sizes = [1, args.domains] + ([args.big] if args.big else [])
        runner.mx_probe(1)  # warm-up: byte-compiled plugins, first connections
        times = dict((size, []) for size in sizes)
        last = {}
        for round_index in range(args.rounds):
            shift = round_index % len(sizes)
            for size in sizes[shift:] + sizes[:shift]:
                if size == args.big and round_index >= args.big_rounds:
                    continue
                elapsed, output, result = runner.mx_probe(size)
                times[size].append(elapsed)
                last[size] = (output, result)
                print('  round %d: %4d domain%s %7.2f s  (stdout %9d bytes)'
                      % (round_index + 1, size, ' ' if size == 1 else 's', elapsed, os.path.getsize(output)))
        median = dict((size, statistics.median(values)) for size, values in times.items())
        for size in sizes:
            print('  %4d domain%s  median %7.2f s of %d runs' % (size, ' ' if size == 1 else 's', median[size],
                                                                 len(times[size])))
        print('  result size (JSON, compact): per domain entry in results / whole printed result per domain / '
              'ansible_facts per domain / stdout per domain')
        for size in sizes:
            figure = result_sizes(last[size][1], last[size][0], size)
            print('  %4d domain%s  %7d B  %9.0f B  %9.0f B  %9.0f B'
                  % (size, ' ' if size == 1 else 's', figure['entry'], figure['whole'], figure['facts'],
                     figure['stdout']))
        lines, size_bytes, where = smtp_probe_lines(runner)
        print('  ad-hoc smtp_probe, default callback: %d lines, %d bytes (%s)' % (lines, size_bytes, where))
        entry = result_sizes(last[args.domains][1], last[args.domains][0], args.domains)['entry']
        twice = returned_twice(last[args.domains][1])
        goals = [('P3 end to end %d domains within %.1fx of 1' % (args.domains, P3_GOAL),
                  median[args.domains] <= P3_GOAL * median[1],
                  '%d / 1 domain = %.2fx' % (args.domains, median[args.domains] / median[1])),
                 ('result size: mx_probe domain <= %d B of JSON' % ENTRY_GOAL_BYTES, entry <= ENTRY_GOAL_BYTES,
                  'one domain = %d B' % entry),
                 ('result size: nothing returned twice', not twice,
                  '%d domain(s) also in facts' % twice if twice else 'no copy in facts'),
                 ('result size: ad-hoc smtp_probe <= %d lines' % LINES_GOAL, lines <= LINES_GOAL, '%d lines' % lines)]
        wrapper, log = write_rss_wrapper(workdir)
        print('  one untimed run per size under a wrapper interpreter (ru_maxrss and wall time of the module process):')
        rss = {}
        for size in ([1, args.big] if args.big else sizes):
            rss[size], module_seconds, whole = module_run(runner, wrapper, log, size)
            values = (size, ' ' if size == 1 else 's', rss[size], module_seconds, whole, whole - module_seconds)
            print('  %4d domain%s  module peak RSS %6.1f MB, module process %5.2f s of %5.2f s (controller and '
                  'transfer %5.2f s)' % values)
        if args.big:
            goals.append(('P3 end to end %d domains within %.1fx of 1' % (args.big, BIG_GOAL),
                          median[args.big] <= BIG_GOAL * median[1],
                          '%d / 1 domain = %.2fx' % (args.big, median[args.big] / median[1])))
            goals.append(('module peak RSS at %d domains <= %d MB' % (args.big, RSS_GOAL_MB),
                          rss[args.big] <= RSS_GOAL_MB, 'peak RSS = %.1f MB' % rss[args.big]))
        for name, met, figure in goals:
            print('  %-48s %-28s %s' % (name, figure, 'met' if met else 'MISSED'))
        return 0 if all(met for _name, met, _figure in goals) else 1
    finally:
        if child is not None:
            stop_servers(child)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--domains', type=int, default=200, help='domains of the P3 run (default 200)')
    parser.add_argument('--big', type=int, default=1000, help='domains of the large run, 0 to skip it (default 1000)')
    parser.add_argument('--rounds', type=int, default=3, help='timed rounds, each runs every size once (default 3)')
    parser.add_argument('--big-rounds', type=int, default=2, help='of these, how many include --big (default 2)')
    parser.add_argument('--delay', type=float, default=0.2, help='greeting delay in seconds (default 0.2)')
    parser.add_argument('--lifetime', type=float, default=900.0, help='the servers stop after this many seconds anyway')
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.domains, args.delay, args.lifetime))
        return 0
    if not 2 <= args.domains <= MAX_DOMAINS or not (args.big == 0 or 2 <= args.big <= MAX_DOMAINS) or args.rounds < 1:
        parser.error('--domains and --big must be from 2 to %d (--big may be 0), --rounds at least 1' % MAX_DOMAINS)
    args.big_rounds = max(1, min(args.big_rounds, args.rounds))
    if not ansible_binary():
        print('bench_e2e: ansible not found (run it with the venv Python: make bench)')
        return 1
    # A timeout (tools/bench) sends SIGTERM: leave through the finally block, which stops the servers.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    return measure(args)


if __name__ == '__main__':
    sys.exit(main())
