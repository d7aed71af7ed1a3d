# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real lab (root only): BIND9, three Postfix instances, Dovecot SASL and the fault server, on loopback.

Run through the `labctl` wrapper next to this file:

    labctl start            start what is not running, wait until everything answers
    labctl stop [--purge]   stop what the lab started (by its own pidfiles); --purge removes the state dir
    labctl status           show what runs; exit 0 only when everything is up
    labctl env [--json]     shell-sourceable KEY=VALUE lines for the tests

Stdlib only. Every file the lab writes lives in $MAILFLOW_LAB_STATE (default /var/tmp/mailops-mailflow-lab).
The address plan is docs/internals.md.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import json
import os
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


def run(argv: list, what: str, stdin_text: str | None = None, env: dict | None = None) -> str:
    # Output goes through a file, not a pipe: daemons that fork keep inherited fds open and a pipe never ends.
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as out:
        proc = subprocess.run(argv, input=stdin_text, stdin=None if stdin_text is not None else subprocess.DEVNULL,
                              stdout=out, stderr=subprocess.STDOUT, text=True, check=False, env=env)
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
    """Lab CA plus one leaf per instance (`hostnames`: instance name -> host name; default: INSTANCES)."""
    tls = Path(tls_dir) if tls_dir is not None else state_path("tls")
    if hostnames is None:
        hostnames = {name: spec["hostname"] for name, spec in INSTANCES.items()}
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
    for name, hostname in hostnames.items():
        crt, key = tls / ("%s.crt" % name), tls / ("%s.key" % name)
        if crt.exists() and key.exists():
            continue
        csr, ext = tls / ("%s.csr" % name), tls / ("%s.ext" % name)
        write_file(ext, "basicConstraints=critical,CA:FALSE\n"
                        "keyUsage=critical,digitalSignature,keyEncipherment\n"
                        "extendedKeyUsage=serverAuth\n"
                        "subjectAltName=DNS:%s\n" % hostname)
        run([openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-keyout", str(key),
             "-out", str(csr), "-subj", "/CN=%s" % hostname], "openssl req %s" % name)
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
        "; 40 long exchanger names: the answer does not fit a UDP reply (TC set), clients retry over TCP",
    ]
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
    changed = write_if_changed(state_path("named", "named.conf"), named_conf())
    changed = write_if_changed(state_path("named", "db.%s" % ZONE), zone) or changed
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


# ---------------------------------------------------------------- components

def smtp_sockets(name: str) -> list:
    return INSTANCES[name]["listen"]


def component_names() -> list:
    return ["named", "dovecot"] + ["postfix-%s" % name for name in INSTANCES] + ["faultd"]


def component_pid(component: str) -> int | None:
    if component == "named":
        return named_running()
    if component == "dovecot":
        return dovecot_running()
    if component == "faultd":
        return faultd_running()
    return postfix_running(component[len("postfix-"):])


def component_ready(component: str) -> bool:
    if component == "named":
        return dns_answers()
    if component == "dovecot":
        return unix_socket_answers(dovecot_auth_socket())
    if component == "faultd":
        # faultd writes its map only once every listener is bound.
        if not state_path("fault-map.json").exists():
            return False
        banner = smtp_banner(FAULT_BASE, FAULT_PORT)
        return bool(banner) and banner.startswith("220 ")
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
    if component == "faultd":
        return "%s.. port %d" % (FAULT_BASE, FAULT_PORT)
    return " ".join(fmt_addr(addr, port) for addr, port in smtp_sockets(component[len("postfix-"):]))


def log_hint(component: str) -> Path:
    if component.startswith("postfix-"):
        return postfix_dirs(component[len("postfix-"):])["log"]
    return state_path("logs", {"named": "named.log", "dovecot": "dovecot.log", "faultd": "faultd.out"}[component])


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
        # faultd binds its sockets while the Postfix instances run their start-up checks.
        faultd_proc = None
        if faultd_present and faultd_running() is None:
            faultd_proc = start_faultd()
            started.append("faultd")
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

        wanted = [name for name in component_names() if name != "faultd" or faultd_present]
        deadline = time.monotonic() + READY_TIMEOUT
        pending = list(wanted)
        while pending and time.monotonic() < deadline:
            if faultd_proc is not None and faultd_proc.poll() is not None:
                raise LabError("fault server exited with %s during start; see %s"
                               % (faultd_proc.returncode, log_hint("faultd")))
            pending = [name for name in pending if not component_ready(name)]
            if pending:
                time.sleep(0.05)
        if pending:
            raise LabError("not answering after %.0f s: %s" % (READY_TIMEOUT, ", ".join(
                "%s (log: %s)" % (name, log_hint(name)) for name in pending)))
        if not faultd_present:
            raise LabError("fault server missing: %s does not exist; everything else is up" % FAULTD_SCRIPT)
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


def cmd_start(_args) -> int:
    require_root()
    outcome = run_in_reaper(b"mailflow-reaper", lambda: {"message": start_components()})
    if "error" in outcome:
        print("labctl start: %s" % outcome["error"], file=sys.stderr)
        return 2 if outcome.get("lab_error") else 3
    print(outcome["message"])
    return 0


def cmd_stop(args) -> int:
    require_root()
    if not STATE_DIR.exists():
        return 0
    with StateLock():
        jobs = []
        for component in component_names():
            pid = component_pid(component)
            if pid is None:
                continue
            if component.startswith("postfix-"):
                jobs.append((stop_postfix, (component[len("postfix-"):], pid)))
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
        left = [name for name in component_names() if component_pid(name)]
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
            print("%-18s absent   (%s missing)" % (name, FAULTD_SCRIPT))
            all_up = False
            continue
        pid = component_pid(name) if STATE_DIR.exists() else None
        if pid is None:
            state = "down"
        else:
            state = "up" if component_ready(name) else "stalled"
        all_up = all_up and state == "up"
        print("%-18s %-8s pid %-8s %s" % (name, state, pid or "-", component_endpoints(name)))
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
    })
    return {key: str(value) for key, value in values.items()}


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
    sub.add_parser("start", help="start what is not running and wait until everything answers")
    stop = sub.add_parser("stop", help="stop everything the lab started")
    stop.add_argument("--purge", action="store_true", help="also remove the state directory")
    sub.add_parser("status", help="show what runs; exit 0 only if everything is up")
    env = sub.add_parser("env", help="print KEY=VALUE lines for the tests")
    env.add_argument("--json", action="store_true", help="print a JSON object instead")
    args = parser.parse_args(argv)
    handler = {"start": cmd_start, "stop": cmd_stop, "status": cmd_status, "env": cmd_env}[args.command]
    # `labctl status | head` should end quietly, as other command-line tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        return handler(args)
    except LabError as exc:
        print("labctl %s: %s" % (args.command, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
