# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mx_probe fan-out against a sequential swaks loop (issue 5).

N domains (default 200), each with one exchanger at its own loopback address 127.0.4.<n>, every
exchanger greeting after a fixed delay (default 200 ms). A child process serves them all: the
SMTP listeners (asyncio) and a tiny authoritative DNS responder (dnspython) for the domains.

Measured, in this order:
  1. one probe: the route engine on one domain (MX lookup + one dialogue), best of a few runs;
  2. fan-out: the route engine on all N domains in ONE call (MX lookups + N dialogues);
  3. swaks: a sequential loop of swaks over the same N exchangers, the same steps (EHLO, MAIL
     FROM, RCPT TO, QUIT), given each exchanger's address so that it does no DNS at all.
Goals: fan-out at least 20x faster than the swaks loop, and within 1.5x of one probe.

Loopback only; the child stops when this process exits or after --lifetime seconds.
Usage: python3 bench/bench_fanout.py [--targets 200] [--delay 0.2] [--concurrency 200] [--no-swaks]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _collection import expose_collection  # bench/ is on sys.path: the scripts run as bench/NAME.py

SUBNET = '127.0.4.'
DNS_ADDRESS = '127.0.4.254'
ZONE = 'bench.test'
MAIL_FROM = 'chris@contoso.test'
HELO = 'contoso.test'
SWAKS_TIMEOUT = 30


def domain_of(index):
    return 'd%03d.%s' % (index, ZONE)


def target_of(index):
    return SUBNET + str(index)


# --- child: SMTP listeners and DNS responder -------------------------------------------------------------------------

def common_port(addresses):
    """A TCP port free on every address (and UDP on the DNS address)."""
    for _attempt in range(100):
        probe = socket.socket()
        probe.bind((addresses[0], 0))
        port = probe.getsockname()[1]
        probe.close()
        sockets = []
        try:
            for address in addresses:
                sock = socket.socket()
                sock.bind((address, port))
                sockets.append(sock)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((DNS_ADDRESS, port))
            sockets.append(udp)
            return port
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise OSError('no port free on all %d addresses' % len(addresses))


class DnsResponder(asyncio.DatagramProtocol):
    """MX dNNN.bench.test -> mx.dNNN.bench.test, A mx.dNNN.bench.test -> 127.0.4.NNN; nothing else exists."""

    def __init__(self, targets):
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset
        self.dns = (dns.flags, dns.message, dns.rcode, dns.rdatatype, dns.rrset)
        self.targets = targets
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
        if labels[-2:] == ZONE.split('.') and labels[-3].startswith('d') and labels[-3][1:].isdigit():
            index = int(labels[-3][1:])
        if index is None or not 1 <= index <= self.targets:
            response.set_rcode(rcode.NXDOMAIN)
        elif len(labels) == 3 and question.rdtype == rdatatype.MX:
            response.answer.append(rrset.from_text(question.name, 300, 'IN', 'MX', '10 mx.%s.' % domain_of(index)))
        elif len(labels) == 4 and labels[0] == 'mx' and question.rdtype == rdatatype.A:
            response.answer.append(rrset.from_text(question.name, 300, 'IN', 'A', target_of(index)))
        elif len(labels) not in (3, 4):
            response.set_rcode(rcode.NXDOMAIN)
        self.transport.sendto(response.to_wire(), addr)


class SlowGreetingSmtp(asyncio.Protocol):
    """Greets after ``delay`` seconds, then answers like Postfix: EHLO (with PIPELINING when asked), MAIL, RCPT, RSET, QUIT.

    A plain Protocol rather than streams: the server shares the machine's cores with the engine being measured.
    """

    def __init__(self, delay, pipelining):
        self.delay = delay
        self.ehlo = b'250-bench\r\n%s250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n' % (b'250-PIPELINING\r\n' if pipelining else b'')
        self.transport = None
        self.buffer = b''
        self.greeted = False

    def connection_made(self, transport):
        self.transport = transport
        asyncio.get_running_loop().call_later(self.delay, self.greet)

    def greet(self):
        if not self.transport.is_closing():
            self.greeted = True
            self.transport.write(b'220 bench ESMTP slow greeting\r\n')
            self.data_received(b'')

    def data_received(self, data):
        self.buffer += data
        if not self.greeted:
            return
        replies = []
        while b'\n' in self.buffer:
            line, self.buffer = self.buffer.split(b'\n', 1)
            verb = line[:4].upper()
            if verb in (b'EHLO', b'HELO'):
                replies.append(self.ehlo)
            elif verb == b'QUIT':
                replies.append(b'221 2.0.0 Bye\r\n')
                self.transport.write(b''.join(replies))
                self.transport.close()
                return
            else:
                replies.append(REPLIES.get(verb, b'502 5.5.2 Error: command not recognized\r\n'))
        if replies:
            self.transport.write(b''.join(replies))


REPLIES = {b'MAIL': b'250 2.1.0 Ok\r\n', b'RCPT': b'250 2.1.5 Ok\r\n', b'RSET': b'250 2.0.0 Ok\r\n'}


async def serve(targets, delay, lifetime, pipelining):
    addresses = [target_of(index) for index in range(1, targets + 1)]
    port = common_port(addresses)
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: SlowGreetingSmtp(delay, pipelining), address, port, backlog=64) for address in addresses]
    transport, _protocol = await loop.create_datagram_endpoint(lambda: DnsResponder(targets), local_addr=(DNS_ADDRESS, port))
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


# --- parent: measurements ----------------------------------------------------------------------------------------------

def import_engine(workdir):
    expose_collection(workdir)
    from ansible_collections.mailops.mailflow.plugins.module_utils._route import engine
    from ansible_collections.mailops.mailflow.plugins.module_utils._dns.mx import resolve_many
    return engine, resolve_many


def start_servers(args):
    command = [sys.executable, os.path.abspath(__file__), '--serve', '--targets', str(args.targets), '--delay', str(args.delay),
               '--lifetime', str(args.lifetime)] + (['--no-pipelining'] if args.no_pipelining else [])
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = {}

    def read_ready():
        ready.update(json.loads(child.stdout.readline() or '{}'))

    reader = threading.Thread(target=read_ready, daemon=True)
    reader.start()
    reader.join(30)
    if 'port' not in ready:
        child.kill()
        child.wait()
        raise RuntimeError('the bench servers did not start')
    return child, ready['port']


def engine_run(engine, domains, port, concurrency, records=None):
    """One engine call; returns (seconds, stats). records: pre-resolved MX records (no DNS in the call)."""
    options = {'helo_name': HELO, 'mail_from': MAIL_FROM, 'quit_after': 'rcpt', 'tls': 'none',
               'connect_timeout': 5.0, 'command_timeout': 10.0, 'deadline': 20.0}
    mx_options = engine.dns_options(nameservers=[DNS_ADDRESS], dns_port=port, dns_timeout=2.0, dns_lifetime=5.0, ip_version='4')
    route_probe = engine.RouteProbe(domains, options, mx_options, mode='all', concurrency=concurrency, port=port, records=records)
    started = time.perf_counter()
    results = route_probe.run()
    elapsed = time.perf_counter() - started
    failed = [result for result in results if not result['verdict']['deliverable']]
    if failed:
        raise RuntimeError('%d domain(s) not deliverable, e.g. %s' % (len(failed), failed[0]['verdict']['summary']))
    return elapsed, route_probe.stats


def swaks_loop(swaks, targets, port, pipelining):
    started = time.perf_counter()
    for index in range(1, targets + 1):
        command = [swaks, '--server', target_of(index), '--port', str(port), '--from', MAIL_FROM, '--to',
                   'postmaster@%s' % domain_of(index), '--helo', HELO, '--quit-after', 'RCPT', '--timeout', str(SWAKS_TIMEOUT)]
        command += ['--pipeline'] if pipelining else []
        completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=SWAKS_TIMEOUT + 10,
                                   check=False)
        if completed.returncode != 0 or '250 2.1.5' not in completed.stdout:
            raise RuntimeError('swaks failed on %s:\n%s' % (target_of(index), completed.stdout[-2000:]))
    return time.perf_counter() - started


def open_fds():
    return len(os.listdir('/proc/self/fd')) if os.path.isdir('/proc/self/fd') else -1


def measure(args):
    workdir = tempfile.mkdtemp(prefix='bench-fanout-')
    child = None
    try:
        engine, resolve_many = import_engine(workdir)
        child, port = start_servers(args)
        domains = [domain_of(index) for index in range(1, args.targets + 1)]
        print('bench_fanout: %d targets on %s1-%d port %d, banner delay %.0f ms, concurrency %d, PIPELINING %s'
              % (args.targets, SUBNET, args.targets, port, args.delay * 1000, args.concurrency,
                 'off' if args.no_pipelining else 'offered'))
        # Pre-resolved through the in-bench DNS responder, with the DNS engine, before any timing.
        mx_options = engine.dns_options(nameservers=[DNS_ADDRESS], dns_port=port, ip_version='4')
        records = dict((record['domain'], record) for record in resolve_many(domains, mx_options))

        single = min(engine_run(engine, [domains[index % len(domains)]], port, 1, records)[0] for index in range(args.repeat))
        print('  one probe, pre-resolved (1 dialogue), best of %d:                 %8.3f s' % (args.repeat, single))
        threads_before, fds_before = threading.active_count(), open_fds()
        runs = [engine_run(engine, domains, port, args.concurrency, records) for _repeat in range(args.repeat)]
        fanout = statistics.median(elapsed for elapsed, _stats in runs)
        stats = runs[-1][1]
        print('  fan-out, pre-resolved (%d dialogues, one call), median of %d:     %8.3f s   (%d probes, %d connects)'
              % (args.targets, args.repeat, fanout, stats['probes'], stats['connects']))

        single_dns = min(engine_run(engine, [domains[index % len(domains)]], port, 1)[0] for index in range(args.repeat))
        print('  one probe with DNS (MX + A lookups, 1 dialogue), best of %d:      %8.3f s' % (args.repeat, single_dns))
        fanout_dns = statistics.median(engine_run(engine, domains, port, args.concurrency)[0] for _repeat in range(args.repeat))
        print('  fan-out with DNS (%d domains, one call), median of %d:            %8.3f s   (%.2fx one probe with DNS)'
              % (args.targets, args.repeat, fanout_dns, fanout_dns / single_dns))
        print('  after the engine runs: threads %d -> %d, open descriptors %d -> %d'
              % (threads_before, threading.active_count(), fds_before, open_fds()))

        goals = [('fan-out within 1.5x of one probe', fanout <= 1.5 * single, 'fan-out / one probe = %.2fx' % (fanout / single))]
        swaks = shutil.which('swaks')
        if args.no_swaks:
            print('  swaks loop: skipped (--no-swaks)')
        elif swaks is None:
            print('  swaks loop: skipped, swaks is not installed (apt install swaks)')
        else:
            loop = swaks_loop(swaks, args.targets, port, not args.no_pipelining)
            print('  swaks loop (%d runs in a row, given the address, --quit-after RCPT): %6.3f s   (%.3f s each)'
                  % (args.targets, loop, loop / args.targets))
            goals.insert(0, ('fan-out at least 20x faster than the swaks loop', loop >= 20 * fanout,
                             'swaks loop / fan-out = %.1fx' % (loop / fanout)))
            print('  swaks loop / fan-out with DNS = %.1fx' % (loop / fanout_dns))
        for name, met, figure in goals:
            print('  %-50s %-28s %s' % (name, figure, 'met' if met else 'MISSED'))
        return 0 if all(met for _name, met, _figure in goals) else 1
    finally:
        if child is not None:
            child.stdin.close()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            child.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--targets', type=int, default=200, help='domains/exchangers (1-250), default 200')
    parser.add_argument('--delay', type=float, default=0.2, help='banner delay in seconds, default 0.2')
    parser.add_argument('--concurrency', type=int, default=200, help='engine concurrency, default 200')
    parser.add_argument('--repeat', type=int, default=3, help='engine runs to take the median/best of, default 3')
    parser.add_argument('--no-swaks', action='store_true', help='skip the swaks loop (about targets x 0.3 s)')
    parser.add_argument('--no-pipelining', action='store_true',
                        help='servers do not offer PIPELINING (and swaks runs without --pipeline)')
    parser.add_argument('--lifetime', type=float, default=600.0, help='the servers stop after this many seconds anyway')
    parser.add_argument('--serve', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 1 <= args.targets <= 250:
        parser.error('--targets must be from 1 to 250 (127.0.4.1-250)')
    if args.serve:
        asyncio.run(serve(args.targets, args.delay, args.lifetime, not args.no_pipelining))
        return 0
    return measure(args)


if __name__ == '__main__':
    sys.exit(main())
