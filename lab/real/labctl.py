# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real lab (root only): BIND9, three Postfix instances, Dovecot SASL, the fault server and Exim, on loopback.

Run through the `labctl` wrapper next to this file:

    labctl start [resolver|mta-sts ...]
                            start what is not running, wait until everything answers; with names, only those
    labctl stop [--purge] [COMPONENT...]
                            stop what the lab started (by its own pidfiles), or only the components named;
                            --purge removes the state dir
    labctl status           show what runs; exit 0 only when everything is up
    labctl env [--json]     shell-sourceable KEY=VALUE lines for the tests
    labctl fetch-exim       download and unpack Exim's Debian packages into the cache (once per version)

Stdlib only. Every file the lab writes lives in $MAILFLOW_LAB_STATE (default /var/tmp/mailops-mailflow-lab); the
unpacked Exim packages live in $MAILFLOW_LAB_CACHE (default /var/cache/mailops-mailflow-lab), which --purge keeps.
The address plan is docs/internals.md.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import grp
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import senderlab  # lab/real, next to this file: the sender identity and smuggling cases
import roundtriplab  # lab/real: the round-trip chain (submission -> relay -> mx -> Dovecot IMAP)

LAB_DIR = Path(__file__).resolve().parent
REPO_DIR = LAB_DIR.parent.parent
FAULTD_SCRIPT = REPO_DIR / "lab" / "servers" / "faultd.py"
STATE_DIR = Path(os.environ.get("MAILFLOW_LAB_STATE") or "/var/tmp/mailops-mailflow-lab")
STATE_MARKER = ".mailops-mailflow-lab"  # --purge only removes a directory that carries this marker

DNS_ADDR = "127.0.0.1"
DNS_PORT = 5353
ZONE = "test"
REFUSED_ADDR = "127.0.0.19"
FAULT_BASE = "127.0.2.1"
FAULT_PORT = 25
ZONE_TTL = 300
NEGATIVE_TTL = 60

# The uid/gid that owns the lab mailboxes. Postfix virtual(8) refuses uids below 100, so not root.
MAILBOX_UID = 65534
MAILBOX_GID = 65534

SASL_USER = "chris@contoso.test"
# Where the submission instance puts mail for other domains, instead of sending it anywhere.
OUTBOUND_MAILBOX = "outbound"

INSTANCES = {
    "mx1": {
        "hostname": "mx1.fabrikam.test",
        "listen": [("127.0.0.11", 25), ("::1", 25)],
        "domain": "fabrikam.test",
        "users": ["kate", "postmaster", "admin"],
        "submission": False,
    },
    "mx2": {
        "hostname": "mx2.fabrikam.test",
        "listen": [("127.0.0.12", 25)],
        "domain": "fabrikam.test",
        "users": ["kate", "postmaster", "admin"],
        "submission": False,
    },
    "submission": {
        "hostname": "smtp.contoso.test",
        "listen": [("127.0.0.13", 25), ("127.0.0.13", 587)],
        "domain": "contoso.test",
        "users": ["chris", "postmaster"],
        "submission": True,
    },
}
# Two instances for the SMTP smuggling test (127.0.0.17, 127.0.0.18); their extra main.cf lines are in "main_cf".
INSTANCES.update(senderlab.SMUGGLING_INSTANCES)
INSTANCES.update(roundtriplab.instances(STATE_DIR))

# Exim 4 from Debian's packages, unpacked rather than installed (it conflicts with Postfix as a package) and run in
# the foreground. One daemon on two addresses; the tarpit address holds its greeting for tarpit_delay seconds.
EXIM = {
    "hostname": "mx.exim.test",
    "domain": "exim.test",
    "addr": "127.0.0.14",
    "tarpit_hostname": "mx.slow.exim.test",
    "tarpit_domain": "slow.exim.test",
    "tarpit_addr": "127.0.0.15",
    "tarpit_delay": 3,
    "port": 25,
    "users": ["kate", "postmaster"],
}
EXIM_PACKAGE = "exim4-daemon-light"
# Debian's exim4 has this user compiled in and looks it up before it reads any configuration.
EXIM_USER = "Debian-exim"
CACHE_DIR = Path(os.environ.get("MAILFLOW_LAB_CACHE") or "/var/cache/mailops-mailflow-lab")

# Zone content when faultd.py is not there yet: only the Exchange persona's name.
FALLBACK_BEHAVIOURS = ({"name": "exchange", "hostname": "mail1.exchange.test", "index": 0},)

PR_SET_NAME = 15
PR_SET_CHILD_SUBREAPER = 36

READY_TIMEOUT = 20.0
EXPECTED_SERIAL = None  # set when this run wrote the zone; status accepts any serial
STOP_TIMEOUT = 10.0


class LabError(Exception):
    pass


# ---------------------------------------------------------------- paths

def state_path(*parts: str) -> Path:
    return STATE_DIR.joinpath(*parts)


def python_for_faultd() -> str:
    explicit = os.environ.get("PYTHON")
    if explicit:
        return explicit
    venv_python = REPO_DIR / ".venv" / "bin" / "python"
    if venv_python.exists():
        return str(venv_python)
    return shutil.which("python3") or "python3"


def postfix_dirs(name: str, state_dir: Path | None = None) -> dict:
    """An instance's directories under the lab state dir, or under `state_dir` (the fleet lab reuses this)."""
    root = Path(state_dir) if state_dir is not None else STATE_DIR
    base = root / "postfix" / name
    return {
        "config": base / "conf",
        "queue": base / "queue",
        "data": base / "data",
        "log": root / "logs" / ("postfix-%s.log" % name),
        "mail": root / "mail" / name,
        "pidfile": base / "queue" / "pid" / "master.pid",
    }


def mailboxes(instance: str, spec: dict | None = None, dirs: dict | None = None) -> dict:
    """Maildir per recipient local part; the submission instance adds OUTBOUND_MAILBOX."""
    spec = spec or INSTANCES[instance]
    mail = (dirs or postfix_dirs(instance))["mail"]
    boxes = {user: mail / spec["domain"] / user for user in spec["users"]}
    if spec["submission"]:
        boxes[OUTBOUND_MAILBOX] = mail / OUTBOUND_MAILBOX
    return boxes


def fmt_addr(addr: str, port: int) -> str:
    return "[%s]:%d" % (addr, port) if ":" in addr else "%s:%d" % (addr, port)


# ---------------------------------------------------------------- small helpers

def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    write_file(path, text, mode)
    return True


def run(argv: list, what: str, stdin_text: str | None = None, env: dict | None = None,
        cwd: Path | None = None) -> str:
    # Output goes through a file, not a pipe: daemons that fork keep inherited fds open and a pipe never ends.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out:
        proc = subprocess.run(argv, input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, text=True, check=False, env=env,
                              cwd=None if cwd is None else str(cwd))
        out.seek(0)
        output = out.read()
    if proc.returncode != 0:
        raise LabError("%s failed (exit %d): %s\n%s" % (what, proc.returncode, " ".join(argv), output.strip()))
    return output


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def proc_cmdline(pid: int) -> list:
    try:
        raw = Path("/proc/%d/cmdline" % pid).read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def proc_environ(pid: int) -> dict | None:
    """The process environment; None when it is not ours to read (status run by a non-root user)."""
    try:
        raw = Path("/proc/%d/environ" % pid).read_bytes()
    except PermissionError:
        return None
    except OSError:
        return {}
    pairs = (part.decode("utf-8", "replace").partition("=") for part in raw.split(b"\0") if part)
    return {key: value for key, _sep, value in pairs}


def proc_state(pid: int) -> str:
    try:
        stat = Path("/proc/%d/stat" % pid).read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[0]


def pid_alive(pid: int | None) -> bool:
    return bool(pid) and proc_state(pid) not in ("", "Z", "X")


def descendants(root_pid: int) -> list:
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc/%s/stat" % entry).read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def wait_gone(pids: list, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if pid_alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def terminate_tree(pid: int, graceful=None) -> None:
    """Stop one daemon and everything it forked; SIGKILL what survives the grace period."""
    tree = [pid] + descendants(pid)
    if graceful is not None:
        graceful()
    else:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    left = wait_gone(tree, STOP_TIMEOUT)
    for straggler in left:
        try:
            os.kill(straggler, signal.SIGKILL)
        except ProcessLookupError:
            pass
    left = wait_gone(left, 2.0)
    if left:
        raise LabError("processes still alive after SIGKILL: %s" % left)


def smtp_banner(addr: str, port: int, timeout: float = 2.0) -> str | None:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect((addr, port))
            reader = sock.makefile("rb")
            line = reader.readline(1024).decode("utf-8", "replace").rstrip("\r\n")
            while line[3:4] == "-":
                line = reader.readline(1024).decode("utf-8", "replace").rstrip("\r\n")
            try:
                sock.sendall(b"QUIT\r\n")
                reader.readline(1024)
            except OSError:
                pass
            return line
    except OSError:
        return None


def zone_serial() -> int | None:
    """SOA serial of the lab zone as BIND serves it, None when it does not answer."""
    dig = shutil.which("dig")
    if dig is None:
        raise LabError("dig not found (apt-get install bind9-dnsutils)")
    proc = subprocess.run([dig, "-p", str(DNS_PORT), "@" + DNS_ADDR, "+time=1", "+tries=1", "+norecurse", "+short",
                           "SOA", ZONE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) < 3 or not fields[2].isdigit():
        return None
    return int(fields[2])


def dns_answers() -> bool:
    serial = zone_serial()
    return serial is not None and (EXPECTED_SERIAL is None or serial == EXPECTED_SERIAL)


def taken_sockets(listens: list, kinds=(socket.SOCK_STREAM,)) -> list:
    """Which of these (addr, port) already have a listener of another process (bind says EADDRINUSE)."""
    taken = []
    for addr, port in listens:
        for kind in kinds:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            with socket.socket(family, kind) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((addr, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        taken.append("%s/%s" % (fmt_addr(addr, port), "tcp" if kind == socket.SOCK_STREAM else "udp"))
    return taken


def refuse_taken(component: str, listens: list, kinds=(socket.SOCK_STREAM,)) -> None:
    taken = taken_sockets(listens, kinds)
    if taken:
        raise LabError("cannot start %s: %s already in use by another process (a lab with another "
                       "MAILFLOW_LAB_STATE? for [::1]:25 the Debian default Postfix?); see `ss -ltnup`"
                       % (component, ", ".join(taken)))


def unix_socket_answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            return sock.recv(64).startswith(b"VERSION")
    except OSError:
        return False


# ---------------------------------------------------------------- fault server behaviours

def fault_behaviours() -> list:
    """The fault server's behaviours (name, hostname, index); behaviour N answers on 127.0.2.(N+1)."""
    if not FAULTD_SCRIPT.exists():
        return list(FALLBACK_BEHAVIOURS)
    proc = subprocess.run([python_for_faultd(), str(FAULTD_SCRIPT), "--list-json"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, check=False)
    if proc.returncode != 0:
        raise LabError("faultd --list-json failed: %s" % proc.stderr.strip())
    return [{"name": item["name"], "hostname": item["hostname"], "index": int(item["index"])}
            for item in json.loads(proc.stdout)]


def fault_address(index: int) -> str:
    base = FAULT_BASE.rsplit(".", 1)
    return "%s.%d" % (base[0], int(base[1]) + index)


# ---------------------------------------------------------------- TLS material (openssl CLI)

def ensure_tls(tls_dir: Path | None = None, hostnames: dict | None = None) -> None:
    """Lab CA plus one leaf per instance (`hostnames`: instance name -> host name, or a list of names: the first is
    the subject, all are in the SAN; default: INSTANCES and Exim)."""
    tls = Path(tls_dir) if tls_dir is not None else state_path("tls")
    if hostnames is None:
        hostnames = {name: spec["hostname"] for name, spec in INSTANCES.items()}
        hostnames["exim"] = [EXIM["hostname"], EXIM["tarpit_hostname"]]
        hostnames["rt_imap"] = roundtriplab.IMAP_HOSTNAME
    tls.mkdir(parents=True, exist_ok=True)
    os.chmod(tls, 0o755)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LabError("openssl not found")
    ca_crt, ca_key = tls / "ca.crt", tls / "ca.key"
    if not (ca_crt.exists() and ca_key.exists()):
        run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
             "-keyout", str(ca_key), "-out", str(ca_crt), "-subj", "/O=mailops.mailflow lab/CN=mailflow lab CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "openssl CA")
        os.chmod(ca_key, 0o600)
    for name, names in hostnames.items():
        names = [names] if isinstance(names, str) else list(names)
        crt, key = tls / ("%s.crt" % name), tls / ("%s.key" % name)
        if crt.exists() and key.exists():
            continue
        csr, ext = tls / ("%s.csr" % name), tls / ("%s.ext" % name)
        write_file(ext, "basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature,keyEncipherment\n"
                        "extendedKeyUsage=serverAuth\n"
                        "subjectAltName=%s\n" % ",".join("DNS:%s" % each for each in names))
        run([openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", str(key),
             "-out", str(csr), "-subj", "/CN=%s" % names[0]], "openssl req %s" % name)
        run([openssl, "x509", "-req", "-sha256", "-days", "825", "-in", str(csr), "-CA", str(ca_crt),
             "-CAkey", str(ca_key), "-set_serial", "0x%s" % secrets.token_hex(8), "-extfile", str(ext),
             "-out", str(crt)], "openssl sign %s" % name)
        os.chmod(key, 0o600)
        csr.unlink()
        ext.unlink()


# ---------------------------------------------------------------- BIND9

def zone_text(behaviours: list) -> tuple:
    lines = [
        "$TTL %d" % ZONE_TTL,
        "@ IN SOA ns.test. hostmaster.test. ( SERIAL 300 60 3600 %d )" % NEGATIVE_TTL,
        "@ IN NS ns.test.",
        "ns IN A %s" % DNS_ADDR,
        "",
        "fabrikam IN MX 10 mx1.fabrikam.test.",
        "fabrikam IN MX 20 mx2.fabrikam.test.",
        "mx1.fabrikam IN A 127.0.0.11",
        "mx1.fabrikam IN AAAA ::1",
        "mx2.fabrikam IN A 127.0.0.12",
        "",
        "contoso IN MX 10 smtp.contoso.test.",
        "smtp.contoso IN A 127.0.0.13",
        "",
        "; RFC 7505 null MX",
        "nullmx IN MX 0 .",
        "",
        "; no MX: the domain's own address is the implicit MX (RFC 5321 5.1)",
        "implicit IN A 127.0.0.12",
        "",
        "; MX target that is an alias (RFC 5321 5.1 forbids it; MTAs mostly follow it)",
        "cname-mx IN MX 10 mailalias.cname-mx.test.",
        "mailalias.cname-mx IN CNAME mx1.fabrikam.test.",
        "",
        "dangling IN MX 10 nohost.dangling.test.",
        "dangling IN MX 20 mx2.fabrikam.test.",
        "",
        "v6only IN MX 10 mx6.v6only.test.",
        "mx6.v6only IN AAAA ::1",
        "",
        "; the primary exchanger's address has nothing listening (connection refused)",
        "primary-down IN MX 10 down.primary-down.test.",
        "primary-down IN MX 20 mx2.fabrikam.test.",
        "down.primary-down IN A %s" % REFUSED_ADDR,
        "",
        "nodata IN TXT \"this name has neither MX nor address records\"",
        "",
        "chain IN MX 10 a.chain.test.",
        "a.chain IN CNAME b.chain.test.",
        "b.chain IN CNAME mx1.fabrikam.test.",
        "",
        "exchange IN MX 10 mail1.exchange.test.",
        "mail1.exchange IN A %s" % FAULT_BASE,
        "",
        "; Exim: the same daemon answers at once on %s and after a %d s greeting delay on %s"
        % (EXIM["addr"], EXIM["tarpit_delay"], EXIM["tarpit_addr"]),
        "%s IN MX 10 %s." % (EXIM["domain"][:-len(ZONE) - 1], EXIM["hostname"]),
        "%s IN A %s" % (EXIM["hostname"][:-len(ZONE) - 1], EXIM["addr"]),
        "%s IN MX 10 %s." % (EXIM["tarpit_domain"][:-len(ZONE) - 1], EXIM["tarpit_hostname"]),
        "%s IN A %s" % (EXIM["tarpit_hostname"][:-len(ZONE) - 1], EXIM["tarpit_addr"]),
        "",
        "; 40 long exchanger names: the answer does not fit a UDP reply (TC set), clients retry over TCP",
    ]
    lines[-1:-1] = roundtriplab.zone_lines()
    filler = "exchanger-with-a-long-name-for-truncation-tests"
    for index in range(1, 41):
        target = "mx%02d-%s" % (index, filler)
        lines.append("bigmx IN MX %d %s.bigmx.test." % (index * 10, target))
        lines.append("%s.bigmx IN A 127.0.1.%d" % (target, index))
    lines.append("")
    lines.append("; fault server: behaviour N answers on 127.0.2.(N+1) as <behaviour>.fault.test, which is also")
    lines.append("; a mail domain whose MX is the behaviour's own host name (the name on its certificate)")
    defined = {"mail1.exchange.test"}
    for behaviour in behaviours:
        address = fault_address(behaviour["index"])
        lines.append("%s.fault IN A %s" % (behaviour["name"], address))
        lines.append("%s.fault IN MX 10 %s." % (behaviour["name"], behaviour["hostname"]))
        hostname = behaviour["hostname"]
        if hostname.endswith("." + ZONE) and hostname not in defined:
            defined.add(hostname)
            lines.append("%s IN A %s" % (hostname[:-len(ZONE) - 1], address))
    body = "\n".join(lines) + "\n"
    # The serial follows the content, so readiness can tell a reloaded zone from the previous one.
    serial = zlib.crc32(body.encode("utf-8")) & 0x7FFFFFFF
    return body.replace("SERIAL", str(serial), 1), serial


def named_conf(named_dir: Path | None = None, addr: str = DNS_ADDR, port: int = DNS_PORT, log: Path | None = None,
               zone: str = ZONE, allow_query: str = "127.0.0.0/8", servfail_zone: bool = True) -> str:
    """named.conf of the lab; the fleet lab passes its own directory, address, port and client range."""
    named_dir = named_dir or state_path("named")
    servfail = """// Secondary whose primary never answers (%(refused)s, nothing listens): never loads, so BIND answers
// SERVFAIL for every name in it, quickly.
zone "servfail.%(zone)s" { type secondary; primaries { %(refused)s; }; };
""" % {"zone": zone, "refused": REFUSED_ADDR} if servfail_zone else ""
    return """// generated by lab/real/labctl
options {
    directory "%(dir)s";
    pid-file "%(dir)s/named.pid";
    session-keyfile "%(dir)s/session.key";
    managed-keys-directory "%(dir)s";
    listen-on port %(port)d { %(addr)s; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { %(allow_query)s; };
    allow-transfer { none; };
    notify no;
    dnssec-validation no;
    // The zone holds deliberate mistakes (CNAME and dangling MX targets); load it anyway.
    check-mx-cname ignore;
    check-srv-cname ignore;
    check-integrity no;
    check-names primary ignore;
};
controls { };
logging {
    channel lab_log { file "%(log)s" versions 0 size 5m; severity info; print-time yes; };
    category default { lab_log; };
    category lame-servers { null; };
};
zone "%(zone)s" { type primary; file "%(dir)s/db.%(zone)s"; };
%(servfail)s""" % {"dir": named_dir, "port": port, "addr": addr, "log": log or state_path("logs", "named.log"),
                   "zone": zone, "allow_query": allow_query, "servfail": servfail}


def named_running() -> int | None:
    pid = read_pid(state_path("named", "named.pid"))
    if pid_alive(pid) and str(state_path("named", "named.conf")) in proc_cmdline(pid):
        return pid
    return None


def ensure_named(behaviours: list) -> str:
    """Start named, or make a running one reload a changed zone (SIGHUP); returns what it did."""
    global EXPECTED_SERIAL
    zone, EXPECTED_SERIAL = zone_text(behaviours)
    changed = write_if_changed(state_path("named", "named.conf"), named_conf() + policy_zone_stanzas()
                               + senderlab.zone_stanzas(state_path("named", "sender")))
    changed = senderlab.write_zones(state_path("named", "sender"), write_if_changed) or changed
    changed = write_if_changed(state_path("named", "db.%s" % ZONE), zone) or changed
    changed = ensure_policy_zones() or changed
    pid = named_running()
    if pid is not None:
        if changed:
            os.kill(pid, signal.SIGHUP)
            return "reloaded"
        return ""
    refuse_taken("named", [(DNS_ADDR, DNS_PORT)], (socket.SOCK_STREAM, socket.SOCK_DGRAM))
    named = shutil.which("named") or "/usr/sbin/named"
    run([named, "-4", "-c", str(state_path("named", "named.conf"))], "named")
    return "started"


# ---------------------------------------------------------------- Dovecot (SASL for the submission instance)

def dovecot_conf() -> str:
    base = state_path("dovecot")
    return """# generated by lab/real/labctl: an auth-only Dovecot for Postfix SASL
instance_name = mailflow-lab
base_dir = %(base)s/run
state_dir = %(base)s/state
log_path = %(log)s
protocols =
ssl = no
# Loopback tests exercise AUTH PLAIN/LOGIN without TLS too.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(base)s/users
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(home)s/%%d/%%n
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
""" % {"base": base, "log": state_path("logs", "dovecot.log"), "uid": MAILBOX_UID, "gid": MAILBOX_GID,
       "home": postfix_dirs("submission")["mail"]}


def dovecot_auth_socket() -> Path:
    return state_path("dovecot", "run", "auth-postfix")


def dovecot_running() -> int | None:
    pid = read_pid(state_path("dovecot", "run", "master.pid"))
    if pid_alive(pid) and str(state_path("dovecot", "dovecot.conf")) in proc_cmdline(pid):
        return pid
    return None


def start_dovecot() -> None:
    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    base = state_path("dovecot")
    for sub in ("run", "state"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    write_file(base / "dovecot.conf", dovecot_conf())
    # A fresh password on every Dovecot start; the tests read it from the 0600 file, never from argv or env.
    password = secrets.token_urlsafe(18)
    write_file(state_path("sasl-password"), password + "\n", 0o600)
    hashed = run(["openssl", "passwd", "-6", "-stdin"], "openssl passwd", stdin_text=password + "\n").strip()
    users = base / "users"
    write_file(users, "%s:{SHA512-CRYPT}%s\n" % (SASL_USER, hashed), 0o640)
    shutil.chown(users, group="dovecot")
    run([dovecot, "-c", str(base / "dovecot.conf")], "dovecot")


# ---------------------------------------------------------------- Postfix instances

MASTER_CF_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def master_cf(name: str, spec: dict | None = None) -> str:
    spec = spec or INSTANCES[name]
    lines = ["# generated by lab/real/labctl; no chroot, so no chroot copies of /etc files are needed"]
    for addr, port in spec["listen"]:
        lines.append("%-20s inet  n       -       n       -       -       smtpd" % fmt_addr(addr, port))
        if port == 587:
            lines += [
                "  -o syslog_name=postfix-%s/submission" % name,
                "  -o smtpd_sasl_auth_enable=yes",
                # Reject at MAIL FROM rather than at RCPT, the way a submission server demands AUTH.
                "  -o smtpd_delay_reject=no",
                "  -o smtpd_sender_restrictions=$lab_submission_sender_restrictions",
                "  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
            ]
    return "\n".join(lines) + "\n" + MASTER_CF_SERVICES


def main_cf(name: str, spec: dict | None = None, dirs: dict | None = None, tls_dir: Path | None = None,
            state_dir: Path | None = None) -> str:
    """main.cf of one instance; the fleet lab passes its own spec (INSTANCES layout), dirs, TLS dir and state dir."""
    spec = spec or INSTANCES[name]
    dirs = dirs or postfix_dirs(name)
    families = {"ipv6" if ":" in addr else "ipv4" for addr, _port in spec["listen"]}
    tls = Path(tls_dir) if tls_dir is not None else state_path("tls")
    settings = [
        ("compatibility_level", "3.6"),
        ("queue_directory", dirs["queue"]),
        ("data_directory", dirs["data"]),
        ("syslog_name", "postfix-%s" % name),
        ("maillog_file", dirs["log"]),
        ("maillog_file_prefixes", Path(state_dir) if state_dir is not None else STATE_DIR),
        ("myhostname", spec["hostname"]),
        ("mydomain", spec["domain"]),
        ("myorigin", "$myhostname"),
        ("smtpd_banner", "$myhostname ESMTP $mail_name (Debian/GNU)"),
        # The listeners name their address in master.cf. inet_interfaces itself only accepts addresses
        # configured on an interface, and 127.0.0.11 etc. are merely routed by lo's 127.0.0.0/8.
        ("inet_interfaces", "loopback-only"),
        ("inet_protocols", ", ".join(sorted(families))),
        # Loopback is NOT trusted: a relay attempt from 127.0.0.1 must meet reject_unauth_destination.
        ("mynetworks", ""),
        ("mydestination", ""),
        ("local_recipient_maps", ""),
        ("alias_maps", ""),
        ("alias_database", ""),
        ("biff", "no"),
        # Nothing leaves the machine, and no DNS query goes to the host's (non-loopback) resolver.
        ("default_transport", "error:mail for other domains is not delivered in the lab"),
        ("relay_transport", "error:mail for other domains is not delivered in the lab"),
        ("relayhost", ""),
        ("smtp_dns_support_level", "disabled"),
        ("lmtp_dns_support_level", "disabled"),
        ("smtpd_peername_lookup", "no"),
        # Recipient validation: only the listed test users exist (not system accounts such as nobody@).
        ("virtual_mailbox_domains", spec["domain"]),
        ("virtual_mailbox_maps", "texthash:%s" % (dirs["config"] / "recipients")),
        ("virtual_mailbox_base", dirs["mail"]),
        ("virtual_uid_maps", "static:%d" % MAILBOX_UID),
        ("virtual_gid_maps", "static:%d" % MAILBOX_GID),
        ("smtpd_relay_restrictions", "permit_sasl_authenticated, reject_unauth_destination"),
        ("smtpd_recipient_restrictions", ""),
        ("in_flow_delay", "0"),
        ("smtpd_helo_required", "no"),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_cert_file", tls / ("%s.crt" % name)),
        ("smtpd_tls_key_file", tls / ("%s.key" % name)),
        ("smtpd_tls_loglevel", "1"),
        ("smtpd_tls_received_header", "yes"),
        ("smtp_tls_security_level", "none"),
    ]
    if spec["submission"]:
        settings += [
            # Authenticated clients may send anywhere, but mail for other domains goes to the outbound
            # Maildir (virtual(8) with a catch-all regexp), never out; default_transport stays error.
            ("transport_maps", "static:virtual"),
            ("virtual_mailbox_maps", "texthash:%s, regexp:%s" % (dirs["config"] / "recipients",
                                                                 dirs["config"] / "outbound.regexp")),
            ("smtpd_sasl_type", "dovecot"),
            ("smtpd_sasl_path", dovecot_auth_socket()),
            # Port 25 stays anonymous inbound; master.cf enables AUTH on 587 only.
            ("smtpd_sasl_auth_enable", "no"),
            # AUTH without STARTTLS is allowed on purpose: loopback tests exercise PLAIN/LOGIN in clear too.
            ("smtpd_tls_auth_only", "no"),
            # Used by the 587 service in master.cf (a -o value cannot hold the spaces of the reply text).
            ("lab_submission_sender_restrictions",
             "permit_sasl_authenticated, check_client_access static:{530 5.7.0 Authentication required}"),
        ]
    settings += list(spec.get("main_cf", {}).items())
    # Later entries override earlier ones (the submission extras), each key written once.
    return "# generated by lab/real/labctl\n" + "".join("%s = %s\n" % item for item in dict(settings).items())


def postfix_running(name: str) -> int | None:
    dirs = postfix_dirs(name)
    pid = read_pid(dirs["pidfile"])
    if not pid_alive(pid):
        return None
    environ = proc_environ(pid)
    if environ is None:
        # Unreadable: fall back to the program name, the pidfile being the lab's own.
        return pid if any(part.endswith("/master") for part in proc_cmdline(pid)) else None
    return pid if environ.get("MAIL_CONFIG") == str(dirs["config"]) else None


def prepare_postfix(name: str, spec: dict | None = None, dirs: dict | None = None, tls_dir: Path | None = None,
                    state_dir: Path | None = None) -> None:
    spec = spec or INSTANCES[name]
    dirs = dirs or postfix_dirs(name)
    for key in ("config", "queue"):
        dirs[key].mkdir(parents=True, exist_ok=True)
        os.chmod(dirs[key], 0o755)
    dirs["data"].mkdir(parents=True, exist_ok=True)
    shutil.chown(dirs["data"], user="postfix", group="postfix")
    os.chmod(dirs["data"], 0o700)
    write_file(dirs["config"] / "main.cf", main_cf(name, spec, dirs, tls_dir, state_dir))
    write_file(dirs["config"] / "master.cf", master_cf(name, spec))
    recipients = "".join("%s@%s %s/%s/\n" % (user, spec["domain"], spec["domain"], user) for user in spec["users"])
    write_file(dirs["config"] / "recipients", recipients)
    if spec["submission"]:
        write_file(dirs["config"] / "outbound.regexp",
                   "# every address outside %s ends in the outbound Maildir\n!/@%s$/ %s/\n"
                   % (spec["domain"], spec["domain"].replace(".", "\\."), OUTBOUND_MAILBOX))
    # Maildirs exist before the first delivery, so tests can watch new/ right away.
    directories = [dirs["mail"], dirs["mail"] / spec["domain"]]
    for maildir in mailboxes(name, spec, dirs).values():
        directories += [maildir] + [maildir / sub for sub in ("cur", "new", "tmp")]
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, MAILBOX_UID, MAILBOX_GID)
        os.chmod(directory, 0o755)


def start_postfix(name: str) -> None:
    refuse_taken("postfix-%s" % name, INSTANCES[name]["listen"])
    prepare_postfix(name)
    env = {key: value for key, value in os.environ.items() if key != "MAIL_CONFIG"}
    # `postfix -c DIR` is accepted for root without registering DIR in /etc/postfix/main.cf
    # (alternate_config_directories only gates unprivileged set-gid commands), so /etc stays untouched.
    run(["postfix", "-c", str(postfix_dirs(name)["config"]), "start"], "postfix %s start" % name, env=env)


def stop_postfix(name: str, pid: int) -> None:
    def graceful() -> None:
        subprocess.run(["postfix", "-c", str(postfix_dirs(name)["config"]), "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
    terminate_tree(pid, graceful)


# ---------------------------------------------------------------- fault server

def faultd_running() -> int | None:
    pid = read_pid(state_path("faultd.pid"))
    if pid_alive(pid) and any(part.endswith("faultd.py") for part in proc_cmdline(pid)):
        return pid
    return None


def start_faultd() -> subprocess.Popen:
    logs = state_path("logs")
    logs.mkdir(parents=True, exist_ok=True)
    argv = [python_for_faultd(), str(FAULTD_SCRIPT), "--bind-base", FAULT_BASE, "--port", str(FAULT_PORT),
            "--map-file", str(state_path("fault-map.json")), "--log-file", str(state_path("fault.jsonl")),
            "--pid-file", str(state_path("faultd.pid")), "--tls-dir", str(state_path("tls"))]
    with open(logs / "faultd.out", "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=str(STATE_DIR))


# ---------------------------------------------------------------- Exim (Debian's packages, unpacked into the cache)

def exim_cache() -> Path:
    return CACHE_DIR / "exim"


def exim_tree() -> Path | None:
    """Root of the unpacked packages in use (`<cache>/exim/current/root`), None before the first fetch."""
    current = exim_cache() / "current"
    if not (current / "complete").exists():
        return None
    return current.resolve() / "root"


def apt_candidate(package: str) -> str | None:
    proc = subprocess.run(["apt-cache", "policy", package], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, text=True, check=False)
    for line in proc.stdout.splitlines():
        key, _sep, value = line.strip().partition(":")
        if key == "Candidate":
            value = value.strip()
            return None if value in ("", "(none)") else value
    return None


def package_installed(package: str) -> bool:
    proc = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", package], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, check=False)
    return proc.stdout.strip() == "installed"


def missing_libraries(package: str) -> list:
    """The shared-library packages `package` depends on that are not installed; they are unpacked next to it."""
    output = run(["apt-cache", "depends", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
                  "--no-replaces", "--no-enhances", package], "apt-cache depends %s" % package)
    missing = []
    for line in output.splitlines():
        key, _sep, name = line.strip().lstrip("|").partition(":")
        name = name.strip()
        if key == "Depends" and name.startswith("lib") and name not in missing and not package_installed(name):
            missing.append(name)
    return missing


def fetch_exim() -> str:
    """Download EXIM_PACKAGE (and libraries it needs that are not installed) with `apt-get download` and unpack them
    with `dpkg -x` into <cache>/exim/<version>/root, once per version; `current` points at the newest."""
    for tool in ("apt-get", "apt-cache", "dpkg", "dpkg-query"):
        if shutil.which(tool) is None:
            raise LabError("%s not found: the Exim of the lab comes from Debian's packages" % tool)
    cache = exim_cache()
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)
    with open(cache / ".lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        version = apt_candidate(EXIM_PACKAGE)
        if version is None:
            # A clean machine may have no package lists yet.
            run(["apt-get", "update", "-q"], "apt-get update")
            version = apt_candidate(EXIM_PACKAGE)
        if version is None:
            raise LabError("apt knows no %s package (check the apt sources)" % EXIM_PACKAGE)
        # An epoch's colon would end overlayfs' lowerdir option.
        version_dir = cache / version.replace(":", "_")
        action = "cached"
        if not (version_dir / "complete").exists():
            work = cache / (version_dir.name + ".partial")
            shutil.rmtree(work, ignore_errors=True)
            debs = work / "debs"
            debs.mkdir(parents=True)
            try:
                # apt downloads as its _apt user when that user may write the folder (else it only warns).
                shutil.chown(debs, user="_apt")
            except (LookupError, OSError):
                pass
            packages = ["%s=%s" % (EXIM_PACKAGE, version)] + missing_libraries(EXIM_PACKAGE)
            run(["apt-get", "download", "-q"] + packages, "apt-get download", cwd=debs)
            unpacked = sorted(debs.glob("*.deb"))
            for deb in unpacked:
                run(["dpkg", "-x", str(deb), str(work / "root")], "dpkg -x %s" % deb.name)
            if not (work / "root" / "usr" / "sbin" / "exim4").exists():
                raise LabError("%s unpacked without usr/sbin/exim4 (in %s)" % (EXIM_PACKAGE, work))
            shutil.rmtree(debs)
            write_file(work / "complete", "".join(deb.name + "\n" for deb in unpacked))
            shutil.rmtree(version_dir, ignore_errors=True)
            os.rename(work, version_dir)
            action = "fetched"
        current = cache / "current"
        if not current.is_symlink() or os.readlink(current) != version_dir.name:
            link = cache / "current.tmp"
            if link.is_symlink() or link.exists():
                link.unlink()
            os.symlink(version_dir.name, link)
            os.replace(link, current)
        # Older versions go, unless a running Exim still has its tree mounted.
        if exim_running() is None:
            for other in cache.iterdir():
                if other.is_dir() and not other.is_symlink() and other.name != version_dir.name:
                    shutil.rmtree(other)
    return "%s %s %s in %s" % (action, EXIM_PACKAGE, version, version_dir)


def exim_dirs() -> dict:
    base = state_path("exim")
    return {
        "base": base,
        "config": base / "exim.conf",
        "command": base / "exim",
        "spool": base / "spool",
        "log": base / "log",
        "mail": base / "mail",
        "tls": base / "tls",
        "passwd": base / "passwd",
        "group": base / "group",
        "ids": base / "ids",
        "run": base / "run",
        "pidfile": base / "run" / "exim.pid",
        "out": state_path("logs", "exim.out"),
    }


def exim_listen() -> list:
    return [(EXIM["addr"], EXIM["port"]), (EXIM["tarpit_addr"], EXIM["port"])]


def exim_ids() -> tuple:
    """uid and gid of EXIM_USER in the lab's private passwd and group: the host's own when it has that user, else a
    pair free on the host, kept in the state dir so that the spool keeps its owner."""
    try:
        entry = pwd.getpwnam(EXIM_USER)
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        pass
    used_uids = {entry.pw_uid for entry in pwd.getpwall()}
    used_gids = {entry.gr_gid for entry in grp.getgrall()}
    saved = exim_dirs()["ids"]
    try:
        uid, gid = (int(field) for field in saved.read_text().split())
        if uid not in used_uids and gid not in used_gids:
            return uid, gid
    except (OSError, ValueError):
        pass
    # From the top of the system range: adduser --system allocates from its bottom.
    for candidate in range(999, 99, -1):
        if candidate not in used_uids and candidate not in used_gids:
            write_file(saved, "%d %d\n" % (candidate, candidate))
            return candidate, candidate
    raise LabError("no free system uid/gid for %s" % EXIM_USER)


def exim_conf() -> str:
    dirs = exim_dirs()
    return r"""# generated by lab/real/labctl: the lab's Exim, one daemon on two addresses. Nothing leaves the
# machine: the only router accepts the lab users of the local domains, accepted mail stays in the queue
# (queue_only, and the daemon runs no queue runners), and no DNS, reverse or ident lookup is made.
primary_hostname = %(hostname)s
smtp_active_hostname = ${if eq{$received_ip_address}{%(tarpit_addr)s}{%(tarpit_hostname)s}{%(hostname)s}}
daemon_smtp_ports = %(port)d
local_interfaces = %(addr)s : %(tarpit_addr)s
spool_directory = %(spool)s
log_file_path = %(log)s/%%slog
pid_file_path = %(pidfile)s
keep_environment =

domainlist local_domains = %(domain)s : %(tarpit_domain)s
qualify_domain = %(domain)s
queue_only = true
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s

tls_advertise_hosts = *
tls_certificate = %(tls)s/exim.crt
tls_privatekey = %(tls)s/exim.key

acl_smtp_connect = lab_connect
acl_smtp_rcpt = lab_rcpt

begin acl

lab_connect:
  accept condition = ${if eq{$received_ip_address}{%(tarpit_addr)s}}
         delay = %(tarpit_delay)ds
  accept

lab_rcpt:
  # The wording of Debian's default configuration.
  require message = relay not permitted
          domains = +local_domains
  # Unknown local parts get Exim's own "550 Unrouteable address".
  require verify = recipient
  accept

begin routers

lab_users:
  driver = accept
  domains = +local_domains
  local_parts = %(users)s
  transport = lab_maildir

begin transports

# Used only if someone runs the queue by hand (exim -qff): mail stays on the machine.
lab_maildir:
  driver = appendfile
  directory = %(mail)s/$domain/$local_part
  maildir_format
  create_directory
  user = %(user)s

begin retry

*  *  F,1h,15m
""" % dict(EXIM, spool=dirs["spool"], log=dirs["log"], pidfile=dirs["pidfile"], tls=dirs["tls"],
           mail=dirs["mail"], users=" : ".join(EXIM["users"]), user=EXIM_USER)


def exim_command_script(tree: Path) -> str:
    dirs = exim_dirs()
    return """#!/bin/sh
# generated by lab/real/labctl: the lab's Exim with the lab configuration (for example: exim -bp, exim -Mrm ID).
# A private mount namespace overlays the unpacked package on /usr (Exim re-executes itself as /usr/sbin/exim4)
# and shows a passwd and group that hold %(user)s. Nothing outside the namespace changes.
# shellcheck disable=SC2016 # the inner shell expands its own arguments
exec unshare --mount --propagation private -- /bin/sh -c '
    mount -t overlay mailflow-exim -o "lowerdir=$1:/usr" /usr &&
    mount --bind "$2" /etc/passwd &&
    mount --bind "$3" /etc/group &&
    config=$4 && shift 4 &&
    exec /usr/sbin/exim4 -C "$config" "$@"' exim %(usr)s %(passwd)s %(group)s %(config)s "$@"
""" % {"user": EXIM_USER, "usr": shlex.quote(str(tree / "usr")), "passwd": shlex.quote(str(dirs["passwd"])),
       "group": shlex.quote(str(dirs["group"])), "config": shlex.quote(str(dirs["config"]))}


def chown_tree(top: Path, uid: int, gid: int) -> None:
    os.chown(top, uid, gid)
    for root, subdirs, files in os.walk(top):
        for name in subdirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def exim_running() -> int | None:
    dirs = exim_dirs()
    pid = read_pid(dirs["pidfile"])
    if pid_alive(pid) and str(dirs["config"]) in proc_cmdline(pid):
        return pid
    return None


def prepare_exim() -> Path:
    """Everything the daemon needs under <state>/exim; returns the command wrapper."""
    tree = exim_tree()
    if tree is None:
        fetch_exim()
        tree = exim_tree()
    uid, gid = exim_ids()
    dirs = exim_dirs()
    for key in ("base", "tls"):
        dirs[key].mkdir(parents=True, exist_ok=True)
        os.chmod(dirs[key], 0o755)
    # The daemon runs as the Exim user when it removes its pidfile at exit.
    for key in ("spool", "log", "mail", "run"):
        dirs[key].mkdir(parents=True, exist_ok=True)
        chown_tree(dirs[key], uid, gid)
        os.chmod(dirs[key], 0o750)
    # The reception processes run as the Exim user and read the key then.
    shutil.copyfile(state_path("tls", "exim.crt"), dirs["tls"] / "exim.crt")
    shutil.copyfile(state_path("tls", "exim.key"), dirs["tls"] / "exim.key")
    os.chown(dirs["tls"] / "exim.key", uid, gid)
    os.chmod(dirs["tls"] / "exim.key", 0o600)
    passwd = Path("/etc/passwd").read_text(encoding="utf-8")
    group = Path("/etc/group").read_text(encoding="utf-8")
    if not any(line.startswith(EXIM_USER + ":") for line in passwd.splitlines()):
        passwd = passwd.rstrip("\n") + "\n%s:x:%d:%d:Exim (mailflow lab):/nonexistent:/usr/sbin/nologin\n" % (
            EXIM_USER, uid, gid)
    if not any(line.startswith(EXIM_USER + ":") for line in group.splitlines()):
        group = group.rstrip("\n") + "\n%s:x:%d:\n" % (EXIM_USER, gid)
    write_file(dirs["passwd"], passwd)
    write_file(dirs["group"], group)
    write_file(dirs["config"], exim_conf())
    write_file(dirs["command"], exim_command_script(tree), 0o755)
    return dirs["command"]


def start_exim() -> subprocess.Popen:
    refuse_taken("exim", exim_listen())
    command = prepare_exim()
    # -bV reads the configuration: a mistake shows here, with Exim's own message.
    run([str(command), "-bV"], "exim -bV (configuration check)")
    dirs = exim_dirs()
    dirs["out"].parent.mkdir(parents=True, exist_ok=True)
    with open(dirs["out"], "ab") as out:
        return subprocess.Popen([str(command), "-bdf"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True, cwd=str(STATE_DIR))


def stop_exim(pid: int) -> None:
    terminate_tree(pid)
    # Exim's own clean-up re-executes itself without root and leaves the pidfile behind.
    pidfile = exim_dirs()["pidfile"]
    if read_pid(pidfile) == pid:
        pidfile.unlink()


def exim_ready() -> bool:
    banner = smtp_banner(EXIM["addr"], EXIM["port"])
    if not banner or not banner.startswith("220 %s " % EXIM["hostname"]):
        return False
    # The tarpit address holds its greeting back: an accepted connection is enough.
    try:
        socket.create_connection((EXIM["tarpit_addr"], EXIM["port"]), timeout=2.0).close()
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- transport security lab: DANE and MTA-STS (issue 17)
# named on DNS_PORT also serves two zones of these cases: POLICY_ZONE (unsigned: MTA-STS, TLS-RPT, and TLSA that no
# signature covers) and DANE_ZONE (signed with dnssec-signzone; its KSK is the trust anchor of the validating
# resolver). The `test` zone stays unsigned and unchanged. The resolver forwards everything to DNS_PORT, recursion
# for loopback only, so nothing leaves the machine. The TLSA records are computed from the lab's certificates.

RESOLVER_ADDR = "127.0.0.1"
RESOLVER_PORT = 5354
MTA_STS_ADDR = "127.0.0.16"
MTA_STS_PORT = 443
POLICY_ZONE = "policy.test"
DANE_ZONE = "dane.test"
MTA_STS_SCRIPT = REPO_DIR / "lab" / "servers" / "mtastsd.py"
# Re-sign the DANE zone when its signatures are this old (dnssec-signzone signs for 30 days).
RESIGN_AFTER = 7 * 86400
STS_ID = "20261204T000000"
STS_MAX_AGE = 604800
GOOD_RUA = "mailto:tlsrpt@fabrikam.test,https://tlsrpt.fabrikam.test/v1/report"


def sts_policy(mode: str, patterns: list, max_age: int = STS_MAX_AGE) -> str:
    lines = "".join("mx: %s\r\n" % pattern for pattern in patterns)
    return "version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (mode, lines, max_age)


# MTA-STS and TLS-RPT cases, each a mail domain under POLICY_ZONE: its MX (host, address or None for an existing
# lab name), its _mta-sts and _smtp._tls TXT (None: absent), the A of mta-sts.<domain> (None: absent) and the HTTP
# answer there (status, content type, body; None: the host is not in the server's certificate or map).
FAB_MX = [(10, "mx1.fabrikam.test", None)]
STS_CASES = {
    # mx1.fabrikam.test is covered by the wildcard, not by the first pattern.
    "enforce": {"mx": FAB_MX, "sts": "v=STSv1; id=%s" % STS_ID, "rpt": "v=TLSRPTv1; rua=%s" % GOOD_RUA,
                "http": (200, "text/plain", sts_policy("enforce", ["mail.fabrikam.test", "*.fabrikam.test"]))},
    "testing": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID,
                "rpt": "v=TLSRPTv1; rua=ftp://reports.fabrikam.test/tlsrpt",
                "http": (200, "text/plain; charset=utf-8", sts_policy("testing", ["mx1.fabrikam.test"], 86400))},
    "syntax": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": "v=TLSRPTv1",
               "http": (200, "text/plain", "version: STSv1\r\nmode: strict\r\nmx: mx1.fabrikam.test\r\n")},
    "uncovered": {"mx": FAB_MX + [(20, EXIM["hostname"], None)], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None,
                  "http": (200, "text/plain", sts_policy("enforce", ["*.fabrikam.test"]))},
    # The MX name is not on the certificate its address presents (mx1.fabrikam.test's).
    "badcert": {"mx": [(10, "mx.badcert.policy.test", "127.0.0.11")], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None,
                "http": (200, "text/plain", sts_policy("enforce", ["*.badcert.policy.test"]))},
    "nohost": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None, "a": None, "http": None},
    "refused": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None, "a": REFUSED_ADDR, "http": None},
    "tlsname": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None, "http": None},
    "notfound": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None,
                 "http": (404, "text/plain", "no policy here\n")},
    "ctype": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None,
              "http": (200, "text/html", "<html>" + sts_policy("enforce", ["mx1.fabrikam.test"]) + "</html>")},
    "big": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=%s" % STS_ID, "rpt": None,
            "http": (200, "text/plain", sts_policy("enforce", ["mx1.fabrikam.test"]) + "# " + "x" * 70000 + "\r\n")},
    "badtxt": {"mx": FAB_MX[:1], "sts": "v=STSv1; id=not-alnum!", "rpt": None, "a": None, "http": None},
    # TLSA that matches mx1's certificate, in a zone nothing signs.
    "unsigned": {"mx": [(10, "mx.unsigned.policy.test", "127.0.0.11")], "sts": None, "rpt": None, "a": None,
                 "http": None, "tlsa": [("mx1", 3, 1, 1)]},
}

# DANE cases, each a mail domain <name>.dane.test with MX mx.<name>.dane.test at `addr`; `tlsa`: (certificate,
# usage, selector, matching type) where certificate is a lab TLS file name, or (certificate, ..., "wrong") for a
# record that does not match. ehlo_rejected_helo_ok (faultd behaviour 9, 127.0.2.10) offers no STARTTLS.
DANE_CASES = {
    "ee-00": {"addr": "127.0.0.11", "tlsa": [("mx1", 3, 0, 0)]},
    "ee-01": {"addr": "127.0.0.11", "tlsa": [("mx1", 3, 0, 1)]},
    "ee-02": {"addr": "127.0.0.11", "tlsa": [("mx1", 3, 0, 2)]},
    "ee-10": {"addr": "127.0.0.11", "tlsa": [("mx1", 3, 1, 0)]},
    "ee-11": {"addr": "127.0.0.11", "tlsa": [("ca", 3, 1, 1), ("mx1", 3, 1, 1)]},
    "ee-12": {"addr": "127.0.0.11", "tlsa": [("mx1", 3, 1, 2)]},
    "ta": {"addr": EXIM["addr"], "tlsa": [("ca", 2, 0, 1), ("ca", 2, 1, 1)]},
    "nomatch": {"addr": "127.0.0.11", "tlsa": [("mx2", 3, 1, 1), ("ca", 3, 0, 1), ("mx1", 3, 1, 1, "wrong")]},
    "notls": {"addr": "127.0.2.10", "tlsa": [("mx1", 3, 1, 1)]},
    "notlsa": {"addr": "127.0.0.11", "tlsa": []},
    "exim": {"addr": EXIM["addr"], "tlsa": [("exim", 3, 1, 1)]},
}


def policy_dirs() -> dict:
    return {
        "zones": state_path("named"),
        "keys": state_path("named", "keys-%s" % DANE_ZONE),
        "resolver": state_path("resolver"),
        "mta_sts": state_path("mta-sts"),
    }


def der_element(data: bytes, pos: int) -> tuple:
    """(tag, start of the element, start of its content, end) of the DER element at pos."""
    tag, length, content = data[pos], data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        length, content = int.from_bytes(data[content:content + count], "big"), content + count
    return tag, pos, content, content + length


def cert_material(name: str) -> dict:
    """DER of a lab certificate (tls/<name>.crt) and of its SubjectPublicKeyInfo (the TBSCertificate's field after
    the subject: version, serial, signature, issuer, validity, subject, SPKI)."""
    import ssl
    der = ssl.PEM_cert_to_DER_cert(state_path("tls", "%s.crt" % name).read_text(encoding="ascii"))
    _tag, _start, tbs, tbs_end = der_element(der, der_element(der, 0)[2])
    fields = []
    while tbs < tbs_end:
        tag, start, _content, tbs = der_element(der, tbs)
        if tag != 0xA0:
            fields.append((start, tbs))
    spki_start, spki_end = fields[5]
    return {0: der, 1: der[spki_start:spki_end]}


def tlsa_rdata(material: dict, usage: int, selector: int, matching: int, wrong: bool = False) -> str:
    import hashlib
    data = material[selector]
    digest = {0: lambda blob: blob, 1: lambda blob: hashlib.sha256(blob).digest(),
              2: lambda blob: hashlib.sha512(blob).digest()}[matching](data)
    if wrong:
        digest = bytes(byte ^ 0xFF for byte in digest[:4]) + digest[4:]
    return "%d %d %d %s" % (usage, selector, matching, digest.hex())


def zone_head(zone: str) -> list:
    return ["$TTL %d" % ZONE_TTL, "$ORIGIN %s." % zone,
            "@ IN SOA ns.test. hostmaster.test. ( SERIAL 300 60 3600 %d )" % NEGATIVE_TTL, "@ IN NS ns.test.", ""]


def with_serial(lines: list) -> str:
    body = "\n".join(lines) + "\n"
    return body.replace("SERIAL", str(zlib.crc32(body.encode("utf-8")) & 0x7FFFFFFF), 1)


def txt(text: str) -> str:
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"')


def policy_zone_text(materials) -> str:
    lines = zone_head(POLICY_ZONE)
    for name, case in STS_CASES.items():
        for preference, host, addr in case["mx"]:
            lines.append("%s IN MX %d %s." % (name, preference, host))
            if addr:
                lines.append("%s. IN A %s" % (host, addr))
        if case["sts"]:
            lines.append("_mta-sts.%s IN TXT %s" % (name, txt(case["sts"])))
        if case["rpt"]:
            lines.append("_smtp._tls.%s IN TXT %s" % (name, txt(case["rpt"])))
        address = case.get("a", MTA_STS_ADDR)
        if address:
            lines.append("mta-sts.%s IN A %s" % (name, address))
        for cert, usage, selector, matching in case.get("tlsa", []):
            lines.append("_25._tcp.%s. IN TLSA %s" % (case["mx"][0][1], tlsa_rdata(materials(cert), usage, selector,
                                                                                   matching)))
        lines.append("")
    return with_serial(lines)


def dane_zone_text(materials) -> str:
    lines = zone_head(DANE_ZONE)
    for name, case in DANE_CASES.items():
        lines.append("%s IN MX 10 mx.%s" % (name, name))
        lines.append("mx.%s IN A %s" % (name, case["addr"]))
        for record in case["tlsa"]:
            lines.append("_25._tcp.mx.%s IN TLSA %s" % (name, tlsa_rdata(materials(record[0]), *record[1:4],
                                                                         wrong=len(record) > 4)))
        lines.append("")
    return with_serial(lines)


def dane_anchor() -> str:
    """The KSK's DNSKEY as a trust-anchors clause."""
    for key_file in sorted(policy_dirs()["keys"].glob("K%s.+*.key" % DANE_ZONE)):
        for line in key_file.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if line.startswith(";") or "DNSKEY" not in fields:
                continue
            rest = fields[fields.index("DNSKEY") + 1:]
            if rest[0] == "257":
                return '"%s." static-key %s %s %s "%s";' % (DANE_ZONE, rest[0], rest[1], rest[2], "".join(rest[3:]))
    raise LabError("no KSK for %s in %s" % (DANE_ZONE, policy_dirs()["keys"]))


def sign_dane_zone(unsigned: Path, signed: Path, changed: bool) -> bool:
    keys = policy_dirs()["keys"]
    if not list(keys.glob("K%s.+*.key" % DANE_ZONE)):
        keys.mkdir(parents=True, exist_ok=True)
        for extra in (["-f", "KSK"], []):
            run(["dnssec-keygen", "-q", "-K", str(keys), "-a", "ECDSAP256SHA256"] + extra + ["-n", "ZONE", DANE_ZONE],
                "dnssec-keygen %s" % DANE_ZONE)
        changed = True
    if not changed and signed.exists() and time.time() - signed.stat().st_mtime < RESIGN_AFTER:
        return False
    # -d: the dsset file goes with the keys, not into the working directory.
    run(["dnssec-signzone", "-q", "-S", "-K", str(keys), "-d", str(keys), "-o", DANE_ZONE, "-f", str(signed) + ".tmp",
         str(unsigned)],
        "dnssec-signzone %s" % DANE_ZONE)
    os.replace(str(signed) + ".tmp", signed)
    return True


def policy_zone_stanzas() -> str:
    zones = policy_dirs()["zones"]
    return ('zone "%s" { type primary; file "%s/db.%s"; };\n' % (POLICY_ZONE, zones, POLICY_ZONE)
            + 'zone "%s" { type primary; file "%s/db.%s.signed"; };\n' % (DANE_ZONE, zones, DANE_ZONE))


def ensure_policy_zones() -> bool:
    """Write the two zones (signing the DANE one); True when named must reload. Needs the lab's TLS material."""
    ensure_tls()
    cache = {}

    def materials(name):
        if name not in cache:
            cache[name] = cert_material(name)
        return cache[name]
    zones = policy_dirs()["zones"]
    changed = write_if_changed(zones / ("db.%s" % POLICY_ZONE), policy_zone_text(materials))
    dane_changed = write_if_changed(zones / ("db.%s" % DANE_ZONE), dane_zone_text(materials))
    signed = sign_dane_zone(zones / ("db.%s" % DANE_ZONE), zones / ("db.%s.signed" % DANE_ZONE), dane_changed)
    return changed or signed


def resolver_conf() -> str:
    base = policy_dirs()["resolver"]
    return """// generated by lab/real/labctl: a validating resolver for the lab zones (sets AD on dane.test answers)
options {
    directory "%(dir)s";
    pid-file "%(dir)s/named.pid";
    session-keyfile "%(dir)s/session.key";
    managed-keys-directory "%(dir)s";
    listen-on port %(port)d { %(addr)s; };
    listen-on-v6 { none; };
    recursion yes;
    allow-query { 127.0.0.0/8; };
    allow-recursion { 127.0.0.0/8; };
    // Everything goes to the lab's authoritative named: no query leaves the machine.
    forwarders { %(auth)s port %(auth_port)d; };
    forward only;
    dnssec-validation yes;
    qname-minimization off;
    // The lab zones change on every reload; keep nothing for long.
    max-cache-ttl 5;
    max-ncache-ttl 5;
    notify no;
};
trust-anchors { %(anchor)s };
controls { };
logging {
    channel lab_log { file "%(log)s" versions 0 size 5m; severity info; print-time yes; };
    category default { lab_log; };
    category lame-servers { null; };
};
""" % {"dir": base, "port": RESOLVER_PORT, "addr": RESOLVER_ADDR, "auth": DNS_ADDR, "auth_port": DNS_PORT,
       "anchor": dane_anchor(), "log": state_path("logs", "resolver.log")}


def resolver_running() -> int | None:
    pid = read_pid(policy_dirs()["resolver"] / "named.pid")
    if pid_alive(pid) and str(policy_dirs()["resolver"] / "named.conf") in proc_cmdline(pid):
        return pid
    return None


def start_resolver() -> None:
    refuse_taken("resolver", [(RESOLVER_ADDR, RESOLVER_PORT)], (socket.SOCK_STREAM, socket.SOCK_DGRAM))
    base = policy_dirs()["resolver"]
    base.mkdir(parents=True, exist_ok=True)
    write_file(base / "named.conf", resolver_conf())
    named = shutil.which("named") or "/usr/sbin/named"
    run([named, "-4", "-c", str(base / "named.conf")], "named (validating resolver)")


def resolver_ready() -> bool:
    """The resolver answers and validates: the SOA of the signed zone comes with AD."""
    proc = subprocess.run(["dig", "-p", str(RESOLVER_PORT), "@" + RESOLVER_ADDR, "+time=1", "+tries=1", "+dnssec",
                           "SOA", DANE_ZONE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          check=False)
    return any(line.startswith(";; flags:") and " ad" in line.split(";")[2] for line in proc.stdout.splitlines())


def mta_sts_hosts() -> dict:
    """Host name -> the HTTP answer, for every case the policy server serves (its certificate names them all)."""
    hosts = {}
    for name, case in STS_CASES.items():
        if case["http"] is not None:
            status, content_type, body = case["http"]
            entry = {"status": status, "content_type": content_type, "body": body}
            hosts["mta-sts.%s.%s" % (name, POLICY_ZONE)] = entry
    return hosts


def mta_sts_policies_text() -> str:
    return json.dumps(mta_sts_hosts(), indent=1, sort_keys=True)


def read_text_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def mta_sts_running() -> int | None:
    pid = read_pid(policy_dirs()["mta_sts"] / "mtastsd.pid")
    if pid_alive(pid) and any(part.endswith("mtastsd.py") for part in proc_cmdline(pid)):
        return pid
    return None


def start_mta_sts() -> subprocess.Popen:
    refuse_taken("mta-sts", [(MTA_STS_ADDR, MTA_STS_PORT)])
    base = policy_dirs()["mta_sts"]
    base.mkdir(parents=True, exist_ok=True)
    hosts = mta_sts_hosts()
    # The certificate names every served host; a changed list gets a new one.
    names_file = base / "names"
    names = "\n".join(sorted(hosts)) + "\n"
    if write_if_changed(names_file, names):
        for suffix in ("crt", "key"):
            state_path("tls", "mta-sts.%s" % suffix).unlink(missing_ok=True)
    ensure_tls(hostnames={"mta-sts": sorted(hosts)})
    write_file(base / "policies.json", mta_sts_policies_text())
    argv = [sys.executable, str(MTA_STS_SCRIPT), "--listen", MTA_STS_ADDR, "--port", str(MTA_STS_PORT),
            "--cert", str(state_path("tls", "mta-sts.crt")), "--key", str(state_path("tls", "mta-sts.key")),
            "--policies", str(base / "policies.json"), "--pid-file", str(base / "mtastsd.pid")]
    with open(state_path("logs", "mta-sts.log"), "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=str(STATE_DIR))


def mta_sts_ready() -> bool:
    if mta_sts_running() is None:
        return False
    try:
        socket.create_connection((MTA_STS_ADDR, MTA_STS_PORT), timeout=2.0).close()
    except OSError:
        return False
    return True


POLICY_COMPONENTS = ("resolver", "mta-sts")


def start_policy_components(names, started: list) -> list:
    """Start the resolver and the policy server when they are not running (a running resolver reloads a changed
    configuration); returns the Popen objects to watch during the readiness wait."""
    procs = []
    if "resolver" in names:
        pid = resolver_running()
        if pid is None:
            start_resolver()
            started.append("resolver")
        elif write_if_changed(policy_dirs()["resolver"] / "named.conf", resolver_conf()):
            os.kill(pid, signal.SIGHUP)
    if "mta-sts" in names:
        pid = mta_sts_running()
        if pid is not None and mta_sts_policies_text() != read_text_or_empty(policy_dirs()["mta_sts"] / "policies.json"):
            # The server reads its policies at start: a changed set needs a new one.
            terminate_tree(pid)
            pid = None
        if pid is None:
            procs.append(start_mta_sts())
            started.append("mta-sts")
    return procs


def wait_ready(names, procs=()) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    pending = list(names)
    while pending and time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                raise LabError("%s exited with %s during start" % (" ".join(proc.args[:2]), proc.returncode))
        pending = [name for name in pending if not component_ready(name)]
        if pending:
            time.sleep(0.05)
    if pending:
        raise LabError("not answering after %.0f s: %s" % (READY_TIMEOUT, ", ".join(
            "%s (log: %s)" % (name, log_hint(name)) for name in pending)))


def start_only(names) -> str:
    """`labctl start resolver mta-sts`: only these (named reloads changed zones, or starts when it is down)."""
    smuggling = ["postfix-%s" % name for name in senderlab.SMUGGLING_INSTANCES]
    unknown = [name for name in names if name not in POLICY_COMPONENTS and name not in smuggling]
    if unknown:
        raise LabError("start takes only %s by name (got %s); without names it starts the whole lab"
                       % (", ".join(POLICY_COMPONENTS + tuple(smuggling)), ", ".join(unknown)))
    with StateLock():
        state_path("logs").mkdir(parents=True, exist_ok=True)
        started = []
        named_action = ensure_named(fault_behaviours())
        procs = start_policy_components(names, started)
        for name in [name for name in names if name in smuggling]:
            if postfix_running(name[len("postfix-"):]) is None:
                start_postfix(name[len("postfix-"):])
                started.append(name)
        wait_ready(["named"] + list(names), procs)
    done = (["started " + ", ".join(started)] if started else []) + (
        ["named %s" % named_action] if named_action else [])
    return "mailflow lab: %s" % ("; ".join(done) or "already running")


# ---------------------------------------------------------------- components

def smtp_sockets(name: str) -> list:
    return INSTANCES[name]["listen"]


def component_names() -> list:
    return ["named", "dovecot", roundtriplab.COMPONENT] + ["postfix-%s" % name for name in INSTANCES] + [
        "faultd", "exim", "resolver", "mta-sts"]


def component_pid(component: str) -> int | None:
    if component == "named":
        return named_running()
    if component == "dovecot":
        return dovecot_running()
    if component == roundtriplab.COMPONENT:
        return roundtriplab.dovecot_running(STATE_DIR, read_pid, pid_alive, proc_cmdline)
    if component == "faultd":
        return faultd_running()
    if component == "exim":
        return exim_running()
    if component == "resolver":
        return resolver_running()
    if component == "mta-sts":
        return mta_sts_running()
    return postfix_running(component[len("postfix-"):])


def component_ready(component: str) -> bool:
    if component == "named":
        return dns_answers()
    if component == "dovecot":
        return unix_socket_answers(dovecot_auth_socket())
    if component == roundtriplab.COMPONENT:
        return roundtriplab.dovecot_ready(STATE_DIR)
    if component == "faultd":
        # faultd writes its map only once every listener is bound.
        if not state_path("fault-map.json").exists():
            return False
        banner = smtp_banner(FAULT_BASE, FAULT_PORT)
        return bool(banner) and banner.startswith("220 ")
    if component == "exim":
        return exim_ready()
    if component == "resolver":
        return resolver_ready()
    if component == "mta-sts":
        return mta_sts_ready()
    name = component[len("postfix-"):]
    for addr, port in smtp_sockets(name):
        banner = smtp_banner(addr, port)
        if not banner or not banner.startswith("220 %s " % INSTANCES[name]["hostname"]):
            return False
    return True


def component_endpoints(component: str) -> str:
    if component == "named":
        return "%s:%d udp+tcp" % (DNS_ADDR, DNS_PORT)
    if component == "dovecot":
        return str(dovecot_auth_socket())
    if component == roundtriplab.COMPONENT:
        return roundtriplab.endpoints()
    if component == "faultd":
        return "%s.. port %d" % (FAULT_BASE, FAULT_PORT)
    if component == "exim":
        return "%s %s (greeting after %d s)" % (
            fmt_addr(EXIM["addr"], EXIM["port"]), fmt_addr(EXIM["tarpit_addr"], EXIM["port"]), EXIM["tarpit_delay"])
    if component == "resolver":
        return "%s:%d udp+tcp (validating, trust anchor %s)" % (RESOLVER_ADDR, RESOLVER_PORT, DANE_ZONE)
    if component == "mta-sts":
        return "https://%s:%d (mta-sts.<domain>.%s)" % (MTA_STS_ADDR, MTA_STS_PORT, POLICY_ZONE)
    return " ".join(fmt_addr(addr, port) for addr, port in smtp_sockets(component[len("postfix-"):]))


def log_hint(component: str) -> Path:
    if component.startswith("postfix-"):
        return postfix_dirs(component[len("postfix-"):])["log"]
    if component == "exim":
        return exim_dirs()["out"]
    if component == roundtriplab.COMPONENT:
        return roundtriplab.dirs(STATE_DIR)["log"]
    return state_path("logs", {"named": "named.log", "dovecot": "dovecot.log", "faultd": "faultd.out",
                               "resolver": "resolver.log", "mta-sts": "mta-sts.log"}[component])


# ---------------------------------------------------------------- commands

class StateLock:
    """Serialises labctl runs against one state dir (parallel test runners start the lab together)."""

    def __enter__(self):
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        os.chmod(STATE_DIR, 0o755)
        (STATE_DIR / STATE_MARKER).touch()
        self.handle = open(STATE_DIR / ".labctl.lock", "w", encoding="utf-8")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the real lab needs root (Postfix on port 25, named, dovecot); use the embedded lab instead")


def start_components() -> str:
    with StateLock():
        state_path("logs").mkdir(parents=True, exist_ok=True)
        faultd_present = FAULTD_SCRIPT.exists()
        started = []
        named_action = ensure_named(fault_behaviours())
        if named_action == "started":
            started.append("named")
        ensure_tls()
        if dovecot_running() is None:
            start_dovecot()
            started.append("dovecot")
        if component_pid(roundtriplab.COMPONENT) is None:
            roundtriplab.start_dovecot(STATE_DIR, state_path("tls"), run, write_file)
            started.append(roundtriplab.COMPONENT)
        # faultd binds its sockets while the Postfix instances run their start-up checks.
        faultd_proc = None
        if faultd_present and faultd_running() is None:
            faultd_proc = start_faultd()
            started.append("faultd")
        exim_proc, exim_error = None, None
        if exim_running() is None:
            # Exim needs its packages (apt, once): when that fails, the rest of the lab still starts.
            try:
                exim_proc = start_exim()
                started.append("exim")
            except LabError as exc:
                exim_error = str(exc)
        policy_procs = start_policy_components(POLICY_COMPONENTS, started)
        postfix_todo = [name for name in INSTANCES if postfix_running(name) is None]
        errors = []

        def start_one(name):
            try:
                start_postfix(name)
            except LabError as exc:
                errors.append(str(exc))
        # Each `postfix start` spends ~0.4 s in postfix-script checks; run the instances side by side.
        threads = [threading.Thread(target=start_one, args=(name,)) for name in postfix_todo]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise LabError("\n".join(errors))
        started += ["postfix-%s" % name for name in postfix_todo]

        wanted = [name for name in component_names()
                  if (name != "faultd" or faultd_present) and (name != "exim" or exim_error is None)]
        deadline = time.monotonic() + READY_TIMEOUT
        pending = list(wanted)
        while pending and time.monotonic() < deadline:
            if faultd_proc is not None and faultd_proc.poll() is not None:
                raise LabError("fault server exited with %s during start; see %s"
                               % (faultd_proc.returncode, log_hint("faultd")))
            if exim_proc is not None and exim_proc.poll() is not None:
                raise LabError("exim exited with %s during start; see %s and %s"
                               % (exim_proc.returncode, log_hint("exim"), exim_dirs()["log"] / "paniclog"))
            if any(proc.poll() is not None for proc in policy_procs):
                raise LabError("the MTA-STS policy server exited during start; see %s" % log_hint("mta-sts"))
            pending = [name for name in pending if not component_ready(name)]
            if pending:
                time.sleep(0.05)
        if pending:
            raise LabError("not answering after %.0f s: %s" % (READY_TIMEOUT, ", ".join(
                "%s (log: %s)" % (name, log_hint(name)) for name in pending)))
        if not faultd_present:
            raise LabError("fault server missing: %s does not exist; everything else is up" % FAULTD_SCRIPT)
        if exim_error is not None:
            raise LabError("exim did not start; everything else is up: %s" % exim_error)
    done = (["started " + ", ".join(started)] if started else []) + (
        ["reloaded the zone"] if named_action == "reloaded" else [])
    return "mailflow lab up: %s" % ("; ".join(done) or "already running")


def become_reaper(name: bytes) -> None:
    """Adopt orphaned descendants (PR_SET_CHILD_SUBREAPER) so their exits are reaped here.

    Daemons fork and detach; their orphans go to the nearest subreaper, else to PID 1. Some container
    and micro-VM inits never reap, and dead postfix/named processes would then linger as zombies.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise LabError("prctl(PR_SET_CHILD_SUBREAPER) failed: %s" % os.strerror(ctypes.get_errno()))
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)


def run_in_reaper(name: bytes, work) -> dict:
    """Run work() in a forked, detached child that then stays behind as the reaper of what it started.

    work() returns a JSON-serialisable dict, which the caller gets back; an exception in it comes back as
    {"error": ...}. The child holds none of the caller's descriptors, so `$(labctl start)` and test harness
    pipes finish when the caller does; it exits once every process it adopted is gone.
    """
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, 65536)
        os.setsid()
        try:
            become_reaper(name)
            outcome = work()
        except Exception as exc:  # report anything to the waiting parent rather than dying silently
            lab_error = isinstance(exc, LabError)
            outcome = {"error": str(exc) if lab_error else "%s: %s" % (type(exc).__name__, exc), "lab_error": lab_error}
        with os.fdopen(write_fd, "w") as report:
            report.write(json.dumps(outcome))
        while True:
            try:
                os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as report:
        raw = report.read()
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": "the %s process died without a report" % name.decode()}


def cmd_start(args) -> int:
    require_root()
    if args.components:
        outcome = run_in_reaper(b"mailflow-reaper", lambda: {"message": start_only(args.components)})
    else:
        outcome = run_in_reaper(b"mailflow-reaper", lambda: {"message": start_components()})
    if "error" in outcome:
        print("labctl start: %s" % outcome["error"], file=sys.stderr)
        return 2 if outcome.get("lab_error") else 3
    print(outcome["message"])
    return 0


def cmd_stop(args) -> int:
    require_root()
    unknown = [name for name in args.components if name not in component_names()]
    if unknown:
        raise LabError("unknown component %s (components: %s)" % (", ".join(unknown), ", ".join(component_names())))
    if args.purge and args.components:
        raise LabError("--purge removes the whole state dir: it cannot go with a list of components")
    if not STATE_DIR.exists():
        return 0
    chosen = args.components or component_names()
    with StateLock():
        jobs = []
        for component in chosen:
            pid = component_pid(component)
            if pid is None:
                continue
            if component.startswith("postfix-"):
                jobs.append((stop_postfix, (component[len("postfix-"):], pid)))
            elif component == "exim":
                jobs.append((stop_exim, (pid,)))
            else:
                jobs.append((terminate_tree, (pid,)))
        errors = []

        def stop_one(stopper, stop_args):
            try:
                stopper(*stop_args)
            except LabError as exc:
                errors.append(str(exc))
        # Nothing depends on shutdown order; stopping side by side keeps `stop` near the slowest daemon.
        threads = [threading.Thread(target=stop_one, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise LabError("\n".join(errors))
        left = [name for name in chosen if component_pid(name)]
        if left:
            raise LabError("still running: %s" % ", ".join(left))
    if args.purge:
        if not (STATE_DIR / STATE_MARKER).exists():
            raise LabError("refusing to purge %s: it is not a lab state dir (no %s)" % (STATE_DIR, STATE_MARKER))
        shutil.rmtree(STATE_DIR)
    return 0


def cmd_status(_args) -> int:
    all_up = True
    for name in component_names():
        if name == "faultd" and not FAULTD_SCRIPT.exists():
            print("%-22s absent   (%s missing)" % (name, FAULTD_SCRIPT))
            all_up = False
            continue
        pid = component_pid(name) if STATE_DIR.exists() else None
        if pid is None:
            state = "down"
        else:
            state = "up" if component_ready(name) else "stalled"
        all_up = all_up and state == "up"
        print("%-22s %-8s pid %-8s %s" % (name, state, pid or "-", component_endpoints(name)))
    return 0 if all_up else 1


def env_vars() -> dict:
    values = {
        "MAILFLOW_LAB_STATE": STATE_DIR,
        "MAILFLOW_LAB_DNS_SERVER": DNS_ADDR,
        "MAILFLOW_LAB_DNS_PORT": DNS_PORT,
        "MAILFLOW_LAB_ZONE": ZONE,
        "MAILFLOW_LAB_REFUSED_ADDR": REFUSED_ADDR,
        "MAILFLOW_LAB_CA_FILE": state_path("tls", "ca.crt"),
        "MAILFLOW_LAB_TLS_DIR": state_path("tls"),
    }
    for name, spec in INSTANCES.items():
        prefix = "MAILFLOW_LAB_%s_" % name.upper()
        dirs = postfix_dirs(name)
        v4 = [addr for addr, _port in spec["listen"] if ":" not in addr]
        v6 = [addr for addr, _port in spec["listen"] if ":" in addr]
        values[prefix + "HOSTNAME"] = spec["hostname"]
        values[prefix + "ADDR"] = v4[0]
        if v6:
            values[prefix + "ADDR6"] = v6[0]
        values[prefix + "PORTS"] = " ".join(sorted({str(port) for _addr, port in spec["listen"]}))
        values[prefix + "DOMAIN"] = spec["domain"]
        values[prefix + "LOG"] = dirs["log"]
        values[prefix + "CONFIG_DIR"] = dirs["config"]
        values[prefix + "MAIL_ROOT"] = dirs["mail"]
        for user, maildir in mailboxes(name).items():
            values["MAILFLOW_LAB_MAILDIR_%s_%s" % (name.upper(), user.upper())] = maildir
    values.update({
        "MAILFLOW_LAB_SUBMISSION_PORT": 587,
        "MAILFLOW_LAB_SASL_USER": SASL_USER,
        "MAILFLOW_LAB_SASL_PASSWORD_FILE": state_path("sasl-password"),
        "MAILFLOW_LAB_DOVECOT_LOG": state_path("logs", "dovecot.log"),
        "MAILFLOW_LAB_NAMED_LOG": state_path("logs", "named.log"),
        "MAILFLOW_LAB_FAULT_BASE": FAULT_BASE,
        "MAILFLOW_LAB_FAULT_PORT": FAULT_PORT,
        "MAILFLOW_LAB_FAULT_MAP": state_path("fault-map.json"),
        "MAILFLOW_LAB_FAULT_LOG": state_path("fault.jsonl"),
        "MAILFLOW_LAB_FAULT_PIDFILE": state_path("faultd.pid"),
        "MAILFLOW_LAB_EXIM_HOSTNAME": EXIM["hostname"],
        "MAILFLOW_LAB_EXIM_ADDR": EXIM["addr"],
        "MAILFLOW_LAB_EXIM_PORT": EXIM["port"],
        "MAILFLOW_LAB_EXIM_DOMAIN": EXIM["domain"],
        "MAILFLOW_LAB_EXIM_USERS": " ".join(EXIM["users"]),
        "MAILFLOW_LAB_EXIM_TARPIT_HOSTNAME": EXIM["tarpit_hostname"],
        "MAILFLOW_LAB_EXIM_TARPIT_ADDR": EXIM["tarpit_addr"],
        "MAILFLOW_LAB_EXIM_TARPIT_DOMAIN": EXIM["tarpit_domain"],
        "MAILFLOW_LAB_EXIM_TARPIT_DELAY": EXIM["tarpit_delay"],
        "MAILFLOW_LAB_EXIM_COMMAND": exim_dirs()["command"],
        "MAILFLOW_LAB_EXIM_CONFIG": exim_dirs()["config"],
        "MAILFLOW_LAB_EXIM_LOG": exim_dirs()["log"] / "mainlog",
        "MAILFLOW_LAB_EXIM_PIDFILE": exim_dirs()["pidfile"],
        "MAILFLOW_LAB_RESOLVER_ADDR": RESOLVER_ADDR,
        "MAILFLOW_LAB_RESOLVER_PORT": RESOLVER_PORT,
        "MAILFLOW_LAB_DANE_ZONE": DANE_ZONE,
        "MAILFLOW_LAB_POLICY_ZONE": POLICY_ZONE,
        "MAILFLOW_LAB_MTA_STS_ADDR": MTA_STS_ADDR,
        "MAILFLOW_LAB_MTA_STS_PORT": MTA_STS_PORT,
    })
    values.update(roundtriplab.env_values(STATE_DIR))
    return {key: str(value) for key, value in values.items()}


def cmd_fetch_exim(_args) -> int:
    require_root()
    print(fetch_exim())
    return 0


def cmd_env(args) -> int:
    values = env_vars()
    if args.json:
        print(json.dumps(values, indent=2, sort_keys=True))
    else:
        for key, value in values.items():
            print("%s=%s" % (key, shlex.quote(value)))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start what is not running and wait until everything answers")
    start.add_argument("components", nargs="*", metavar="COMPONENT",
                       help="only these (resolver, mta-sts); named reloads changed zones")
    stop = sub.add_parser("stop", help="stop everything the lab started, or only the components named")
    stop.add_argument("--purge", action="store_true", help="also remove the state directory")
    stop.add_argument("components", nargs="*", metavar="COMPONENT", help="named, dovecot, postfix-mx1, ..., exim")
    sub.add_parser("status", help="show what runs; exit 0 only if everything is up")
    env = sub.add_parser("env", help="print KEY=VALUE lines for the tests")
    env.add_argument("--json", action="store_true", help="print a JSON object instead")
    sub.add_parser("fetch-exim", help="download and unpack Exim's Debian packages into the cache (idempotent)")
    args = parser.parse_args(argv)
    handler = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "env": cmd_env,
               "fetch-exim": cmd_fetch_exim}[args.command]
    # `labctl status | head` should end quietly, as other command-line tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return handler(args)
    except LabError as exc:
        print("labctl %s: %s" % (args.command, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
