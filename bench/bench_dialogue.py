# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One SMTP dialogue against the lab Postfix: the smtp_probe engine against a bare socket dialogue and swaks (issue 4).

In one process, in alternating rounds (the order rotates every round), against Postfix mx1 of the real lab
(127.0.0.11:25, in_flow_delay = 0, so flow control never pauses a round):
  engine        the engine's run_probe() on option dicts, as the module calls it: banner, EHLO, MAIL, RCPT, RSET,
                QUIT, one command at a time (pipelining: never), so the wire steps equal the bare dialogue's;
  engine-pipe   the same with pipelining: auto (the module's default: MAIL, RCPT, RSET, QUIT in one write);
  bare          a minimal dialogue: socket.sendall + recv until the final reply line, the same steps;
  bare-pipe     the bare dialogue with engine-pipe's wire steps (MAIL, RCPT, RSET, QUIT in one write);
  minimal       a reference floor: the least a client that keeps results can do (poll with a deadline, one regex
                per reply, a dict per step and the transcript lines), the same steps as bare;
  swaks         `swaks --quit-after RCPT` as a whole process, every --swaks-every rounds; also its own dialogue
                time (--show-time-lapse) and its start-up (`swaks --version`), to separate the two.
Then the DATA variant (the message delivered to admin@fabrikam.test): engine and bare, alternating.
Then where the floor is (--floor-rounds, 0 leaves it out): the bare dialogue with SPIN_US of busy CPU per step, once
on the critical path (before each command) and once while each reply is awaited, next to bare, minimal and engine. It
runs twice: with the CPUs shared as the kernel likes, and with client and server on separate CPUs (this process on
the last CPU, Postfix mx1's processes on the others, as on two machines; it needs root and 2 CPUs, and the affinity
is put back afterwards).
Prints median and p90 per variant, the ratios, and the P1 goal (issue 15: engine within 1.5x of bare, lock-step, and
at least 30x faster than swaks per target) as met or MISSED; exits 1 when a goal is missed. --profile adds the top self-time functions of the
engine on the same loop (cProfile). The real lab needs root: run `make lab-start` first, or run this as root and
it starts the lab and stops it again when done.

Usage: python3 bench/bench_dialogue.py [--rounds 300] [--data-rounds 100] [--swaks-every 10] [--floor-rounds 300]
                                      [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from _collection import REPO, expose_collection  # bench/ is on sys.path: the scripts run as bench/NAME.py

P1_GOAL = 1.5
SWAKS_GOAL = 30

# The real lab's own view of its processes: which master is mx1's, and what it forked.
sys.path.insert(0, os.path.join(REPO, 'lab', 'real'))
import labctl  # noqa: E402  pylint: disable=wrong-import-position

LABCTL = os.path.join(REPO, 'lab', 'real', 'labctl')
HOST = '127.0.0.11'
PORT = 25
HELO = 'contoso.test'
MAIL_FROM = 'chris@contoso.test'
RCPT = 'kate@fabrikam.test'
# DATA rounds deliver real messages: to the lab's admin box, so kate's mailbox (used by the tests) stays small.
DATA_RCPT = 'admin@fabrikam.test'
SUBJECT = 'mailflow bench_dialogue'
BODY = 'bench_dialogue test message\n'
TIMEOUT = 10.0
SWAKS_TIMEOUT = 30
# swaks --show-time-lapse prints "=== response in 0.001s" after each reply (Time::HiRes).
SWAKS_LAPSE = re.compile(r'^=== response in ([0-9.]+)s', re.MULTILINE)
COLLECTION_PATH = re.compile(r'^.*/ansible_collections/mailops/mailflow/')
# Busy CPU per step in the floor section: less than any client that parses a reply and keeps a step record spends.
SPIN_US = 10


def import_engine(workdir):
    expose_collection(workdir)
    from ansible_collections.mailops.mailflow.plugins.module_utils._smtp import dialogue, message, options
    return dialogue, message, options


# --- the bare dialogue -------------------------------------------------------------------------------------------------

class BareSession(object):
    """The least a client can do: sendall, then recv until the final line of the reply (`NNN ` at line start)."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buffer = b''

    def reply(self):
        while True:
            start = 0
            while True:
                end = self.buffer.find(b'\r\n', start)
                if end < 0:
                    break
                if self.buffer[start + 3:start + 4] == b' ':
                    code = int(self.buffer[start:start + 3])
                    self.buffer = self.buffer[end + 2:]
                    return code
                start = end + 2
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError('the server closed the connection')
            self.buffer += data

    def command(self, line, expected):
        self.sock.sendall(line)
        code = self.reply()
        if code != expected:
            raise RuntimeError('%r got %d, expected %d' % (line, code, expected))

    def close(self):
        self.sock.close()


def bare_dialogue(host, port, rcpt, wire_message=None):
    session = BareSession(host, port)
    try:
        if session.reply() != 220:
            raise RuntimeError('no 220 banner')
        session.command(b'EHLO ' + HELO.encode() + b'\r\n', 250)
        session.command(b'MAIL FROM:<' + MAIL_FROM.encode() + b'>\r\n', 250)
        session.command(b'RCPT TO:<' + rcpt.encode() + b'>\r\n', 250)
        if wire_message is None:
            session.command(b'RSET\r\n', 250)
        else:
            session.command(b'DATA\r\n', 354)
            session.command(wire_message, 250)
        session.command(b'QUIT\r\n', 221)
    finally:
        session.close()


def bare_pipelined_dialogue(host, port, rcpt):
    """engine-pipe's wire steps: banner, EHLO, then MAIL, RCPT, RSET and QUIT in one write."""
    session = BareSession(host, port)
    try:
        if session.reply() != 220:
            raise RuntimeError('no 220 banner')
        session.command(b'EHLO ' + HELO.encode() + b'\r\n', 250)
        session.sock.sendall(b'MAIL FROM:<' + MAIL_FROM.encode() + b'>\r\nRCPT TO:<' + rcpt.encode() + b'>\r\nRSET\r\nQUIT\r\n')
        codes = [session.reply() for _index in range(4)]
        if codes != [250, 250, 250, 221]:
            raise RuntimeError('pipelined group got %r' % (codes,))
    finally:
        session.close()


def spin(microseconds):
    end = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < end:
        pass


def spun_dialogue(host, port, rcpt, where):
    """The bare dialogue plus SPIN_US of busy CPU per step: ``where`` is 'critical' (between a reply and the next
    command, where a client decides) or 'waiting' (after a command is written, and during the banner wait, where a
    client can do its bookkeeping while the server works)."""
    session = BareSession(host, port)
    try:
        if where == 'waiting':
            spin(SPIN_US)
        if session.reply() != 220:
            raise RuntimeError('no 220 banner')
        for line, expected in ((b'EHLO ' + HELO.encode(), 250), (b'MAIL FROM:<' + MAIL_FROM.encode() + b'>', 250),
                               (b'RCPT TO:<' + rcpt.encode() + b'>', 250), (b'RSET', 250), (b'QUIT', 221)):
            if where == 'critical':
                spin(SPIN_US)
            session.sock.sendall(line + b'\r\n')
            if where == 'waiting':
                spin(SPIN_US)
            code = session.reply()
            if code != expected:
                raise RuntimeError('%r got %d, expected %d' % (line, code, expected))
    finally:
        session.close()


# --- the minimal client that keeps results: a floor for any engine ----------------------------------------------------

WHOLE_REPLY = re.compile(rb'([2-5][0-9][0-9])(?:-[^\r\n]*\r\n\1)*(?: [^\r\n]*)?\r\n')


def minimal_dialogue(host, port, rcpt):
    """The bare steps, plus what a result needs at the least: a deadline on every wait, each reply parsed into code
    and lines, a dict per step and the transcript. No options, no diagnosis, no error handling beyond raising."""
    deadline = time.monotonic() + TIMEOUT
    sock = socket.create_connection((host, port), timeout=TIMEOUT)
    sock.setblocking(False)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    buffer = bytearray()
    steps, transcript = [], []

    def step(name, wire):
        started = time.monotonic()
        if wire:
            sock.send(wire)
            transcript.append('-> ' + wire.decode().rstrip())
        while True:
            match = WHOLE_REPLY.match(buffer)
            if match:
                break
            if not poller.poll(max(0.0, deadline - time.monotonic()) * 1000.0):
                raise TimeoutError('no reply to %s' % name)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError('the server closed the connection')
            buffer.extend(chunk)
        code = int(match.group(1))
        lines = buffer[:match.end() - 2].decode('utf-8', 'replace').split('\r\n')
        del buffer[:match.end()]
        transcript.extend(['<- ' + line for line in lines])
        steps.append({'name': name, 'reply': {'code': code, 'lines': lines}, 'ok': code // 100 == 2,
                      'elapsed_ms': round((time.monotonic() - started) * 1000.0, 3)})
        if code // 100 != 2:
            raise RuntimeError('%s got %d' % (name, code))

    try:
        step('banner', None)
        step('ehlo', b'EHLO ' + HELO.encode() + b'\r\n')
        step('mail', b'MAIL FROM:<' + MAIL_FROM.encode() + b'>\r\n')
        step('rcpt', b'RCPT TO:<' + rcpt.encode() + b'>\r\n')
        step('rset', b'RSET\r\n')
        step('quit', b'QUIT\r\n')
    finally:
        sock.close()
    return {'steps': steps, 'transcript': transcript, 'passed': all(entry['ok'] for entry in steps)}


# --- measurement -------------------------------------------------------------------------------------------------------

def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def timed(function, cpu=None):
    started = time.perf_counter()
    cpu_started = time.process_time()
    function()
    if cpu is not None:
        cpu.append(time.process_time() - cpu_started)
    return time.perf_counter() - started


def engine_runner(dialogue, options):
    """A plain dict is validated on every run, as the module does; ProbeOptions were validated once."""
    def run():
        result = dialogue.run_probe(options)
        if not result['passed']:
            raise RuntimeError('engine dialogue failed: %s' % result['diagnosis'].get('summary'))
    return run


def swaks_command(swaks, lapse):
    command = [swaks, '--server', HOST, '--port', str(PORT), '--ehlo', HELO, '--from', MAIL_FROM, '--to', RCPT,
               '--quit-after', 'RCPT', '--timeout', str(int(TIMEOUT))]
    return command + (['--show-time-lapse'] if lapse else [])


def run_swaks(command):
    started = time.perf_counter()
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=SWAKS_TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if completed.returncode != 0 or '250 2.1.5' not in completed.stdout:
        raise RuntimeError('swaks failed:\n%s' % completed.stdout[-2000:])
    return elapsed, completed.stdout


def ensure_lab():
    """(True when this run started the lab) after making sure mx1 answers; raises SystemExit when it cannot."""
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
        return False
    except OSError:
        pass
    if os.geteuid() != 0 or not os.access(LABCTL, os.X_OK):
        raise SystemExit('bench_dialogue: Postfix mx1 (%s:%d) is not up, and starting the real lab needs root '
                         '(make lab-start)' % (HOST, PORT))
    print('bench_dialogue: starting the real lab (%s start); it is stopped again at the end' % LABCTL)
    subprocess.run([LABCTL, 'start'], check=True, stdout=subprocess.DEVNULL)
    return True


def stop_lab():
    subprocess.run([LABCTL, 'stop'], check=False, stdout=subprocess.DEVNULL)


def row(label, values, unit_scale=1000.0, unit='ms'):
    return '  %-42s n=%4d  median %8.3f %s  p90 %8.3f %s' % (
        label, len(values), statistics.median(values) * unit_scale, unit, percentile(values, 0.9) * unit_scale, unit)


def measure(args, dialogue, message, options):
    base = {'host': HOST, 'port': PORT, 'tls': 'none', 'helo_name': HELO, 'mail_from': MAIL_FROM,
            'connect_timeout': TIMEOUT, 'command_timeout': TIMEOUT, 'deadline': 3 * TIMEOUT}
    lockstep = dict(base, rcpt_to=[RCPT], pipelining='never')
    pipelined = dict(base, rcpt_to=[RCPT], pipelining='auto')
    with_data = dict(base, rcpt_to=[DATA_RCPT], pipelining='never', send_message=True,
                     content={'subject': SUBJECT, 'body': BODY})
    # The bare DATA round sends the message the engine builds (rendered once: the engine renders it each time).
    template = options.validate_options(with_data).message_template
    wire_message = message.dot_stuff(template.render())

    variants = [
        ('engine', engine_runner(dialogue, lockstep)),
        ('engine-pipe', engine_runner(dialogue, pipelined)),
        ('engine, options validated once', engine_runner(dialogue, options.validate_options(lockstep))),
        ('bare', lambda: bare_dialogue(HOST, PORT, RCPT)),
        ('bare-pipe', lambda: bare_pipelined_dialogue(HOST, PORT, RCPT)),
        ('minimal', lambda: minimal_dialogue(HOST, PORT, RCPT)),
    ]
    swaks = None if args.no_swaks else shutil.which('swaks')
    if not args.no_swaks and swaks is None:
        print('bench_dialogue: swaks not found; its rows are left out (apt-get install swaks)')

    cpu = {}
    swaks_times, swaks_lapses = [], []

    def run_swaks_now_and_then(round_index):
        if swaks and round_index % args.swaks_every == 0:
            elapsed, output = run_swaks(swaks_command(swaks, lapse=True))
            swaks_times.append(elapsed)
            swaks_lapses.append(sum(float(value) for value in SWAKS_LAPSE.findall(output)))

    started = time.perf_counter()
    times = alternate(variants, args.rounds, cpu=cpu, after_round=run_swaks_now_and_then)
    loop_seconds = time.perf_counter() - started

    data_variants = [
        ('engine+DATA', engine_runner(dialogue, with_data)),
        # validated once: the email package builds the message once, later probes only stamp Date and Message-ID
        ('engine+DATA, options validated once', engine_runner(dialogue, options.validate_options(with_data))),
        ('bare+DATA', lambda: bare_dialogue(HOST, PORT, DATA_RCPT, wire_message)),
    ]
    times.update(alternate(data_variants, args.data_rounds, warm_up=0, cpu=cpu))

    startup = {}
    if swaks:
        startup['swaks --version'] = [timed(lambda: subprocess.run([swaks, '--version'], stdout=subprocess.DEVNULL,
                                                                   check=True)) for _index in range(10)]
    startup['python -c pass'] = [timed(lambda: subprocess.run([sys.executable, '-c', 'pass'], check=True))
                                 for _index in range(10)]

    print('bench_dialogue: %s:%d (Postfix mx1), %d rounds in %.1f s, %d DATA rounds; Python %s'
          % (HOST, PORT, args.rounds, loop_seconds, args.data_rounds, sys.version.split()[0]))
    print('  steps: banner, EHLO, MAIL, RCPT, RSET, QUIT (DATA variant: ... RCPT, DATA, message, QUIT)')
    names = ('engine', 'engine, options validated once', 'bare', 'minimal', 'engine-pipe', 'bare-pipe', 'engine+DATA',
             'engine+DATA, options validated once', 'bare+DATA')
    for name in names:
        print(row(name, times[name]))
    for name in names:
        print(row('CPU: ' + name, cpu[name]))
    median = dict((name, statistics.median(values)) for name, values in times.items())
    engine, bare = median['engine'], median['bare']
    print('  ratio engine/bare (median)                 %.2fx   (p90 %.2fx)'
          % (engine / bare, percentile(times['engine'], 0.9) / percentile(times['bare'], 0.9)))
    print('  ratio engine, options validated once/bare  %.2fx' % (median['engine, options validated once'] / bare))
    print('  ratio minimal/bare (the floor)             %.2fx' % (median['minimal'] / bare))
    print('  ratio engine-pipe/bare-pipe (median)       %.2fx' % (median['engine-pipe'] / median['bare-pipe']))
    bare_data = statistics.median(times['bare+DATA'])
    print('  ratio engine+DATA/bare+DATA (median)       %.2fx   (options validated once: %.2fx)'
          % (statistics.median(times['engine+DATA']) / bare_data,
             statistics.median(times['engine+DATA, options validated once']) / bare_data))
    if swaks_times:
        print(row('swaks, whole process', swaks_times))
        print(row('swaks, dialogue (--show-time-lapse)', swaks_lapses))
    for label, values in startup.items():
        print(row('start-up: ' + label, values))
    if swaks_times:
        print('  swaks whole process / engine (median) %.0fx; start-up is most of it: perl and its modules load per run'
              % (statistics.median(swaks_times) / engine))
    # Issue 15 reset P1: the 1.05x goal sat at or below the floor of any client that keeps per-step results.
    goals = [('P1 engine dialogue within %.1fx of the bare dialogue (lock-step, same steps)' % P1_GOAL,
              'engine / bare = %.2fx' % (engine / bare), engine / bare <= P1_GOAL)]
    if swaks_times:
        goals.append(('P1 engine at least %dx faster than swaks per target' % SWAKS_GOAL,
                      'swaks / engine = %.0fx' % (statistics.median(swaks_times) / engine),
                      statistics.median(swaks_times) >= SWAKS_GOAL * engine))
    if args.floor_rounds:
        floor(args.floor_rounds, [(name, function) for name, function in variants
                                  if name in ('engine', 'engine, options validated once', 'minimal')])
    for goal, figure, met in goals:
        print('  %-78s %s %s' % (goal, figure, 'met' if met else 'MISSED'))

    if args.profile:
        profile(engine_runner(dialogue, lockstep), args.profile_rounds, args.profile_top)
    return [goal for goal, _figure, met in goals if not met]


# --- where the floor is: how much a little client CPU costs, with the CPUs shared and with client and server apart ---

def floor(rounds, clients):
    variants = [
        ('bare', lambda: bare_dialogue(HOST, PORT, RCPT)),
        ('+%dus critical' % SPIN_US, lambda: spun_dialogue(HOST, PORT, RCPT, 'critical')),
        ('+%dus waiting' % SPIN_US, lambda: spun_dialogue(HOST, PORT, RCPT, 'waiting')),
    ] + clients
    print('  where the floor is: the bare dialogue plus %d us of busy CPU per step, between a reply and the next command'
          % SPIN_US)
    print('  (critical) or while the reply is awaited (waiting); medians over %d alternating rounds, as ratios to bare'
          % rounds)
    print('  %-26s %8s  %s' % ('placement', 'bare ms', '  '.join(name for name, _function in variants[1:])))
    placements = [('CPUs shared', contextlib.nullcontext)]
    reason = separate_cpus_reason()
    if reason is None:
        placements.append(('client and server apart', separate_cpus))
    for label, placement in placements:
        with placement():
            times = alternate(variants, rounds)
        bare = statistics.median(times['bare'])
        print('  %-26s %8.3f  %s' % (label, bare * 1000, '  '.join(
            '%*s' % (len(name), '%.2fx' % (statistics.median(times[name]) / bare)) for name, _function in variants[1:])))
    if reason is not None:
        print('  client and server apart: left out (%s)' % reason)


def alternate(variants, rounds, warm_up=5, cpu=None, after_round=None):
    """Wall times per variant name, over ``rounds`` rounds in which the order rotates. ``warm_up`` runs of each
    first (imports, the first smtpd processes); ``cpu`` collects this process's CPU time per name;
    ``after_round(index)`` runs between rounds."""
    for _name, function in variants:
        for _index in range(warm_up):
            function()
    times = dict((name, []) for name, _function in variants)
    for round_index in range(rounds):
        shift = round_index % len(variants)
        for name, function in variants[shift:] + variants[:shift]:
            times[name].append(timed(function, None if cpu is None else cpu.setdefault(name, [])))
        if after_round is not None:
            after_round(round_index)
    return times


def separate_cpus_reason():
    """Why client and server cannot be put on separate CPUs here, or None."""
    if not hasattr(os, 'sched_setaffinity'):
        return 'no sched_setaffinity on this platform'
    if len(os.sched_getaffinity(0)) < 2:
        return 'this process may use one CPU only'
    if os.geteuid() != 0:
        return 'moving the Postfix processes needs root'
    if labctl.postfix_running('mx1') is None:
        return 'the real lab\'s Postfix mx1 master was not found'
    return None


def set_affinity(pids, cpus):
    for pid in pids:
        try:
            os.sched_setaffinity(pid, cpus)
        except OSError:
            pass  # the process ended meanwhile (an smtpd that timed out)


@contextlib.contextmanager
def separate_cpus():
    """This process on the last CPU, Postfix mx1 (master and children; new smtpd processes inherit the master's
    mask) on the others, as when client and server are two machines; everything is put back afterwards."""
    master = labctl.postfix_running('mx1')
    own = os.sched_getaffinity(0)
    server_before = os.sched_getaffinity(master)
    cpus = sorted(own)
    try:
        set_affinity([master] + labctl.descendants(master), set(cpus[:-1]))
        os.sched_setaffinity(0, {cpus[-1]})
        yield
    finally:
        os.sched_setaffinity(0, own)
        set_affinity([master] + labctl.descendants(master), server_before)


def profile(function, rounds, top):
    profiler = cProfile.Profile()
    profiler.enable()
    for _index in range(rounds):
        function()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    # (file, line, name) -> (primitive calls, calls, self time, cumulative time, callers); built-ins have file '~'.
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)
    python_level = [item for item in entries if item[0][0] != '~']
    for title, chosen in (('all functions', entries), ('Python functions only (no socket waits)', python_level)):
        print('cProfile, engine lockstep dialogue x%d, top %d by self time, %s:' % (rounds, top, title))
        print('  %8s %10s %12s %10s  %s' % ('calls', 'self ms', 'self us/call', 'cum ms', 'function'))
        for (filename, line, name), (_primitive, calls, self_time, cumulative, _callers) in chosen[:top]:
            where = name if filename == '~' else '%s:%d(%s)' % (COLLECTION_PATH.sub('', filename), line, name)
            print('  %8d %10.2f %12.2f %10.2f  %s' % (calls, self_time * 1000, self_time * 1e6 / calls, cumulative * 1000,
                                                      where))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=300, help='rounds of engine, engine-pipe and bare (default 300)')
    parser.add_argument('--data-rounds', type=int, default=100, help='rounds of the DATA variant (default 100)')
    parser.add_argument('--swaks-every', type=int, default=10, help='run swaks every N rounds (default 10)')
    parser.add_argument('--no-swaks', action='store_true', help='leave swaks out')
    parser.add_argument('--floor-rounds', type=int, default=300,
                        help='rounds of the floor section, per placement (default 300; 0 leaves it out)')
    parser.add_argument('--profile', action='store_true', help='cProfile the engine loop afterwards')
    parser.add_argument('--profile-rounds', type=int, default=300)
    parser.add_argument('--profile-top', type=int, default=10)
    args = parser.parse_args()
    if args.rounds < 1 or args.data_rounds < 1 or args.swaks_every < 1 or args.floor_rounds < 0:
        parser.error('--rounds, --data-rounds and --swaks-every must be at least 1, --floor-rounds at least 0')

    workdir = tempfile.mkdtemp(prefix='bench-dialogue-')
    started_lab = False
    try:
        dialogue, message, options = import_engine(workdir)
        started_lab = ensure_lab()
        missed = measure(args, dialogue, message, options)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if started_lab:
            stop_lab()
    return 1 if missed else 0


if __name__ == '__main__':
    sys.exit(main())
