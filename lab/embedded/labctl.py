#!/usr/bin/env python
"""labctl: the embedded lab (no root, no packages beyond dnspython and cryptography).

    labctl.py start [--smtp-port N] [--dns-port N]   start in the background, wait until it answers
    labctl.py stop                                   stop it (by pidfile) and wait; nothing is left running
    labctl.py status                                 exit 0 running and healthy, 1 unhealthy, 3 stopped
    labctl.py env [--json]                           KEY=VALUE lines (or the state as JSON) for probes
    labctl.py serve                                  the lab itself in the foreground (what start runs)

One process serves an authoritative DNS responder for the zone `test` (dnspython, UDP+TCP on 127.0.0.1 at a
free high port) and the SMTP personas, which run on faultd's engine and behaviour table. MX records carry no
port, so every persona gets its own loopback address (127.0.3.N) and all of them share one high port.
State lives in ${MAILFLOW_EMBEDDED_STATE:-<repo>/build/embedded-lab}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "lab", "servers"))
sys.path.insert(0, HERE)

import dnsd  # noqa: E402  pylint: disable=wrong-import-position
import faultd  # noqa: E402  pylint: disable=wrong-import-position

ZONE = "test"
DNS_HOST = "127.0.0.1"
# Not 2525: Exchange runs its internal receive connector there, and the catalog reads a 530 on 2525 as
# that, not as the guide's "anonymous mail not accepted" case that broken.test shows.
SMTP_PORT_CANDIDATES = list(range(2526, 2600))
AUTH_USERNAME = "probe@contoso.test"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
EXIT_NOT_RUNNING = 3

# SMTP personas: each one a faultd behaviour presented under an org's host name on its own loopback address.
PERSONAS = [
    {"hostname": "mail1.contoso.test", "address": "127.0.3.1", "behaviour": "exchange",
     "accepted_domains": ["contoso.test"]},
    {"hostname": "mail2.contoso.test", "address": "127.0.3.2", "behaviour": "exchange",
     "accepted_domains": ["contoso.test"]},
    {"hostname": "mail1.fabrikam.test", "address": "127.0.3.3", "behaviour": "exchange",
     "accepted_domains": ["fabrikam.test"]},
    {"hostname": "mail1.broken.test", "address": "127.0.3.4", "behaviour": "mail_530",
     "accepted_domains": ["broken.test"]},
    {"hostname": "smtp.contoso.test", "address": "127.0.3.5", "behaviour": "auth_required",
     "accepted_domains": ["contoso.test"]},
]
# Names that resolve to an address where nothing listens (connection refused).
UNSERVED_HOSTS = [
    {"hostname": "mail1.offline.test", "address": "127.0.3.9"},
]
# The mail domains of the demo and what a probe of each should find.
DOMAINS = [
    {"domain": "contoso.test", "mx": [[10, "mail1.contoso.test"], [20, "mail2.contoso.test"]], "expect": "ok",
     "summary": "two Exchange exchangers; mail1 preferred"},
    {"domain": "fabrikam.test", "mx": [[10, "mail1.fabrikam.test"]], "expect": "ok",
     "summary": "one Exchange exchanger"},
    {"domain": "nullmx.test", "mx": [[0, "."]], "expect": "null_mx",
     "summary": "null MX (RFC 7505): accepts no mail, no connection should be made"},
    {"domain": "missing.test", "mx": [], "expect": "nxdomain",
     "summary": "not in the zone: NXDOMAIN"},
    {"domain": "broken.test", "mx": [[10, "mail1.broken.test"]], "expect": "mail_530",
     "summary": "the exchanger answers MAIL FROM with 530 5.7.1 Client was not authenticated"},
    {"domain": "offline.test", "mx": [[10, "mail1.offline.test"]], "expect": "refused",
     "summary": "the exchanger resolves but nothing listens: connection refused"},
]
SOA_RDATA = "ns.test. hostmaster.test. 1 3600 600 86400 60"
TTL = 300


def zone_records() -> list:
    records = [("@", TTL, "SOA", SOA_RDATA), ("@", TTL, "NS", "ns.test."), ("ns", TTL, "A", DNS_HOST)]
    for entry in DOMAINS:
        for preference, exchange in entry["mx"]:
            target = "." if exchange == "." else exchange + "."
            records.append((entry["domain"] + ".", TTL, "MX", "%d %s" % (preference, target)))
    for host in PERSONAS + UNSERVED_HOSTS:
        records.append((host["hostname"] + ".", TTL, "A", host["address"]))
    return records


# ---------------------------------------------------------------------------------------------------------------
# State files
# ---------------------------------------------------------------------------------------------------------------

class State:
    def __init__(self, directory: str = None):
        self.directory = os.path.abspath(directory or os.environ.get("MAILFLOW_EMBEDDED_STATE")
                                         or os.path.join(REPO, "build", "embedded-lab"))
        self.pid_file = os.path.join(self.directory, "labctl.pid")
        self.state_file = os.path.join(self.directory, "state.json")
        self.env_file = os.path.join(self.directory, "env")
        self.log_file = os.path.join(self.directory, "events.jsonl")
        self.daemon_log = os.path.join(self.directory, "labctl.log")
        self.tls_dir = os.path.join(self.directory, "tls")
        self.password_file = os.path.join(self.directory, "auth-password")

    def read_pid(self):
        try:
            with open(self.pid_file, encoding="utf-8") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def running_pid(self):
        """The lab's pid when that process is alive and really is this lab (not a recycled pid)."""
        pid = self.read_pid()
        if pid is None:
            return None
        return pid if is_lab_process(pid) else None

    def load(self):
        try:
            with open(self.state_file, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return None

    def remove_runtime_files(self) -> None:
        for path in (self.state_file, self.env_file, self.pid_file):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def is_lab_process(pid: int) -> bool:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            argv = handle.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    # A zombie has an empty cmdline: it is gone for our purposes.
    return any(arg.endswith("labctl.py") for arg in argv) and "serve" in argv


def write_file(path: str, text: str, mode: int = 0o644) -> None:
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def env_lines(state: dict) -> list:
    personas = ",".join("%s=%s/%s" % (p["hostname"], p["address"], p["behaviour"]) for p in state["personas"])
    unserved = ",".join("%s=%s" % (h["hostname"], h["address"]) for h in state["unserved"])
    domains = ",".join("%s=%s" % (d["domain"], d["expect"]) for d in state["domains"])
    values = [
        ("MAILFLOW_LAB", "embedded"),
        ("MAILFLOW_LAB_STATE_DIR", state["state_dir"]),
        ("MAILFLOW_LAB_STATE_FILE", state["state_file"]),
        ("MAILFLOW_LAB_PID", state["pid"]),
        ("MAILFLOW_LAB_DNS_HOST", state["dns"]["host"]),
        ("MAILFLOW_LAB_DNS_PORT", state["dns"]["port"]),
        ("MAILFLOW_LAB_ZONE", state["zone"]),
        ("MAILFLOW_LAB_SMTP_PORT", state["smtp_port"]),
        ("MAILFLOW_LAB_CA_FILE", state["ca_file"]),
        ("MAILFLOW_LAB_LOG_FILE", state["log_file"]),
        ("MAILFLOW_LAB_AUTH_USERNAME", state["auth"]["username"]),
        ("MAILFLOW_LAB_AUTH_PASSWORD_FILE", state["auth"]["password_file"]),
        ("MAILFLOW_LAB_PERSONAS", personas),
        ("MAILFLOW_LAB_UNSERVED", unserved),
        ("MAILFLOW_LAB_DOMAINS", domains),
    ]
    return ["%s=%s" % (key, shlex.quote(str(value))) for key, value in values]


# ---------------------------------------------------------------------------------------------------------------
# serve: the lab process
# ---------------------------------------------------------------------------------------------------------------

def _candidate_ports(requested: int) -> list:
    if requested:
        return [requested]
    probe = socket.socket()
    probe.bind((PERSONAS[0]["address"], 0))
    kernel_choice = probe.getsockname()[1]
    probe.close()
    return SMTP_PORT_CANDIDATES + [kernel_choice]


async def _start_personas(options, log, tls_dir, requested_port):
    """Bind every persona on one shared port, trying candidates until one is free on all addresses."""
    listeners = [faultd.Listener(p["behaviour"], p["address"], 0, hostname=p["hostname"],
                                 accepted_domains=p["accepted_domains"]) for p in PERSONAS]
    faultd.prepare_tls(listeners, tls_dir)
    last_error = None
    for port in _candidate_ports(requested_port):
        for listener in listeners:
            listener.port = port
        server = faultd.FaultServer(listeners, options, log)
        try:
            await server.start()
            return server, port
        except OSError as error:
            last_error = error
    raise OSError("no free SMTP port for the personas: %s" % last_error)


async def _serve(state: State, smtp_port: int, dns_port: int) -> int:
    log = faultd.EventLog(state.log_file)
    options = faultd.Options(auth_username=AUTH_USERNAME, auth_password=secrets.token_urlsafe(18))
    write_file(state.password_file, options.auth_password + "\n", mode=0o600)
    responder = dnsd.ZoneResponder(dnsd.zone_from_records(ZONE + ".", zone_records()))
    dns_server = dnsd.DNSServer(responder, DNS_HOST, dns_port, log=log.write)
    dns_server.start()
    smtp_server = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        smtp_server, port = await _start_personas(options, log, state.tls_dir, smtp_port)
        snapshot = {
            "pid": os.getpid(),
            "state_dir": state.directory,
            "state_file": state.state_file,
            "zone": ZONE,
            "dns": {"host": dns_server.host, "port": dns_server.port},
            "smtp_port": port,
            "ca_file": smtp_server.listeners[0].ca_file,
            "log_file": state.log_file,
            "auth": {"username": AUTH_USERNAME, "password_file": state.password_file},
            "personas": [dict(p, port=port, description=faultd.behaviour_by_name(p["behaviour"]).description)
                         for p in PERSONAS],
            "unserved": UNSERVED_HOSTS,
            "domains": DOMAINS,
        }
        write_file(state.env_file, "\n".join(env_lines(snapshot)) + "\n")
        # state.json last: its presence means "ready".
        write_file(state.state_file, json.dumps(snapshot, indent=2) + "\n")
        log.write("ready", dns_port=dns_server.port, smtp_port=port)
        await stop.wait()
    finally:
        if smtp_server is not None:
            await smtp_server.close()
        dns_server.stop()
        log.write("stopped")
        log.close()
    return 0


def cmd_serve(args, state: State) -> int:
    os.makedirs(state.directory, exist_ok=True)
    if state.running_pid():
        sys.stderr.write("labctl: already running (pid %d)\n" % state.read_pid())
        return 1
    write_file(state.pid_file, "%d\n" % os.getpid())
    try:
        return asyncio.run(_serve(state, args.smtp_port, args.dns_port))
    except OSError as error:
        sys.stderr.write("labctl: %s\n" % error)
        return 1
    finally:
        state.remove_runtime_files()


# ---------------------------------------------------------------------------------------------------------------
# start / stop / status / env
# ---------------------------------------------------------------------------------------------------------------

def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def summary(state_data: dict) -> str:
    return "embedded lab running (pid %d): DNS %s:%d zone %s, SMTP port %d on %s" % (
        state_data["pid"], state_data["dns"]["host"], state_data["dns"]["port"], state_data["zone"],
        state_data["smtp_port"], ", ".join(p["address"] for p in state_data["personas"]))


def cmd_start(args, state: State) -> int:
    os.makedirs(state.directory, exist_ok=True)
    pid = state.running_pid()
    if pid:
        data = state.load()
        print(summary(data) if data else "embedded lab already running (pid %d)" % pid)
        return 0
    state.remove_runtime_files()
    command = [sys.executable, os.path.abspath(__file__), "serve", "--state-dir", state.directory]
    if args.smtp_port:
        command += ["--smtp-port", str(args.smtp_port)]
    if args.dns_port:
        command += ["--dns-port", str(args.dns_port)]
    with open(state.daemon_log, "ab") as output:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                   cwd=state.directory, start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        data = state.load()
        if data and data.get("pid") == process.pid:
            print(summary(data))
            return 0
        if process.poll() is not None:
            sys.stderr.write("labctl: the lab exited during start (code %s):\n%s" % (
                process.returncode, _tail(state.daemon_log)))
            return 1
        time.sleep(0.05)
    sys.stderr.write("labctl: not ready after %.0f s; stopping it\n%s" % (START_TIMEOUT, _tail(state.daemon_log)))
    _terminate(process.pid, state)
    return 1


def _terminate(pid: int, state: State) -> bool:
    """SIGTERM, wait, then SIGKILL. True when the process is gone."""
    for signum, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_lab_process(pid):
                return True
            time.sleep(0.05)
    return not is_lab_process(pid)


def cmd_stop(args, state: State) -> int:
    pid = state.running_pid()
    if not pid:
        state.remove_runtime_files()
        print("embedded lab not running")
        return 0
    gone = _terminate(pid, state)
    state.remove_runtime_files()
    if not gone:
        sys.stderr.write("labctl: pid %d did not exit\n" % pid)
        return 1
    print("embedded lab stopped (pid %d)" % pid)
    return 0


def health(data: dict) -> list:
    """Problems found by asking the lab itself: one MX query, and a banner from every persona."""
    import dns.resolver  # pylint: disable=import-outside-toplevel

    problems = []
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [data["dns"]["host"]]
    resolver.port = data["dns"]["port"]
    resolver.lifetime = 3.0
    try:
        exchanges = sorted((r.preference, r.exchange.to_text()) for r in resolver.resolve("contoso.test.", "MX"))
        if exchanges != [(10, "mail1.contoso.test."), (20, "mail2.contoso.test.")]:
            problems.append("unexpected MX for contoso.test: %s" % exchanges)
    except Exception as error:  # pylint: disable=broad-except
        problems.append("DNS: %s" % error)
    for persona in data["personas"]:
        try:
            with socket.create_connection((persona["address"], persona["port"]), timeout=3.0) as sock:
                banner = sock.recv(512)
                sock.sendall(b"QUIT\r\n")
            if not banner.startswith(b"220"):
                problems.append("%s: banner %r" % (persona["hostname"], banner[:60]))
        except OSError as error:
            problems.append("%s: %s" % (persona["hostname"], error))
    return problems


def cmd_status(args, state: State) -> int:
    pid = state.running_pid()
    data = state.load() if pid else None
    if not pid or not data:
        print("embedded lab not running" if not pid else "embedded lab starting (pid %d)" % pid)
        return EXIT_NOT_RUNNING
    problems = health(data)
    print(summary(data))
    for problem in problems:
        print("  problem: %s" % problem)
    return 1 if problems else 0


def cmd_env(args, state: State) -> int:
    data = state.load() if state.running_pid() else None
    if not data:
        sys.stderr.write("labctl: embedded lab not running (state dir %s)\n" % state.directory)
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print("\n".join(env_lines(data)))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Control the embedded (no-root) mail lab.")
    parser.add_argument("--state-dir", default=None, help="default: $MAILFLOW_EMBEDDED_STATE or <repo>/build/embedded-lab")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "serve"):
        sub = commands.add_parser(name)
        sub.add_argument("--smtp-port", type=int, default=0, help="shared SMTP port (default: first free from 2525)")
        sub.add_argument("--dns-port", type=int, default=0, help="DNS port (default: a free high port)")
        sub.add_argument("--state-dir", default=argparse.SUPPRESS)
    commands.add_parser("stop").add_argument("--state-dir", default=argparse.SUPPRESS)
    commands.add_parser("status").add_argument("--state-dir", default=argparse.SUPPRESS)
    env_parser = commands.add_parser("env")
    env_parser.add_argument("--json", action="store_true", help="the whole state as JSON")
    env_parser.add_argument("--state-dir", default=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    state = State(args.state_dir)
    handlers = {"start": cmd_start, "serve": cmd_serve, "stop": cmd_stop, "status": cmd_status, "env": cmd_env}
    try:
        return handlers[args.command](args, state)
    except PermissionError as error:
        sys.stderr.write("labctl: %s (choose a writable state dir with MAILFLOW_EMBEDDED_STATE or --state-dir)\n"
                         % error)
        return 1


if __name__ == "__main__":
    sys.exit(main())
