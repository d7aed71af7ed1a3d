# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet lab (root only): transport hosts with sshd in network namespaces, and an "internet" namespace.

Run through the `fleetctl` wrapper next to this file:

    fleetctl up [--hosts N] [--faults standard|none] [--python PY]   build the fleet, wait until it all answers
    fleetctl down                        kill every fleet process (by PID), delete the namespaces
    fleetctl status [--json]             what runs; exit 0 only when the whole fleet is up
    fleetctl inventory [--path]          the Ansible inventory of the fleet (JSON), or its path
    fleetctl env [--json]                MAILFLOW_FLEET_* variables
    fleetctl exec [--ns NAME] -- CMD...  run CMD in the controller namespace (where Ansible runs)
    fleetctl fault add|del KIND HOST     add or remove one fault (kinds: `fleetctl fault list`)

Stdlib only (Python 3.8+). The addresses (198.18.0.0/24, RFC 2544) exist only inside the namespaces, and no
namespace has a default route. Files live in $MAILFLOW_FLEET_STATE (default /var/tmp/mailops-mailflow-fleet);
namespace names start with $MAILFLOW_FLEET_PREFIX (default mff). See README.md next to this file.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

FLEET_DIR = Path(__file__).resolve().parent
REPO_DIR = FLEET_DIR.parent.parent
sys.path.insert(0, str(REPO_DIR / "lab" / "real"))
# The real lab's Postfix/BIND configuration generators and process helpers.
import labctl as reallab  # noqa: E402  pylint: disable=wrong-import-position

FAULTD_SCRIPT = REPO_DIR / "lab" / "servers" / "faultd.py"
DEFAULT_STATE = "/var/tmp/mailops-mailflow-fleet"
DEFAULT_PREFIX = "mff"
STATE_MARKER = ".mailops-mailflow-fleet"  # down/up only wipe a directory that carries it

# ---------------------------------------------------------------- address plan (data)

NETWORK = "198.18.0.0/24"  # RFC 2544 benchmarking range: lives only inside the fleet's namespaces
PREFIXLEN = 24
DNS_ADDR = "198.18.0.53"
DEAD_DNS_ADDR = "198.18.0.54"  # on the internet segment, nothing listens: queries go unanswered
ZONE = "test"
ORG_DOMAIN = "contoso.test"
WRONG_PORT = 2626
TRANSPORT_BASE = 10  # thN has 198.18.0.(10+N)
MAX_HOSTS = 40
CONTROLLER = {"name": "ctl", "addr": "198.18.0.2", "hostname": "ansible.contoso.test"}
VANTAGE = {"name": "vantage", "addr": "198.18.0.250", "hostname": "vantage.internet.test"}

# MX hosts in the internet namespace: one Postfix instance each (labctl's generators, INSTANCES layout).
MX_HOSTS = {
    "mx1": {"hostname": "mx1.fabrikam.test", "addr": "198.18.0.101", "domain": "fabrikam.test",
            "users": ["kate", "postmaster", "admin"]},
    "mx2": {"hostname": "mx2.fabrikam.test", "addr": "198.18.0.102", "domain": "fabrikam.test",
            "users": ["kate", "postmaster", "admin"]},
    "edge1": {"hostname": "edge1.contoso.test", "addr": "198.18.0.121", "domain": "contoso.test",
              "users": ["chris", "postmaster", "admin"]},
    "edge2": {"hostname": "edge2.contoso.test", "addr": "198.18.0.122", "domain": "contoso.test",
              "users": ["chris", "postmaster", "admin"]},
    "edge3": {"hostname": "edge3.contoso.test", "addr": "198.18.0.123", "domain": "contoso.test",
              "users": ["chris", "postmaster", "admin"]},
}
# faultd's Exchange persona: faultd binds loopback only, so it listens on the internet namespace's own
# 127.0.2.1 and a DNAT rule there publishes it as 198.18.0.110:25.
EXCHANGE = {"hostname": "mail1.exchange.test", "addr": "198.18.0.110", "inner": "127.0.2.1", "port": 25,
            "domain": "exchange.test"}
# The monitored mailbox of the round trip (roles/roundtrip): kate@fabrikam.test, delivered by mx1 (MX 10) into its
# Maildir, served over IMAP (143 STARTTLS, 993 TLS, lab CA) by a Dovecot in the internet namespace that reads the
# same Maildir. The password is random per `up`, in a 0600 file of the state dir (never in argv or the inventory).
IMAP = {"hostname": "imap.fabrikam.test", "addr": "198.18.0.143", "port": 143, "tls_port": 993,
        "user": "kate@fabrikam.test", "maildir_of": "mx1"}
MAILBOX_UID = 65534
MAILBOX_GID = 65534
# Reverse DNS (zone 0.18.198.in-addr.arpa) of the fleet's own hosts: every PTR names the host and resolves back
# (FCrDNS), except the arranged cases for the egress check (roles/outbound): th5's PTR names another server whose
# A record is another address (mismatch), th6 has no PTR at all (missing).
REVERSE_ZONE = "0.18.198.in-addr.arpa"
PTR_MISSING = ("th6",)
PTR_MISMATCH = {"th5": ("mta-old.contoso.test", "198.18.0.99")}
# SPF of the organisation's domain: the transport hosts' range (th1..th40 are .11 .. .50) may send for it.
ORG_SPF = "v=spf1 ip4:198.18.0.0/26 -all"
# Mail domains: exchangers in preference order (10, 20, 30).
MAIL_DOMAINS = {
    "fabrikam.test": ["mx1.fabrikam.test", "mx2.fabrikam.test"],
    "contoso.test": ["edge1.contoso.test", "edge2.contoso.test", "edge3.contoso.test"],
    "exchange.test": ["mail1.exchange.test"],
}

# What each fault does and what a probe observes; `on` says which hosts it applies to.
FAULT_KINDS = {
    "source-firewall": {"on": "transport", "how": "nft DROP of outbound TCP 25 on the host (output hook)",
                        "observed": "connect timeout"},
    "dead-dns": {"on": "transport", "how": "the host's resolv.conf names %s, where no DNS server runs" % DEAD_DNS_ADDR,
                 "observed": "DNS timeout"},
    "wrong-port": {"on": "transport", "how": "inventory: mailflow_outbound_smtp_port %d for the host" % WRONG_PORT,
                   "observed": "connection refused on port %d" % WRONG_PORT},
    "destination-firewall": {"on": "mx", "how": "nft REJECT with ICMP admin-prohibited of inbound TCP 25 to the MX",
                             "observed": "no route to host (EHOSTUNREACH) within milliseconds"},
    "service-down": {"on": "mx", "how": "the MX's Postfix instance is stopped",
                     "observed": "connection refused (TCP reset) on port 25"},
}
STANDARD_FAULTS = (("source-firewall", "th2"), ("dead-dns", "th3"), ("wrong-port", "th4"),
                   ("destination-firewall", "edge2"), ("service-down", "edge3"))

TOOLS = ("ip", "nft", "unshare", "mount", "ssh", "ssh-keygen", "named", "postfix", "dig", "openssl", "dovecot")
SSHD = "/usr/sbin/sshd"
SSHD_PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; the ssh service creates it at start
# Left in the privilege separation dir when a fleet created it (sshd ignores its content): the last fleet down
# removes the dir again, whichever fleet that is.
PRIVSEP_MARKER = SSHD_PRIVSEP_DIR / ".created-by-mailops-mailflow-fleet"
# Log-ins of the SSH check at once: each is a key exchange that needs CPU, so on a 2-core machine more than a few at
# a time only queue, and a fleet of 20-40 hosts would put them all under the same ConnectTimeout.
SSH_CHECK_PARALLEL = 6
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
CLONE_NEWNET = 0x40000000
NFT_FAULT_TABLE = "mailflow_fault"


class FleetError(Exception):
    pass


class Fleet:
    """Where one fleet lives: its state directory and its namespace prefix."""

    def __init__(self, state_dir: Path, prefix: str):
        self.state_dir = Path(state_dir)
        self.prefix = prefix

    def path(self, *parts: str) -> Path:
        return self.state_dir.joinpath(*parts)

    def ns(self, role: str) -> str:
        return "%s-%s" % (self.prefix, role)

    def all_roles(self, hosts: int) -> list:
        return ["sw", "inet", CONTROLLER["name"], VANTAGE["name"]] + ["th%d" % index for index in range(1, hosts + 1)]


# ---------------------------------------------------------------- small helpers

def run(argv: list, what: str, stdin_text: str | None = None, env: dict | None = None) -> str:
    return reallab.run(argv, what, stdin_text=stdin_text, env=env)


def run_quiet(argv: list) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                          check=False)


def require_root() -> None:
    if os.geteuid() != 0:
        raise FleetError("the fleet lab needs root (network namespaces, sshd, Postfix on port 25, nft); "
                         "nothing was done")


def missing_tools() -> list:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists()]
    if not Path(SSHD).exists():
        missing.append(SSHD)
    return missing


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    reallab.write_file(path, text, mode)


def rewrite_in_place(path: Path, text: str) -> None:
    """Change a file that is bind-mounted somewhere: same inode (a rename would leave the mount on the old one)."""
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def in_parallel(calls: list) -> None:
    """Run (function, args) pairs in threads; re-raise the first error (each step here waits on a subprocess)."""
    errors = []

    def call(function, call_args):
        try:
            function(*call_args)
        except Exception as exc:  # collected for the caller
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(function, call_args)) for function, call_args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def host_addr(index: int) -> str:
    return "198.18.0.%d" % (TRANSPORT_BASE + index)


def ssh_hosts(hosts: int) -> list:
    """Every host Ansible manages over SSH: the transport hosts and the Internet vantage."""
    found = [{"name": "th%d" % index, "addr": host_addr(index), "hostname": "th%d.%s" % (index, ORG_DOMAIN),
              "group": "transport"} for index in range(1, hosts + 1)]
    found.append({"name": VANTAGE["name"], "addr": VANTAGE["addr"], "hostname": VANTAGE["hostname"],
                  "group": "internet"})
    return found


def postfix_spec(name: str) -> dict:
    mx = MX_HOSTS[name]
    return {"hostname": mx["hostname"], "listen": [(mx["addr"], 25)], "domain": mx["domain"], "users": mx["users"],
            "submission": False}


def mx_by_hostname() -> dict:
    found = {spec["hostname"]: spec["addr"] for spec in MX_HOSTS.values()}
    found[EXCHANGE["hostname"]] = EXCHANGE["addr"]
    return found


def choose_python(explicit: str | None) -> str:
    """The interpreter Ansible uses on the managed hosts (they share this machine's filesystem); needs dnspython."""
    candidates = [explicit, os.environ.get("MAILFLOW_FLEET_PYTHON"), str(REPO_DIR / ".venv" / "bin" / "python"),
                  shutil.which("python3")]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        probe = run_quiet([candidate, "-c", "import sys, dns.resolver; print(sys.version_info >= (3, 8))"])
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return os.path.abspath(candidate)
        if explicit and candidate == explicit:
            raise FleetError("--python %s cannot import dnspython (or is older than 3.8)" % explicit)
    raise FleetError("no Python 3.8+ with dnspython found for the managed hosts; pass --python or set "
                     "MAILFLOW_FLEET_PYTHON")


# ---------------------------------------------------------------- namespaces

def netns_list() -> list:
    out = run_quiet(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def our_namespaces(fleet: Fleet) -> list:
    pattern = re.compile(r"^%s-(sw|inet|ctl|vantage|th\d+)$" % re.escape(fleet.prefix))
    return [name for name in netns_list() if pattern.match(name)]


def netns_pids(name: str) -> list:
    out = run_quiet(["ip", "netns", "pids", name]).stdout
    return [int(pid) for pid in out.split() if pid.isdigit()]


def in_netns(name: str, function, *args):
    """Call function(*args) in a thread that has joined network namespace `name` (setns affects one thread)."""
    outcome = {}

    def target():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            handle = os.open("/run/netns/%s" % name, os.O_RDONLY)
            try:
                if libc.setns(handle, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns(%s): %s" % (name, os.strerror(ctypes.get_errno())))
            finally:
                os.close(handle)
            outcome["value"] = function(*args)
        except Exception as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="netns-%s" % name)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def build_network(fleet: Fleet, hosts: int) -> None:
    """A bridge in the switch namespace; every other namespace has one veth on it, and no default route."""
    switch = fleet.ns("sw")
    root_commands = [["netns", "add", fleet.ns(role)] for role in fleet.all_roles(hosts)]
    ns_commands = {switch: [["link", "add", "br0", "type", "bridge"], ["link", "set", "br0", "up"]]}
    members = [("inet", [DNS_ADDR, DEAD_DNS_ADDR, EXCHANGE["addr"], IMAP["addr"]]
                + [mx["addr"] for mx in MX_HOSTS.values()]),
               (CONTROLLER["name"], [CONTROLLER["addr"]])]
    members += [(host["name"], [host["addr"]]) for host in ssh_hosts(hosts)]
    for role, addresses in members:
        ns, port = fleet.ns(role), "to-%s" % role
        # Both ends are created inside their namespaces: the link never exists in the root namespace.
        root_commands.append(["link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port,
                              "netns", switch])
        ns_commands[switch] += [["link", "set", port, "master", "br0"], ["link", "set", port, "up"]]
        ns_commands[ns] = ([["link", "set", "lo", "up"]]
                           + [["addr", "add", "%s/%d" % (addr, PREFIXLEN), "dev", "eth0"] for addr in addresses]
                           + [["link", "set", "eth0", "up"]])
    run(["ip", "-batch", "-"], "ip -batch (fleet namespaces and links)",
        stdin_text="".join(" ".join(command) + "\n" for command in root_commands))
    for ns, commands in ns_commands.items():
        run(["ip", "-n", ns, "-batch", "-"], "ip -n %s -batch" % ns,
            stdin_text="".join(" ".join(command) + "\n" for command in commands))
    inet = fleet.ns("inet")
    # DNAT to the namespace's loopback (faultd) needs route_localnet on the receiving interface.
    run(["ip", "netns", "exec", inet, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.route_localnet=1"], "sysctl")
    run(["ip", "netns", "exec", inet, "nft", "-f", "-"], "nft (exchange DNAT)", stdin_text="""
table ip mailflow_nat {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr %(addr)s tcp dport %(port)d dnat to %(inner)s:%(port)d
    }
}
""" % EXCHANGE)
    for ns in [fleet.ns(role) for role in fleet.all_roles(hosts)]:
        routes = run_quiet(["ip", "-n", ns, "route", "show", "default"]).stdout.strip()
        if routes:
            raise FleetError("namespace %s has a default route (%s); refusing to go on" % (ns, routes))


# ---------------------------------------------------------------- configuration files

def zone_text(hosts: int) -> str:
    lines = ["$TTL 300",
             "@ IN SOA ns.fleet.test. hostmaster.fleet.test. ( SERIAL 300 60 3600 60 )",
             "@ IN NS ns.fleet.test.",
             "ns.fleet IN A %s" % DNS_ADDR,
             ""]
    addresses = mx_by_hostname()
    for domain, exchangers in MAIL_DOMAINS.items():
        for rank, exchanger in enumerate(exchangers, start=1):
            lines.append("%s IN MX %d %s." % (domain[:-len(ZONE) - 1], rank * 10, exchanger))
        for exchanger in exchangers:
            lines.append("%s IN A %s" % (exchanger[:-len(ZONE) - 1], addresses[exchanger]))
        lines.append("")
    lines.append("; the fleet's own hosts")
    named = [(CONTROLLER["hostname"], CONTROLLER["addr"])] + [(host["hostname"], host["addr"])
                                                              for host in ssh_hosts(hosts)]
    named += [(IMAP["hostname"], IMAP["addr"])] + list(PTR_MISMATCH.values())
    lines += ["%s IN A %s" % (hostname[:-len(ZONE) - 1], addr) for hostname, addr in named]
    lines += ["", "; sender policy of the organisation (the egress check evaluates it for each transport host)",
              '%s IN TXT "%s"' % (ORG_DOMAIN[:-len(ZONE) - 1], ORG_SPF)]
    return with_serial(lines)


def with_serial(lines: list) -> str:
    body = "\n".join(lines) + "\n"
    return body.replace("SERIAL", str(zlib.crc32(body.encode("utf-8")) & 0x7FFFFFFF), 1)


def ptr_records(hosts: int) -> dict:
    """Host name -> (address, PTR name or None): the arranged reverse DNS of the fleet's own hosts."""
    found = {CONTROLLER["name"]: (CONTROLLER["addr"], CONTROLLER["hostname"])}
    for host in ssh_hosts(hosts):
        name = None if host["name"] in PTR_MISSING else PTR_MISMATCH.get(host["name"], (host["hostname"],))[0]
        found[host["name"]] = (host["addr"], name)
    return found


def reverse_zone_text(hosts: int) -> str:
    lines = ["$TTL 300",
             "@ IN SOA ns.fleet.test. hostmaster.fleet.test. ( SERIAL 300 60 3600 60 )",
             "@ IN NS ns.fleet.test.",
             "; PTR of every fleet host; th6 has none and th5's names another server (PTR_MISSING, PTR_MISMATCH)"]
    for _host, (addr, name) in sorted(ptr_records(hosts).items()):
        if name:
            lines.append("%s IN PTR %s." % (addr.rsplit(".", 1)[1], name))
    return with_serial(lines)


def resolv_conf(nameserver: str) -> str:
    return "# generated by lab/fleet/fleetctl\nnameserver %s\noptions timeout:2 attempts:1\n" % nameserver


def hosts_file(hostname: str, addr: str) -> str:
    return "127.0.0.1 localhost\n%s %s %s\n" % (addr, hostname, hostname.split(".")[0])


def sshd_config(fleet: Fleet, host: dict) -> str:
    home = fleet.path("hosts", host["name"])
    return """# generated by lab/fleet/fleetctl: one managed host of the fleet lab
ListenAddress %(addr)s:22
HostKey %(home)s/ssh_host_ed25519_key
PidFile %(home)s/sshd.pid
AuthorizedKeysFile %(keys)s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
X11Forwarding no
PrintMotd no
MaxStartups 100:30:200
Subsystem sftp internal-sftp
""" % {"addr": host["addr"], "home": home, "keys": fleet.path("ssh", "authorized_keys")}


def write_configs(fleet: Fleet, plan: dict) -> None:
    ssh_dir = fleet.path("ssh")
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    tls_dir = fleet.path("tls")
    keygen = [(run, (["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailflow-fleet-controller",
                      "-f", str(ssh_dir / "id_ed25519")], "ssh-keygen (controller key)"))]
    for host in ssh_hosts(plan["hosts"]):
        home = fleet.path("hosts", host["name"])
        home.mkdir(parents=True, exist_ok=True)
        keygen.append((run, (["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host["hostname"],
                              "-f", str(home / "ssh_host_ed25519_key")], "ssh-keygen (%s host key)" % host["name"])))
    # RSA keys take longest: the CA first (kept across runs in tls/), then every leaf side by side with the rest.
    reallab.ensure_tls(tls_dir, {})
    keygen += [(reallab.ensure_tls, (tls_dir, {name: spec["hostname"]})) for name, spec in MX_HOSTS.items()]
    keygen.append((reallab.ensure_tls, (tls_dir, {"imap": IMAP["hostname"]})))
    in_parallel(keygen)
    shutil.copyfile(ssh_dir / "id_ed25519.pub", ssh_dir / "authorized_keys")
    known = []
    for host in ssh_hosts(plan["hosts"]):
        home = fleet.path("hosts", host["name"])
        public = (home / "ssh_host_ed25519_key.pub").read_text().split()
        known.append("%s %s %s\n" % (host["addr"], public[0], public[1]))
        write_file(home / "sshd_config", sshd_config(fleet, host))
        write_file(home / "resolv.conf", resolv_conf(DNS_ADDR))
        write_file(home / "hosts", hosts_file(host["hostname"], host["addr"]))
    write_file(ssh_dir / "known_hosts", "".join(known))
    controller = fleet.path(CONTROLLER["name"])
    write_file(controller / "resolv.conf", resolv_conf(DNS_ADDR))
    write_file(controller / "hosts", hosts_file(CONTROLLER["hostname"], CONTROLLER["addr"]))
    fleet.path("cp").mkdir(mode=0o700, exist_ok=True)
    fleet.path("logs").mkdir(exist_ok=True)

    named_dir = fleet.path("named")
    write_file(named_dir / "named.conf", reallab.named_conf(
        named_dir=named_dir, addr=DNS_ADDR, port=53, log=fleet.path("logs", "named.log"), zone=ZONE,
        allow_query="%s; 127.0.0.0/8" % NETWORK, servfail_zone=False)
        + 'zone "%s" { type primary; file "%s"; };\n' % (REVERSE_ZONE, named_dir / "db.reverse"))
    write_file(named_dir / ("db.%s" % ZONE), zone_text(plan["hosts"]))
    write_file(named_dir / "db.reverse", reverse_zone_text(plan["hosts"]))
    write_dovecot(fleet)

    for name in MX_HOSTS:
        reallab.prepare_postfix(name, postfix_spec(name), reallab.postfix_dirs(name, fleet.state_dir), tls_dir,
                                fleet.state_dir)


def dovecot_paths(fleet: Fleet) -> dict:
    base = fleet.path("dovecot")
    return {"base": base, "run": base / "run", "state": base / "state", "config": base / "dovecot.conf",
            "users": base / "users", "password": fleet.path("imap-password"),
            "home": reallab.postfix_dirs(IMAP["maildir_of"], fleet.state_dir)["mail"]}


def dovecot_conf(fleet: Fleet) -> str:
    paths = dovecot_paths(fleet)
    dh = Path("/usr/share/dovecot/dh.pem")
    return """# generated by lab/fleet/fleetctl: IMAP for the round trip's mailbox (mx1's Maildir), nothing else
instance_name = mailflow-fleet-%(prefix)s
hostname = %(hostname)s
base_dir = %(run)s
state_dir = %(state)s
log_path = %(log)s
protocols = imap
listen = %(addr)s
ssl = yes
ssl_cert = <%(tls)s/imap.crt
ssl_key = <%(tls)s/imap.key
%(dh)s
auth_mechanisms = plain login
mail_location = maildir:~
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(users)s
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(home)s/%%d/%%n
}
namespace inbox {
  inbox = yes
  mailbox Junk {
    special_use = \\Junk
    auto = create
  }
}
service imap-login {
  inet_listener imap {
    address = %(addr)s
    port = %(port)d
  }
  inet_listener imaps {
    address = %(addr)s
    port = %(tls_port)d
    ssl = yes
  }
}
""" % {"prefix": fleet.prefix, "hostname": IMAP["hostname"], "run": paths["run"], "state": paths["state"],
       "log": fleet.path("logs", "dovecot.log"), "addr": IMAP["addr"], "tls": fleet.path("tls"),
       "dh": "ssl_dh = <%s" % dh if dh.exists() else "", "users": paths["users"], "uid": MAILBOX_UID,
       "gid": MAILBOX_GID, "home": paths["home"], "port": IMAP["port"], "tls_port": IMAP["tls_port"]}


def write_dovecot(fleet: Fleet) -> None:
    """Config, and a fresh random password (0600 file; Dovecot gets its SHA512-crypt hash only)."""
    paths = dovecot_paths(fleet)
    for key in ("run", "state"):
        paths[key].mkdir(parents=True, exist_ok=True)
    write_file(paths["config"], dovecot_conf(fleet))
    password = secrets.token_urlsafe(18)
    write_file(paths["password"], password + "\n", 0o600)
    hashed = run(["openssl", "passwd", "-6", "-stdin"], "openssl passwd", stdin_text=password + "\n").strip()
    write_file(paths["users"], "%s:{SHA512-CRYPT}%s\n" % (IMAP["user"], hashed), 0o640)
    shutil.chown(paths["users"], group="dovecot")


def dovecot_argv(fleet: Fleet) -> list:
    return ["ip", "netns", "exec", fleet.ns("inet"), shutil.which("dovecot") or "/usr/sbin/dovecot", "-F",
            "-c", str(dovecot_paths(fleet)["config"])]


# ---------------------------------------------------------------- state

def state_file(fleet: Fleet) -> Path:
    return fleet.path("fleet.json")


def load_state(fleet: Fleet) -> dict | None:
    try:
        return json.loads(state_file(fleet).read_text())
    except (OSError, ValueError):
        return None


def save_state(fleet: Fleet, state: dict) -> None:
    write_file(state_file(fleet), json.dumps(state, indent=2, sort_keys=True) + "\n")


def require_state(fleet: Fleet) -> dict:
    state = load_state(fleet)
    if not state or state.get("status") != "up":
        raise FleetError("the fleet is not up (state %s); run: fleetctl up" % fleet.state_dir)
    return state


class StateLock:
    """Serialises fleetctl runs on one state directory."""

    def __init__(self, fleet: Fleet):
        self.fleet = fleet
        self.handle = None

    def __enter__(self):
        self.fleet.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.fleet.state_dir, 0o755)
        (self.fleet.state_dir / STATE_MARKER).touch()
        self.handle = open(self.fleet.state_dir / ".fleetctl.lock", "w", encoding="utf-8")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def wipe_state(fleet: Fleet) -> None:
    """Each `up` starts from an empty state dir (new SSH keys, configs, queues); logs of the last run go with it.

    Only the TLS material (lab CA and MX certificates, tls/) is kept: its RSA keys are the slowest part of `up`.
    """
    if not (fleet.state_dir / STATE_MARKER).exists():
        raise FleetError("refusing to wipe %s: not a fleet state dir (no %s)" % (fleet.state_dir, STATE_MARKER))
    for entry in fleet.state_dir.iterdir():
        if entry.name in (STATE_MARKER, ".fleetctl.lock", "tls"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# ---------------------------------------------------------------- processes

def sshd_argv(fleet: Fleet, host: dict) -> list:
    home = fleet.path("hosts", host["name"])
    # Own UTS namespace (the host's name, so the probes' EHLO says it) and, in the mount namespace that
    # `ip netns exec` makes, the host's own resolv.conf and hosts file; nothing outside changes.
    script = ('hostname "$1" && mount --bind "$2" /etc/resolv.conf && mount --bind "$3" /etc/hosts && '
              'exec %s -D -f "$4" -E "$5"' % SSHD)
    return ["ip", "netns", "exec", fleet.ns(host["name"]), "unshare", "--uts", "sh", "-c", script, "sh",
            host["hostname"], str(home / "resolv.conf"), str(home / "hosts"), str(home / "sshd_config"),
            str(fleet.path("logs", "sshd-%s.log" % host["name"]))]


def postfix_argv(fleet: Fleet, name: str, action: str) -> list:
    return ["ip", "netns", "exec", fleet.ns("inet"), "postfix", "-c",
            str(reallab.postfix_dirs(name, fleet.state_dir)["config"]), action]


def postfix_env() -> dict:
    return {key: value for key, value in os.environ.items() if key != "MAIL_CONFIG"}


def postfix_pid(fleet: Fleet, name: str) -> int | None:
    pid = reallab.read_pid(reallab.postfix_dirs(name, fleet.state_dir)["pidfile"])
    return pid if reallab.pid_alive(pid) else None


def named_argv(fleet: Fleet) -> list:
    return ["ip", "netns", "exec", fleet.ns("inet"), shutil.which("named") or "/usr/sbin/named", "-4", "-f",
            "-c", str(fleet.path("named", "named.conf"))]


def faultd_argv(fleet: Fleet) -> list:
    return ["ip", "netns", "exec", fleet.ns("inet"), reallab.python_for_faultd(), str(FAULTD_SCRIPT),
            "--only", "exchange", "--bind-base", EXCHANGE["inner"], "--port", str(EXCHANGE["port"]),
            "--map-file", str(fleet.path("fault-map.json")), "--log-file", str(fleet.path("logs", "fault.jsonl")),
            "--pid-file", str(fleet.path("faultd.pid")), "--tls-dir", str(fleet.path("tls"))]


def launch_in_keeper(fleet: Fleet, jobs: list) -> dict:
    """Start processes from a forked keeper that stays their parent and reaps them (PR_SET_CHILD_SUBREAPER).

    jobs: (name, argv, kind); kind `foreground` is a long-running child (its pid is returned), `daemon` a command
    that detaches a daemon (its orphans are adopted by the keeper). Some inits never reap, so without a keeper
    stopped daemons would linger as zombies. The keeper exits once all its children are gone.
    """
    def start_all():
        report = {"keeper": os.getpid(), "pids": {}}

        def start_job(name, argv, kind):
            with open(fleet.path("logs", "%s.out" % name), "ab") as log:
                if kind == "foreground":
                    report["pids"][name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                                            stderr=subprocess.STDOUT, close_fds=True,
                                                            cwd=str(fleet.state_dir)).pid
                    return
                # `postfix start` spends most of its time in checks: run the instances side by side.
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      close_fds=True, env=postfix_env(), check=False)
                if proc.returncode != 0:
                    raise FleetError("%s exited %d (log: %s)" % (" ".join(argv), proc.returncode,
                                                                 fleet.path("logs", "%s.out" % name)))

        for job in jobs:
            if job[2] == "foreground":
                start_job(*job)
        in_parallel([(start_job, job) for job in jobs if job[2] != "foreground"])
        return report

    report = reallab.run_in_reaper(b"mailflow-fleet", start_all)
    if "error" in report:
        raise FleetError(report["error"])
    return report


def terminate(pids: list, timeout: float = STOP_TIMEOUT) -> list:
    """SIGTERM, then SIGKILL what is left after `timeout`; returns the pids still alive (zombies count as gone)."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        alive = [pid for pid in pids if reallab.pid_alive(pid)]
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        pids = reallab.wait_gone(alive, wait)
        if not pids:
            return []
    return pids


def proc_comm(pid: int) -> str:
    try:
        return Path("/proc/%d/comm" % pid).read_text().strip()
    except OSError:
        return ""


def live_sshd_pids() -> list:
    return [int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and proc_comm(int(entry)) == "sshd" and reallab.pid_alive(int(entry))]


# ---------------------------------------------------------------- readiness (checked from the controller namespace)

def tcp_banner(addr: str, port: int, timeout: float = 1.0) -> str | None:
    try:
        with socket.create_connection((addr, port), timeout=timeout) as sock:
            return sock.recv(256).decode("utf-8", "replace").splitlines()[0]
    except (OSError, IndexError):
        return None


def dns_answers(fleet: Fleet) -> bool:
    proc = run_quiet(["ip", "netns", "exec", fleet.ns(CONTROLLER["name"]), "dig", "@" + DNS_ADDR, "-p", "53",
                      "+time=1", "+tries=1", "+norecurse", "+short", "MX", "fabrikam.test"])
    return proc.returncode == 0 and "mx1.fabrikam.test." in proc.stdout


def expected_endpoints(state: dict) -> list:
    """(component, addr, port, banner prefix) of everything that must answer from the controller namespace.

    A stopped MX (service-down) and a firewalled one (destination-firewall) are expected not to answer.
    """
    down = {host for kind, host in state["faults"] if kind in ("service-down", "destination-firewall")}
    found = [("postfix-%s" % name, spec["addr"], 25, "220 %s " % spec["hostname"])
             for name, spec in MX_HOSTS.items() if name not in down]
    found.append(("faultd", EXCHANGE["addr"], EXCHANGE["port"], "220 %s" % EXCHANGE["hostname"]))
    found.append(("dovecot", IMAP["addr"], IMAP["port"], "* OK"))
    found += [("sshd-%s" % host["name"], host["addr"], 22, "SSH-2.0-") for host in ssh_hosts(state["hosts"])]
    return found


def check_endpoints(fleet: Fleet, endpoints: list) -> dict:
    """component -> banner line or None, all probed in parallel from the controller namespace."""
    results = {}

    def probe(component, addr, port):
        results[component] = tcp_banner(addr, port)

    # Sockets belong to the namespace of the thread that creates them, so each prober joins it.
    def probe_in_ns(component, addr, port):
        in_netns(fleet.ns(CONTROLLER["name"]), probe, component, addr, port)

    threads = [threading.Thread(target=probe_in_ns, args=(component, addr, port))
               for component, addr, port, _prefix in endpoints]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def wait_ready(fleet: Fleet, state: dict, timeout: float = READY_TIMEOUT) -> None:
    endpoints = expected_endpoints(state)
    deadline = time.monotonic() + timeout
    pending = ["named"] + [component for component, _addr, _port, _prefix in endpoints]
    while True:
        for component, pid in state["pids"].items():
            if component in pending and not reallab.pid_alive(pid):
                raise FleetError("%s (pid %d) exited during start; see %s" % (
                    component, pid, fleet.path("logs", "%s.out" % component)))
        answers = check_endpoints(fleet, [item for item in endpoints if item[0] in pending])
        pending = [name for name in pending if name != "named" or not dns_answers(fleet)]
        pending = [name for name in pending if name == "named" or not any(
            component == name and (answers.get(name) or "").startswith(prefix)
            for component, _addr, _port, prefix in endpoints)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise FleetError("not answering after %.0f s: %s (logs in %s)"
                             % (timeout, ", ".join(pending), fleet.path("logs")))
        time.sleep(0.1)


def verify_ssh(fleet: Fleet, state: dict) -> None:
    """Log in to every host as Ansible will, and check that it sees its own name and resolver (never the host's)."""
    failures = []
    slots = threading.BoundedSemaphore(SSH_CHECK_PARALLEL)

    def login(host):
        with slots:
            check_login(host)

    def check_login(host):
        want_resolver = DEAD_DNS_ADDR if ["dead-dns", host["name"]] in state["faults"] else DNS_ADDR
        proc = run_quiet(["ip", "netns", "exec", fleet.ns(CONTROLLER["name"]), "ssh"] + ssh_options(fleet) + [
            "-o", "ConnectTimeout=5", "root@%s" % host["addr"], "hostname; grep ^nameserver /etc/resolv.conf"])
        lines = proc.stdout.split()
        if proc.returncode != 0 or lines != [host["hostname"], "nameserver", want_resolver]:
            failures.append("%s: exit %d, saw %r %s"
                            % (host["name"], proc.returncode, proc.stdout, proc.stderr.strip()[-300:]))

    threads = [threading.Thread(target=login, args=(host,)) for host in ssh_hosts(state["hosts"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise FleetError("SSH check failed: %s" % "; ".join(failures))


def ssh_options(fleet: Fleet) -> list:
    return ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "IdentityFile=%s" % fleet.path("ssh", "id_ed25519"),
            "-o", "UserKnownHostsFile=%s" % fleet.path("ssh", "known_hosts"), "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR"]


# ---------------------------------------------------------------- faults

def fault_target_kind(host: str, hosts: int) -> str | None:
    if host in MX_HOSTS:
        return "mx"
    if re.match(r"^th(\d+)$", host) and 1 <= int(host[2:]) <= hosts:
        return "transport"
    return None


def transport_nft(faults: list, host: str) -> str:
    rules = ['        tcp dport 25 counter drop comment "source-firewall"'
             for kind, target in faults if kind == "source-firewall" and target == host]
    return nft_table("inet", "output", "output", rules)


def internet_nft(faults: list) -> str:
    rules = ['        ip daddr %s tcp dport 25 counter reject with icmp type admin-prohibited comment '
             '"destination-firewall %s"' % (MX_HOSTS[target]["addr"], target)
             for kind, target in faults if kind == "destination-firewall"]
    return nft_table("ip", "input", "input", rules)


def nft_table(family: str, chain: str, hook: str, rules: list) -> str:
    # Create-then-delete makes the delete safe when the table is absent; one `nft -f` is one transaction.
    text = "table %(f)s %(t)s\ndelete table %(f)s %(t)s\n" % {"f": family, "t": NFT_FAULT_TABLE}
    if rules:
        text += ("table %s %s {\n    chain %s {\n        type filter hook %s priority filter; policy accept;\n%s\n"
                 "    }\n}\n" % (family, NFT_FAULT_TABLE, chain, hook, "\n".join(rules)))
    return text


def apply_fault(fleet: Fleet, state: dict, kind: str, host: str, active: bool) -> None:
    """Make the fleet match state["faults"] for this one (kind, host); the caller has updated the list."""
    faults = state["faults"]
    if kind == "source-firewall":
        run(["ip", "netns", "exec", fleet.ns(host), "nft", "-f", "-"], "nft (%s)" % host,
            stdin_text=transport_nft(faults, host))
    elif kind == "destination-firewall":
        run(["ip", "netns", "exec", fleet.ns("inet"), "nft", "-f", "-"], "nft (internet)",
            stdin_text=internet_nft(faults))
    elif kind == "dead-dns":
        rewrite_in_place(fleet.path("hosts", host, "resolv.conf"), resolv_conf(DEAD_DNS_ADDR if active else DNS_ADDR))
    elif kind == "service-down":
        if active:
            pid = postfix_pid(fleet, host)
            run(postfix_argv(fleet, host, "stop"), "postfix %s stop" % host, env=postfix_env())
            if pid and reallab.wait_gone([pid], STOP_TIMEOUT):
                raise FleetError("postfix %s (pid %d) still runs after stop" % (host, pid))
        elif postfix_pid(fleet, host) is None:
            launch_in_keeper(fleet, [("postfix-%s" % host, postfix_argv(fleet, host, "start"), "daemon")])
            spec = MX_HOSTS[host]
            wait_endpoints(fleet, [("postfix-%s" % host, spec["addr"], 25, "220 %s " % spec["hostname"])])
    # wrong-port lives in the inventory, rewritten by the caller


def wait_endpoints(fleet: Fleet, endpoints: list, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        answers = check_endpoints(fleet, endpoints)
        if all((answers.get(component) or "").startswith(prefix) for component, _a, _p, prefix in endpoints):
            return
        if time.monotonic() > deadline:
            raise FleetError("not answering after %.0f s: %s" % (timeout, ", ".join(item[0] for item in endpoints)))
        time.sleep(0.1)


def nft_counters(fleet: Fleet, state: dict) -> dict:
    """(kind, host) -> packets the fault's rule has matched so far."""
    counters = {}
    for kind, host in state["faults"]:
        if kind not in ("source-firewall", "destination-firewall"):
            continue
        ns = fleet.ns(host if kind == "source-firewall" else "inet")
        family = "inet" if kind == "source-firewall" else "ip"
        proc = run_quiet(["ip", "netns", "exec", ns, "nft", "-j", "list", "table", family, NFT_FAULT_TABLE])
        try:
            items = json.loads(proc.stdout)["nftables"]
        except (ValueError, KeyError):
            continue
        for item in items:
            rule = item.get("rule")
            if not rule or not rule.get("comment", "").startswith(kind):
                continue
            if kind == "destination-firewall" and rule["comment"] != "%s %s" % (kind, host):
                continue
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    counters["%s %s" % (kind, host)] = expr["counter"]["packets"]
    return counters


# ---------------------------------------------------------------- inventory

def inventory(fleet: Fleet, state: dict) -> dict:
    faults_of = {}
    for kind, host in state["faults"]:
        faults_of.setdefault(host, []).append(kind)
    groups = {"transport": {}, "internet": {}}
    for host in ssh_hosts(state["hosts"]):
        hostvars = {"ansible_host": host["addr"], "mailflow_fleet_hostname": host["hostname"],
                    "mailflow_fleet_faults": faults_of.get(host["name"], [])}
        if "wrong-port" in faults_of.get(host["name"], []):
            # The arranged mistake: this host's outbound checks are configured for the wrong port.
            hostvars["mailflow_outbound_smtp_port"] = WRONG_PORT
        groups[host["group"]][host["name"]] = hostvars
    return {"all": {
        "vars": {
            "ansible_user": "root",
            "ansible_connection": "ssh",
            "ansible_ssh_private_key_file": str(fleet.path("ssh", "id_ed25519")),
            "ansible_ssh_common_args": " ".join(shlex.quote(arg) for arg in ssh_options(fleet)),
            "ansible_ssh_pipelining": True,
            "ansible_control_path_dir": str(fleet.path("cp")),
            "ansible_python_interpreter": state["python"],
            "mailflow_fleet_dns_server": DNS_ADDR,
            "mailflow_fleet_dead_dns_server": DEAD_DNS_ADDR,
            "mailflow_fleet_ca_file": str(fleet.path("tls", "ca.crt")),
            "mailflow_fleet_org_domain": ORG_DOMAIN,
            "mailflow_fleet_mx_hosts": {spec["hostname"]: spec["addr"] for spec in MX_HOSTS.values()},
            "mailflow_fleet_fault_list": [{"kind": kind, "host": host} for kind, host in state["faults"]],
            # The round trip's mailbox (IMAP over TLS, lab CA) and the file that holds its password.
            "mailflow_fleet_imap_host": IMAP["hostname"],
            "mailflow_fleet_imap_port": IMAP["tls_port"],
            "mailflow_fleet_imap_user": IMAP["user"],
            "mailflow_fleet_imap_password_file": str(dovecot_paths(fleet)["password"]),
            # The arranged reverse DNS: host -> PTR name (null: none); a PTR that is not the host's name mismatches.
            "mailflow_fleet_ptr": {host: name for host, (_addr, name) in ptr_records(state["hosts"]).items()
                                   if host != CONTROLLER["name"]},
        },
        "children": {group: {"hosts": members} for group, members in groups.items()},
    }}


def write_inventory(fleet: Fleet, state: dict) -> None:
    write_file(fleet.path("inventory.json"), json.dumps(inventory(fleet, state), indent=2) + "\n")


# ---------------------------------------------------------------- commands

def teardown(fleet: Fleet, quiet: bool = False) -> list:
    """Kill every process in the fleet's namespaces and the keepers, delete the namespaces; returns leftovers."""
    state = load_state(fleet) or {}
    namespaces = our_namespaces(fleet)
    pids = set()
    for ns in namespaces:
        pids.update(netns_pids(ns))
    pids.discard(os.getpid())
    left = terminate(sorted(pids))
    # A keeper exits by itself once its children are gone and reaped; only a lingering one is ended.
    keepers = [pid for pid in state.get("keepers", [])
               if reallab.pid_alive(pid) and proc_comm(pid) == "mailflow-fleet"]
    left += terminate(reallab.wait_gone(keepers, 3.0), timeout=1.0)
    problems = ["process %d still alive" % pid for pid in left]
    for ns in namespaces:
        proc = run_quiet(["ip", "netns", "del", ns])
        if proc.returncode != 0:
            problems.append("ip netns del %s: %s" % (ns, proc.stderr.strip()))
    problems += ["namespace %s still exists" % ns for ns in our_namespaces(fleet)]
    if PRIVSEP_MARKER.exists() and not live_sshd_pids():
        try:
            PRIVSEP_MARKER.unlink()
            SSHD_PRIVSEP_DIR.rmdir()
        except OSError:
            pass  # someone else put something there: leave it
    if state:
        state["status"] = "down"
        save_state(fleet, state)
    if not quiet and namespaces:
        print("fleet down: %d namespaces deleted, %d processes ended" % (len(namespaces), len(pids)))
    return problems


def cmd_up(fleet: Fleet, args) -> int:
    require_root()
    missing = missing_tools()
    if missing:
        raise FleetError("missing tools: %s (apt-get install iproute2 nftables openssh-server openssh-client "
                         "bind9 bind9-dnsutils postfix dovecot-imapd openssl util-linux)" % ", ".join(missing))
    if not 1 <= args.hosts <= MAX_HOSTS:
        raise FleetError("--hosts must be 1..%d" % MAX_HOSTS)
    faults = [list(item) for item in STANDARD_FAULTS] if args.faults == "standard" else []
    needed = max([int(host[2:]) for _kind, host in faults if host.startswith("th")] or [0])
    if needed > args.hosts:
        raise FleetError("the standard faults need at least %d transport hosts" % needed)
    python = choose_python(args.python)
    started = time.monotonic()
    with StateLock(fleet):
        if our_namespaces(fleet):
            print("fleetctl up: tearing down the previous fleet first")
            teardown(fleet, quiet=True)
        wipe_state(fleet)
        state = {"status": "starting", "prefix": fleet.prefix, "hosts": args.hosts, "faults": faults,
                 "python": python, "pids": {}, "keepers": []}
        save_state(fleet, state)
        phases = []

        def phase(name, started_at):
            phases.append("%s %.1f s" % (name, time.monotonic() - started_at))
            return time.monotonic()
        try:
            mark = time.monotonic()
            build_network(fleet, args.hosts)
            if not SSHD_PRIVSEP_DIR.is_dir():
                SSHD_PRIVSEP_DIR.mkdir(mode=0o755)
                PRIVSEP_MARKER.touch()
            mark = phase("network", mark)
            write_configs(fleet, state)
            mark = phase("keys and configs", mark)
            jobs = [("named", named_argv(fleet), "foreground"), ("faultd", faultd_argv(fleet), "foreground"),
                    ("dovecot", dovecot_argv(fleet), "foreground")]
            jobs += [("sshd-%s" % host["name"], sshd_argv(fleet, host), "foreground")
                     for host in ssh_hosts(args.hosts)]
            jobs += [("postfix-%s" % name, postfix_argv(fleet, name, "start"), "daemon") for name in MX_HOSTS]
            report = launch_in_keeper(fleet, jobs)
            state["keepers"].append(report["keeper"])
            state["pids"] = report["pids"]
            save_state(fleet, state)
            mark = phase("start", mark)
            every_mx_up = dict(state, faults=[])
            wait_ready(fleet, every_mx_up)
            mark = phase("ready", mark)
            for kind, host in faults:
                apply_fault(fleet, state, kind, host, True)
            write_inventory(fleet, state)
            mark = phase("faults", mark)
            verify_ssh(fleet, state)
            phase("ssh check", mark)
        except BaseException:
            state["status"] = "failed"
            save_state(fleet, state)
            teardown(fleet, quiet=True)
            raise
        state["status"] = "up"
        save_state(fleet, state)
    print("fleet up in %.1f s (%s): %d transport hosts + vantage, faults: %s; inventory %s"
          % (time.monotonic() - started, ", ".join(phases), args.hosts,
             ", ".join("%s %s" % (kind, host) for kind, host in faults) or "none", fleet.path("inventory.json")))
    return 0


def cmd_down(fleet: Fleet, _args) -> int:
    require_root()
    if not fleet.state_dir.exists() and not our_namespaces(fleet):
        return 0
    with StateLock(fleet):
        problems = teardown(fleet)
    if problems:
        raise FleetError("; ".join(problems))
    return 0


def component_table(fleet: Fleet, state: dict) -> list:
    """Rows: component, state, pid, endpoint."""
    rows = []
    namespaces = set(our_namespaces(fleet))
    for role in fleet.all_roles(state["hosts"]):
        rows.append(("netns %s" % fleet.ns(role), "up" if fleet.ns(role) in namespaces else "down", None, ""))
    if fleet.ns(CONTROLLER["name"]) not in namespaces:
        return rows
    endpoints = expected_endpoints(state)
    answers = check_endpoints(fleet, endpoints)
    named_pid = state["pids"].get("named")
    rows.append(("named", "up" if reallab.pid_alive(named_pid) and dns_answers(fleet) else "down", named_pid,
                 "%s:53 zone %s" % (DNS_ADDR, ZONE)))
    for component, addr, port, prefix in endpoints:
        pid = state["pids"].get(component)
        if component.startswith("postfix-"):
            pid = postfix_pid(fleet, component[len("postfix-"):])
        up = (answers.get(component) or "").startswith(prefix)
        rows.append((component, "up" if up else "down", pid, "%s:%d" % (addr, port)))
    for kind, name in state["faults"]:
        pid = postfix_pid(fleet, name)
        if kind == "service-down":
            status = "stopped (fault service-down)" if pid is None else "running (should be stopped)"
        elif kind == "destination-firewall":
            status = "up behind (fault destination-firewall)" if pid else "down"
        else:
            continue
        rows.append(("postfix-%s" % name, status, pid, "%s:25" % MX_HOSTS[name]["addr"]))
    return rows


def cmd_status(fleet: Fleet, args) -> int:
    state = load_state(fleet)
    if not state or state.get("status") != "up":
        print("fleet: not up (state %s)" % fleet.state_dir)
        return 1
    require_root()
    rows = component_table(fleet, state)
    counters = nft_counters(fleet, state)
    healthy = all(row[1] in ("up", "stopped (fault service-down)", "up behind (fault destination-firewall)")
                  for row in rows)
    if args.json:
        print(json.dumps({"up": healthy, "components": [{"name": r[0], "state": r[1], "pid": r[2], "endpoint": r[3]}
                                                        for r in rows],
                          "faults": [{"kind": kind, "host": host, "matched_packets": counters.get("%s %s" % (kind, host))}
                                     for kind, host in state["faults"]]}, indent=2))
    else:
        for name, status, pid, endpoint in rows:
            print("%-22s %-30s pid %-8s %s" % (name, status, pid or "-", endpoint))
        for kind, host in state["faults"]:
            matched = counters.get("%s %s" % (kind, host))
            print("fault %-20s %-6s %s%s" % (kind, host, FAULT_KINDS[kind]["how"],
                                             "" if matched is None else " (%d packets matched)" % matched))
    return 0 if healthy else 1


def cmd_inventory(fleet: Fleet, args) -> int:
    require_state(fleet)
    if args.path:
        print(fleet.path("inventory.json"))
    else:
        sys.stdout.write(fleet.path("inventory.json").read_text())
    return 0


def env_vars(fleet: Fleet, state: dict) -> dict:
    transport = [host for host in ssh_hosts(state["hosts"]) if host["group"] == "transport"]
    return {
        "MAILFLOW_FLEET_STATE": str(fleet.state_dir),
        "MAILFLOW_FLEET_PREFIX": fleet.prefix,
        "MAILFLOW_FLEET_INVENTORY": str(fleet.path("inventory.json")),
        "MAILFLOW_FLEET_CONTROLLER_NS": fleet.ns(CONTROLLER["name"]),
        "MAILFLOW_FLEET_INTERNET_NS": fleet.ns("inet"),
        "MAILFLOW_FLEET_DNS_SERVER": DNS_ADDR,
        "MAILFLOW_FLEET_DEAD_DNS_SERVER": DEAD_DNS_ADDR,
        "MAILFLOW_FLEET_CA_FILE": str(fleet.path("tls", "ca.crt")),
        "MAILFLOW_FLEET_PYTHON": state["python"],
        "MAILFLOW_FLEET_TRANSPORT_HOSTS": " ".join(host["name"] for host in transport),
        "MAILFLOW_FLEET_VANTAGE": VANTAGE["name"],
        "MAILFLOW_FLEET_FAULTS": " ".join("%s:%s" % (kind, host) for kind, host in state["faults"]),
        "MAILFLOW_FLEET_SSH_KEY": str(fleet.path("ssh", "id_ed25519")),
        "MAILFLOW_FLEET_LOGS": str(fleet.path("logs")),
    }


def cmd_env(fleet: Fleet, args) -> int:
    values = env_vars(fleet, require_state(fleet))
    if args.json:
        print(json.dumps(values, indent=2, sort_keys=True))
    else:
        for key, value in values.items():
            print("%s=%s" % (key, shlex.quote(value)))
    return 0


def cmd_fault(fleet: Fleet, args) -> int:
    if args.action == "list":
        for kind, spec in FAULT_KINDS.items():
            print("%-22s on %-9s %s; observed: %s" % (kind, spec["on"], spec["how"], spec["observed"]))
        return 0
    require_root()
    if not args.kind or not args.host:
        raise FleetError("usage: fleetctl fault add|del KIND HOST")
    if args.kind not in FAULT_KINDS:
        raise FleetError("unknown fault %s (known: %s)" % (args.kind, ", ".join(FAULT_KINDS)))
    with StateLock(fleet):
        state = require_state(fleet)
        target = fault_target_kind(args.host, state["hosts"])
        if target != FAULT_KINDS[args.kind]["on"]:
            raise FleetError("%s applies to %s hosts; %s is %s" % (
                args.kind, FAULT_KINDS[args.kind]["on"], args.host, target or "not a fleet host"))
        item = [args.kind, args.host]
        present = item in state["faults"]
        if args.action == "add" and not present:
            state["faults"].append(item)
        elif args.action == "del" and present:
            state["faults"].remove(item)
        else:
            print("fault %s %s: already %s" % (args.kind, args.host, "present" if present else "absent"))
            return 0
        apply_fault(fleet, state, args.kind, args.host, args.action == "add")
        write_inventory(fleet, state)
        save_state(fleet, state)
    print("fault %s %s: %s" % (args.kind, args.host, "added" if args.action == "add" else "removed"))
    return 0


def cmd_exec(fleet: Fleet, args) -> int:
    """Run a command in a fleet namespace as a subreaper; SSH ControlPersist masters end with it.

    Every run thus starts with fresh SSH connections (and a fresh control socket): a master kept from an
    earlier run could still talk to an sshd that has since been restarted.
    """
    require_root()
    state = require_state(fleet)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise FleetError("usage: fleetctl exec [--ns NAME] -- COMMAND [ARGS...]")
    role = args.ns or CONTROLLER["name"]
    if role not in fleet.all_roles(state["hosts"]):
        raise FleetError("no namespace %s in this fleet" % role)
    files = fleet.path("hosts", role) if role not in (CONTROLLER["name"], "sw", "inet") else fleet.path(
        CONTROLLER["name"])
    script = 'mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /etc/hosts && shift 2 && exec "$@"'
    argv = ["ip", "netns", "exec", fleet.ns(role), "sh", "-c", script, "sh", str(files / "resolv.conf"),
            str(files / "hosts")] + command
    reallab.become_reaper(b"fleetctl-exec")
    child = subprocess.Popen(argv)

    def forward(signum, _frame):
        child.send_signal(signum)
    # The terminal sends SIGINT to the child too; SIGTERM/SIGHUP (a test runner's timeout) are passed on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    rc = child.wait()
    terminate(reallab.descendants(os.getpid()), timeout=3.0)
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    return rc if rc >= 0 else 128 - rc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fleetctl", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--state", default=os.environ.get("MAILFLOW_FLEET_STATE") or DEFAULT_STATE,
                        help="state directory (default $MAILFLOW_FLEET_STATE or %s)" % DEFAULT_STATE)
    parser.add_argument("--prefix", default=os.environ.get("MAILFLOW_FLEET_PREFIX") or DEFAULT_PREFIX,
                        help="namespace name prefix (default $MAILFLOW_FLEET_PREFIX or %s)" % DEFAULT_PREFIX)
    sub = parser.add_subparsers(dest="command_name", required=True)
    up = sub.add_parser("up", help="build the fleet and wait until everything answers")
    up.add_argument("--hosts", type=int, default=6, help="transport hosts (default 6)")
    up.add_argument("--faults", choices=["standard", "none"], default="standard",
                    help="standard: the arranged faults (README); none: a healthy fleet")
    up.add_argument("--python", default=None, help="interpreter for the managed hosts (needs dnspython)")
    sub.add_parser("down", help="kill every fleet process and delete the namespaces")
    status = sub.add_parser("status", help="what runs; exit 0 only when the fleet is up")
    status.add_argument("--json", action="store_true")
    inv = sub.add_parser("inventory", help="print the Ansible inventory (JSON)")
    inv.add_argument("--path", action="store_true", help="print its path instead")
    env = sub.add_parser("env", help="print MAILFLOW_FLEET_* variables")
    env.add_argument("--json", action="store_true")
    execute = sub.add_parser("exec", help="run a command in the controller namespace (or --ns NAME)")
    execute.add_argument("--ns", default=None, help="namespace role: ctl (default), vantage, thN, inet, sw")
    execute.add_argument("command", nargs=argparse.REMAINDER)
    fault = sub.add_parser("fault", help="add or remove a fault; `fault list` shows the kinds")
    fault.add_argument("action", choices=["add", "del", "list"])
    fault.add_argument("kind", nargs="?")
    fault.add_argument("host", nargs="?")
    args = parser.parse_args(argv)
    if not re.match(r"^[a-z][a-z0-9]{0,7}$", args.prefix):
        parser.error("--prefix: 1-8 lowercase letters and digits, starting with a letter")
    fleet = Fleet(Path(args.state).resolve(), args.prefix)
    handler = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "inventory": cmd_inventory, "env": cmd_env,
               "exec": cmd_exec, "fault": cmd_fault}[args.command_name]
    try:
        return handler(fleet, args)
    except (FleetError, reallab.LabError) as exc:
        print("fleetctl %s: %s" % (args.command_name, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
