# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""P2, round trips: one full SMTP dialogue over a 50 ms RTT path, against the least it can take (issue 7).

netem is not available on this kernel (no sch_netem), so the delay comes from a userspace TCP relay, a child
process on loopback: it holds every chunk 25 ms in each direction (50 ms RTT) and connects upstream 1.5 RTT
after accepting, so the TCP handshake plus the greeting's way back cost what they cost on a real 50 ms path
(the greeting reaches the client 2 RTT after its SYN). It also records when each chunk passed, which gives the
round trips the client really made.

Minimal round trips of a dialogue that sends one message (RFC 5321 with RFC 2920 PIPELINING): 5.
  1 connect     the TCP handshake
  1 banner      a client must wait for the 220 greeting before EHLO (RFC 5321 3.1, 4.3.1)
  1 EHLO        its reply says whether PIPELINING is offered
  1 MAIL, RCPT, DATA   one group; DATA must end a group (RFC 2920 3.1), its 354 ends the round
  1 message and QUIT   the message may start a group and QUIT may follow it (RFC 2920 3.1): 250 and 221 together
The issue lists "connect, banner+EHLO, MAIL/RCPT/DATA pipelined, message, QUIT": also five, with the banner and
EHLO in one round (a client may not send EHLO before the greeting) and QUIT in its own (RFC 2920 lets it ride with
the message). Lockstep (no pipelining) needs 8; with STARTTLS (TLS 1.3: one round for the handshake, the client's
Finished travels with the second EHLO) 8 pipelined.

Servers: faultd's Exchange persona (started here on a free loopback port, no root), and Postfix mx1 of the real
lab (127.0.0.11:25) when it is up, or when this runs as root (then it starts the lab and stops it again).

Figure: median dialogue time / (minimal round trips x RTT) for the engine (goal <= 1.1), beside a bare socket
client that does exactly the minimal rounds through the same relay (the relay's own overhead).

Usage: python3 bench/bench_dialogue_rtt.py [--rtt 50] [--rounds 15] [--no-postfix] [--no-tls]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from _collection import REPO, expose_collection  # bench/ is on sys.path: the scripts run as bench/NAME.py

LABCTL = os.path.join(REPO, 'lab', 'real', 'labctl')
FAULTD = os.path.join(REPO, 'lab', 'servers', 'faultd.py')
POSTFIX = ('127.0.0.11', 25)
HELO = 'contoso.test'
MAIL_FROM = 'chris@contoso.test'
# DATA rounds deliver real messages: to admin, so the mailboxes the tests read stay small.
RECIPIENTS = {'postfix': 'admin@fabrikam.test', 'exchange': 'admin@exchange.test'}
SUBJECT = 'mailflow bench_dialogue_rtt'
BODY = 'bench_dialogue_rtt test message\n'
TIMEOUT = 10.0
GOAL = 1.1


# --- the delay relay (child process) -------------------------------------------------------------------------------
# Threads with blocking sockets, not asyncio: time.sleep() wakes within a few microseconds of the due time,
# an event loop's timers only to the millisecond, and ten late hops would show up in the figure.

class RelayChild(object):
    def __init__(self, upstreams, rtt_ms):
        self.one_way = rtt_ms / 2000.0
        self.upstreams = upstreams
        self.output = threading.Lock()

    def report(self, record):
        with self.output:
            sys.stdout.write(json.dumps(record) + '\n')
            sys.stdout.flush()

    def serve(self):
        listeners = []
        for upstream in self.upstreams:
            listener = socket.socket()
            listener.bind(('127.0.0.1', 0))
            listener.listen(16)
            listeners.append(listener)
            threading.Thread(target=self.accept_loop, args=(listener, upstream), daemon=True).start()
        self.report({'ports': [listener.getsockname()[1] for listener in listeners]})
        # The parent holds our stdin and never writes to it: end of file means the parent is gone.
        while sys.stdin.buffer.read(4096):
            pass

    def accept_loop(self, listener, upstream):
        while True:
            client, peer = listener.accept()
            # Written before the client can finish its dialogue: the parent drains these first.
            self.report({'open': peer[1]})
            threading.Thread(target=self.connection, args=(client, peer[1], upstream), daemon=True).start()

    def connection(self, client, peer_port, upstream):
        started = time.monotonic()
        events, lock = [], threading.Lock()
        # The client's connect() returned at once (the kernel finished the handshake on loopback). On a real path
        # the SYN/SYN-ACK takes one RTT and the ACK half of one before the server accepts and greets: wait so long.
        time.sleep(3 * self.one_way)
        try:
            server = socket.create_connection(upstream, timeout=TIMEOUT)
        except OSError as exc:
            client.close()
            self.report({'done': peer_port, 'error': str(exc)})
            return
        server.settimeout(None)
        for sock in (client, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pumps = [threading.Thread(target=self.pump, args=(client, server, 'c>s', started, events, lock)),
                 threading.Thread(target=self.pump, args=(server, client, 's>c', started, events, lock))]
        for thread in pumps:
            thread.start()
        for thread in pumps:
            thread.join()
        for sock in (client, server):
            sock.close()
        self.report({'done': peer_port, 'events': sorted(events)})

    def pump(self, source, sink, direction, started, events, lock):
        """A fixed-latency line: each chunk leaves one_way after it arrived, in order."""
        line = queue.Queue()

        def deliver():
            while True:
                due, data = line.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if not data:
                        sink.shutdown(socket.SHUT_WR)
                        return
                    sink.sendall(data)
                except OSError:
                    return
                with lock:
                    events.append((round((time.monotonic() - started) * 1000.0, 3), direction, len(data)))

        deliverer = threading.Thread(target=deliver)
        deliverer.start()
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b''
            line.put((time.monotonic() + self.one_way, data))
            if not data:
                break
        deliverer.join()


class Relay(object):
    """The relay child: ports in the order of the upstreams; the chunk log of every connection."""

    def __init__(self, upstreams, rtt_ms):
        argv = [sys.executable, os.path.abspath(__file__), '--relay-child', '--rtt', str(rtt_ms)]
        argv += ['%s:%d' % upstream for upstream in upstreams]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.ports = self.read(10.0)['ports']

    def read(self, timeout):
        ready, _w, _x = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError('the delay relay exited (%s)' % self.proc.poll())
        return json.loads(line)

    def connections(self):
        """After a dialogue: the chunk logs of every connection it opened (the engine may open more than one)."""
        opened, finished = set(), []

        def take(record):
            if 'open' in record:
                opened.add(record['open'])
            elif 'error' in record:
                raise RuntimeError('relay: %s' % record['error'])
            else:
                finished.append(record)

        # Every `open` line was written while the dialogue ran: take what is there, then wait for each `done`.
        record = self.read(0)
        while record is not None:
            take(record)
            record = self.read(0)
        if not opened and not finished:
            raise RuntimeError('no connection reached the delay relay')
        while opened - set(item['done'] for item in finished):
            record = self.read(TIMEOUT)
            if record is None:
                raise RuntimeError('the delay relay reported nothing for %.0f s' % TIMEOUT)
            take(record)
        return finished

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def round_trips(events):
    """1 for the connect, plus one per flight of server data the client waited for (direction changes)."""
    flights, previous = 0, None
    for _at, direction, _size in events:
        if direction == 's>c' and previous != 's>c':
            flights += 1
        previous = direction
    return 1 + flights


# --- the clients -----------------------------------------------------------------------------------------------------

def import_engine(workdir):
    expose_collection(workdir)
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import dialogue, message, options
    return dialogue, message, options


def read_reply(sock, buffer):
    """Read one complete reply (its last line is `NNN `); returns (code, rest of the buffer)."""
    while True:
        start = 0
        while True:
            end = buffer.find(b'\r\n', start)
            if end < 0:
                break
            if buffer[start + 3:start + 4] == b' ':
                return int(buffer[start:start + 3]), buffer[end + 2:]
            start = end + 2
        data = sock.recv(65536)
        if not data:
            raise ConnectionError('the server closed the connection')
        buffer += data


def bare_pipelined(port, rcpt, wire_message):
    """The minimal client: banner; EHLO; MAIL+RCPT+DATA in one write; message+QUIT in one write."""
    sock = socket.create_connection(('127.0.0.1', port), timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        buffer = b''
        for commands, expected in (
                (None, [220]),
                (b'EHLO ' + HELO.encode() + b'\r\n', [250]),
                (b'MAIL FROM:<' + MAIL_FROM.encode() + b'>\r\nRCPT TO:<' + rcpt.encode() + b'>\r\nDATA\r\n',
                 [250, 250, 354]),
                (wire_message + b'QUIT\r\n', [250, 221])):
            if commands:
                sock.sendall(commands)
            for want in expected:
                code, buffer = read_reply(sock, buffer)
                if code != want:
                    raise RuntimeError('bare client: got %d, expected %d' % (code, want))
    finally:
        sock.close()


def engine_runner(dialogue, options):
    def run():
        result = dialogue.run_probe(options)
        if not result['passed']:
            raise RuntimeError('engine dialogue failed: %s' % result['diagnosis'].get('summary'))
        return result
    return run


# --- servers ---------------------------------------------------------------------------------------------------------

def free_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def start_faultd(workdir):
    """faultd's Exchange persona alone on a free loopback port; returns (process, port)."""
    port = free_port()
    map_file = os.path.join(workdir, 'faultd-map.json')
    proc = subprocess.Popen([sys.executable, FAULTD, '--only', 'exchange', '--host', '127.0.0.1', '--port-base',
                             str(port), '--map-file', map_file, '--tls-dir', os.path.join(workdir, 'tls')],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not os.path.exists(map_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError('faultd did not start')
        time.sleep(0.05)
    return proc, port


def postfix_available():
    """(available, started_the_lab)."""
    try:
        socket.create_connection(POSTFIX, timeout=2).close()
        return True, False
    except OSError:
        pass
    if os.geteuid() != 0 or not os.access(LABCTL, os.X_OK):
        print('bench_dialogue_rtt: Postfix mx1 %s:%d is not up and starting the real lab needs root: '
              'Exchange persona only' % POSTFIX)
        return False, False
    print('bench_dialogue_rtt: starting the real lab (%s start); it is stopped again at the end' % LABCTL)
    subprocess.run([LABCTL, 'start'], check=True, stdout=subprocess.DEVNULL)
    return True, True


# --- measurement -----------------------------------------------------------------------------------------------------

def measure(args, dialogue, message, options, servers, relay):
    rtt = args.rtt / 1000.0
    variants = []  # (label, server, minimal rounds, function)
    for (server, _upstream, ca_file, server_name), port in zip(servers, relay.ports):
        base = {'host': '127.0.0.1', 'port': port, 'tls': 'none', 'helo_name': HELO, 'mail_from': MAIL_FROM,
                'rcpt_to': [RECIPIENTS[server]], 'send_message': True, 'content': {'subject': SUBJECT, 'body': BODY},
                'connect_timeout': TIMEOUT, 'command_timeout': TIMEOUT, 'deadline': 3 * TIMEOUT}
        wire_message = message.dot_stuff(options.validate_options(base).message_template.render())
        variants.append(('engine, pipelining auto', server, 5, engine_runner(dialogue, dict(base, pipelining='auto'))))
        variants.append(('bare minimal client', server, 5,
                         lambda port=port, rcpt=RECIPIENTS[server], wire=wire_message: bare_pipelined(port, rcpt, wire)))
        variants.append(('engine, pipelining never', server, 8,
                         engine_runner(dialogue, dict(base, pipelining='never'))))
        if not args.no_tls:
            # Verified against the lab CA: with a failed verification the engine would reconnect without it.
            variants.append(('engine, STARTTLS, pipelining auto', server, 8, engine_runner(
                dialogue, dict(base, tls='starttls', tls_verify=True, ca_path=ca_file, server_name=server_name,
                               pipelining='auto'))))

    for _label, _server, _minimal, function in variants:
        function()  # warm-up: imports, code paths, the first smtpd process
        relay.connections()

    times = dict(((label, server), []) for label, server, _m, _f in variants)
    rounds_seen = dict(((label, server), []) for label, server, _m, _f in variants)
    for round_index in range(args.rounds):
        shift = round_index % len(variants)
        for label, server, _minimal, function in variants[shift:] + variants[:shift]:
            started = time.perf_counter()
            function()
            times[(label, server)].append(time.perf_counter() - started)
            rounds_seen[(label, server)].append(sum(round_trips(item['events']) for item in relay.connections()))

    print('bench_dialogue_rtt: P2, one dialogue with a message over a %d ms RTT, %d rounds per variant; Python %s'
          % (args.rtt, args.rounds, sys.version.split()[0]))
    print('  delay: userspace TCP relay on loopback, %.1f ms each way, upstream connect after 1.5 RTT '
          '(netem is not available on this kernel: no sch_netem)' % (args.rtt / 2.0))
    print('  minimal round trips: 5 = connect, banner, EHLO, MAIL+RCPT+DATA, message+QUIT (RFC 2920); '
          'lockstep and STARTTLS: 8')
    print('  %-9s %-36s %8s %8s %10s %8s %s' % ('server', 'variant', 'median', 'p90', 'round trips', 'minimal',
                                                'median / (minimal x RTT)'))
    verdicts = []
    for label, server, minimal, _function in variants:
        values = times[(label, server)]
        median = statistics.median(values)
        ratio = median / (minimal * rtt)
        seen = sorted(set(rounds_seen[(label, server)]))
        print('  %-9s %-36s %6.1f ms %6.1f ms %10s %8d %.3f' % (
            server, label, median * 1000.0, sorted(values)[int(0.9 * (len(values) - 1))] * 1000.0,
            '/'.join(str(value) for value in seen), minimal, ratio))
        if label == 'engine, pipelining auto':
            verdicts.append((server, ratio, seen))
    failed = False
    for server, ratio, seen in verdicts:
        met = ratio <= GOAL and seen == [5]
        failed = failed or not met
        print('  P2 %-8s engine dialogue / (5 x %d ms) = %.3f, %s round trips observed   goal <= %.1f: %s'
              % (server, args.rtt, ratio, '/'.join(str(value) for value in seen), GOAL, 'met' if met else 'MISSED'))
    return not failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rtt', type=float, default=50.0, help='round-trip time in ms (default 50)')
    parser.add_argument('--rounds', type=int, default=15, help='dialogues per variant (default 15)')
    parser.add_argument('--no-postfix', action='store_true', help='only the Exchange persona')
    parser.add_argument('--no-tls', action='store_true', help='leave out the STARTTLS variant')
    parser.add_argument('--relay-child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('upstreams', nargs='*', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay_child:
        RelayChild([(item.rsplit(':', 1)[0], int(item.rsplit(':', 1)[1])) for item in args.upstreams],
                   args.rtt).serve()
        return 0
    if args.rounds < 1 or args.rtt <= 0:
        parser.error('--rounds must be at least 1 and --rtt positive')

    # A timeout (tools/bench) sends SIGTERM: leave through the finally blocks, which clean up.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    workdir = tempfile.mkdtemp(prefix='bench-dialogue-rtt-')
    faultd = relay = None
    started_lab = False
    try:
        dialogue, message, options = import_engine(workdir)
        faultd, faultd_port = start_faultd(workdir)
        servers = [('exchange', ('127.0.0.1', faultd_port), os.path.join(workdir, 'tls', 'ca.crt'),
                    'mail1.exchange.test')]
        if not args.no_postfix:
            available, started_lab = postfix_available()
            if available:
                lab = json.loads(subprocess.run([LABCTL, 'env', '--json'], stdout=subprocess.PIPE, check=True).stdout)
                servers.insert(0, ('postfix', POSTFIX, lab['MAILFLOW_LAB_CA_FILE'], lab['MAILFLOW_LAB_MX1_HOSTNAME']))
        relay = Relay([server[1] for server in servers], args.rtt)
        return 0 if measure(args, dialogue, message, options, servers, relay) else 1
    finally:
        if relay is not None:
            relay.close()
        if faultd is not None:
            faultd.terminate()
            faultd.wait(timeout=10)
        if started_lab:
            subprocess.run([LABCTL, 'stop'], check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
