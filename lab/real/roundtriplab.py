"""Lab data of the round-trip path (issue 18), used by labctl.py.

Stdlib only. Three Postfix instances in a chain and a Dovecot that delivers and serves the mailbox:

    client -> rt_submit 127.0.9.11:587 (AUTH) -> rt_relay 127.0.9.12:25 -> rt_mx 127.0.9.13:25 -> LMTP -> Dovecot
                                                                                         IMAP 127.0.9.1:143/993

Every recipient of roundtrip.test ends in one mailbox, kate@roundtrip.test (the IMAP user), and each picks a path:
kate@ arrives at once, slow@ is held by rt_relay (a `sleep` restriction at RCPT), junk@ is filed into Junk by a
Sieve rule, lost@ is discarded by rt_relay (accepted, never delivered). The hops between Postfix instances use
opportunistic TLS, so their Received headers name the protocol and cipher.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from pathlib import Path

DOMAIN = "roundtrip.test"
USER = "kate@%s" % DOMAIN
IMAP_ADDR = "127.0.9.1"
IMAP_HOSTNAME = "imap.%s" % DOMAIN
IMAP_PORT = 143
IMAPS_PORT = 993
SUBMIT_ADDR = "127.0.9.11"
RELAY_ADDR = "127.0.9.12"
MX_ADDR = "127.0.9.13"
# How long rt_relay holds mail for slow@ (seconds), inside the RCPT stage of the rt_submit -> rt_relay hop.
SLOW_DELAY = 4
# Recipients -> what their path does; all of them are delivered to USER's mailbox (or nowhere, for lost@).
PATHS = {"kate": "inbox", "slow": "delayed", "junk": "junk", "lost": "discarded"}
COMPONENT = "dovecot-rt"
MAILBOX_UID = 65534
MAILBOX_GID = 65534


def dirs(state_dir: Path) -> dict:
    base = Path(state_dir) / "roundtrip"
    return {
        "base": base,
        "run": base / "run",
        "state": base / "state",
        "config": base / "dovecot.conf",
        "users": base / "users",
        "sieve": base / "junk.sieve",
        "password": Path(state_dir) / "roundtrip-password",
        "log": Path(state_dir) / "logs" / "dovecot-rt.log",
        "auth": base / "run" / "auth-postfix",
        "lmtp": base / "run" / "lmtp-postfix",
        "mail": Path(state_dir) / "mail" / "rt_mx",
        "maildir": Path(state_dir) / "mail" / "rt_mx" / DOMAIN / "kate",
    }


def instances(state_dir: Path) -> dict:
    """The three Postfix instances in labctl's INSTANCES layout; `main_cf` overrides the generated main.cf."""
    paths = dirs(state_dir)
    common = {
        "virtual_mailbox_domains": "",
        # Opportunistic TLS between the hops: their Received headers then say protocol and cipher.
        "smtp_tls_security_level": "may",
    }
    return {
        "rt_submit": {
            "hostname": "smtp.%s" % DOMAIN,
            "listen": [(SUBMIT_ADDR, 587)],
            "domain": DOMAIN,
            "users": [],
            "submission": False,
            "main_cf": dict(common, **{
                "smtpd_sasl_type": "dovecot",
                # smtpd exits when the SASL socket is missing (dovecot-rt down); retry soon after, not in 60 s.
                "daemon_throttle_time": "1s",
                "smtpd_sasl_path": paths["auth"],
                "smtpd_sasl_auth_enable": "no",
                "smtpd_tls_auth_only": "no",
                "lab_submission_sender_restrictions":
                    "permit_sasl_authenticated, check_client_access static:{530 5.7.0 Authentication required}",
                # Only roundtrip.test goes on (to the relay hop); anything else stays an error, never leaves.
                "transport_maps": "inline:{%s=smtp:[%s]:25}" % (DOMAIN, RELAY_ADDR),
            }),
        },
        "rt_relay": {
            "hostname": "relay.%s" % DOMAIN,
            "listen": [(RELAY_ADDR, 25)],
            "domain": DOMAIN,
            "users": [],
            "submission": False,
            "main_cf": dict(common, **{
                "relay_domains": DOMAIN,
                "transport_maps": "inline:{lost@%s=discard:, %s=smtp:[%s]:25}" % (DOMAIN, DOMAIN, MX_ADDR),
                "smtpd_restriction_classes": "lab_hold",
                "lab_hold": "sleep %d" % SLOW_DELAY,
                "smtpd_recipient_restrictions": "check_recipient_access inline:{slow@%s=lab_hold}" % DOMAIN,
            }),
        },
        "rt_mx": {
            "hostname": "mx.%s" % DOMAIN,
            "listen": [(MX_ADDR, 25)],
            "domain": DOMAIN,
            "users": ["kate"],
            "submission": False,
            "main_cf": {
                "virtual_alias_maps": "inline:{%s}" % ", ".join(
                    "%s@%s=%s" % (name, DOMAIN, USER) for name in PATHS if name not in ("kate", "lost")),
                "virtual_transport": "lmtp:unix:%s" % paths["lmtp"],
            },
        },
    }


def zone_lines() -> list:
    """Rows of the `test` zone (relative names)."""
    label = DOMAIN[:-len(".test")]
    return [
        "; round trip: submission -> relay -> mx -> Dovecot (lab/real/roundtriplab.py)",
        "%s IN MX 10 mx.%s." % (label, DOMAIN),
        "mx.%s IN A %s" % (label, MX_ADDR),
        "relay.%s IN A %s" % (label, RELAY_ADDR),
        "smtp.%s IN A %s" % (label, SUBMIT_ADDR),
        "imap.%s IN A %s" % (label, IMAP_ADDR),
        "",
    ]


SIEVE_SCRIPT = """require ["fileinto", "mailbox"];
# The lab's spam verdict: mail for junk@ (or flagged by a filter upstream) goes to Junk.
if anyof (address :is "to" "junk@%s", header :is "X-Spam-Flag" "YES") {
  fileinto :create "Junk";
  stop;
}
""" % DOMAIN


def dovecot_conf(state_dir: Path, tls_dir: Path) -> str:
    paths = dirs(state_dir)
    dh = Path("/usr/share/dovecot/dh.pem")
    return """# generated by lab/real/labctl (roundtriplab.py): the round-trip mailbox, IMAP and LMTP
instance_name = mailflow-rt
hostname = %(imap_host)s
base_dir = %(run)s
state_dir = %(state)s
log_path = %(log)s
protocols = imap lmtp
listen = %(addr)s
ssl = yes
ssl_cert = <%(tls)s/rt_imap.crt
ssl_key = <%(tls)s/rt_imap.key
%(dh)s
# Postfix SASL reaches this through a unix socket without TLS.
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT %(users)s
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(mail)s/%%d/%%n
}
namespace inbox {
  inbox = yes
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}
service imap-login {
  inet_listener imap {
    address = %(addr)s
    port = %(imap_port)d
  }
  inet_listener imaps {
    address = %(addr)s
    port = %(imaps_port)d
    ssl = yes
  }
}
service lmtp {
  unix_listener lmtp-postfix {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  mail_plugins = $mail_plugins sieve
  postmaster_address = postmaster@%(domain)s
}
plugin {
  sieve_before = %(sieve)s
}
""" % {"imap_host": IMAP_HOSTNAME, "run": paths["run"], "state": paths["state"], "log": paths["log"],
       "addr": IMAP_ADDR, "tls": tls_dir, "users": paths["users"], "uid": MAILBOX_UID, "gid": MAILBOX_GID,
       "mail": paths["mail"], "imap_port": IMAP_PORT, "imaps_port": IMAPS_PORT, "domain": DOMAIN,
       "sieve": paths["sieve"], "dh": "ssl_dh = <%s" % dh if dh.exists() else ""}


def dovecot_running(state_dir: Path, read_pid, pid_alive, proc_cmdline) -> int | None:
    paths = dirs(state_dir)
    pid = read_pid(paths["run"] / "master.pid")
    if pid_alive(pid) and str(paths["config"]) in proc_cmdline(pid):
        return pid
    return None


def start_dovecot(state_dir: Path, tls_dir: Path, run, write_file) -> None:
    """Write the config, a fresh password (0600 file, like the SASL one), the compiled Sieve rule; start Dovecot."""
    paths = dirs(state_dir)
    for key in ("run", "state"):
        paths[key].mkdir(parents=True, exist_ok=True)
    for directory in (paths["mail"], paths["mail"] / DOMAIN, paths["maildir"]):
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, MAILBOX_UID, MAILBOX_GID)
    write_file(paths["config"], dovecot_conf(state_dir, tls_dir))
    write_file(paths["sieve"], SIEVE_SCRIPT)
    # Compiled here (as root): the LMTP process runs as the mailbox user and cannot write next to the script.
    run([shutil.which("sievec") or "/usr/bin/sievec", str(paths["sieve"])], "sievec")
    password = secrets.token_urlsafe(18)
    write_file(paths["password"], password + "\n", 0o600)
    hashed = run(["openssl", "passwd", "-6", "-stdin"], "openssl passwd", stdin_text=password + "\n").strip()
    write_file(paths["users"], "%s:{SHA512-CRYPT}%s\n" % (USER, hashed), 0o640)
    shutil.chown(paths["users"], group="dovecot")
    run([shutil.which("dovecot") or "/usr/sbin/dovecot", "-c", str(paths["config"])], "dovecot-rt")


def dovecot_ready(state_dir: Path) -> bool:
    paths = dirs(state_dir)
    for path in (paths["auth"], paths["lmtp"]):
        if not path.exists():
            return False
    try:
        with socket.create_connection((IMAP_ADDR, IMAPS_PORT), timeout=1.0):
            pass
        with socket.create_connection((IMAP_ADDR, IMAP_PORT), timeout=1.0) as sock:
            sock.settimeout(1.0)
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


def endpoints() -> str:
    return "%s:%d %s:%d (IMAP, IMAPS), LMTP and SASL sockets" % (IMAP_ADDR, IMAP_PORT, IMAP_ADDR, IMAPS_PORT)


def env_values(state_dir: Path) -> dict:
    paths = dirs(state_dir)
    return {
        "MAILFLOW_LAB_ROUNDTRIP_DOMAIN": DOMAIN,
        "MAILFLOW_LAB_ROUNDTRIP_USER": USER,
        "MAILFLOW_LAB_ROUNDTRIP_PASSWORD_FILE": paths["password"],
        "MAILFLOW_LAB_ROUNDTRIP_IMAP_HOSTNAME": IMAP_HOSTNAME,
        "MAILFLOW_LAB_ROUNDTRIP_IMAP_ADDR": IMAP_ADDR,
        "MAILFLOW_LAB_ROUNDTRIP_IMAP_PORT": IMAP_PORT,
        "MAILFLOW_LAB_ROUNDTRIP_IMAPS_PORT": IMAPS_PORT,
        "MAILFLOW_LAB_ROUNDTRIP_SUBMIT_ADDR": SUBMIT_ADDR,
        "MAILFLOW_LAB_ROUNDTRIP_RELAY_ADDR": RELAY_ADDR,
        "MAILFLOW_LAB_ROUNDTRIP_MX_ADDR": MX_ADDR,
        "MAILFLOW_LAB_ROUNDTRIP_MAILDIR": paths["maildir"],
        "MAILFLOW_LAB_ROUNDTRIP_SLOW_DELAY": SLOW_DELAY,
        "MAILFLOW_LAB_ROUNDTRIP_LOG": paths["log"],
    }
