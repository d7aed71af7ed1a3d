"""Start one faultd process (high ports on 127.0.0.1) for the whole test session."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time

import pytest

SERVERS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAULTD = os.path.join(SERVERS, "faultd.py")
sys.path.insert(0, SERVERS)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faultd  # noqa: E402  pylint: disable=wrong-import-position

# Small bounds so the hostile behaviours are quick to test; the defaults are checked by hand.
FAST_OPTIONS = ["--slow-banner-delay", "1.0", "--drip-interval", "0.02", "--endless-bytes", "2000000",
                "--huge-bytes", "3000000", "--tarpit-delay", "0.3"]


def free_port_base(count: int) -> int:
    for _attempt in range(50):
        base = random.randrange(20000, 60000 - count)
        sockets = []
        try:
            for offset in range(count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


def start_faultd(workdir, extra=()):
    base = free_port_base(len(faultd.BEHAVIOURS))
    paths = {name: str(workdir / name) for name in ("map.json", "log.jsonl", "faultd.pid")}
    command = [sys.executable, FAULTD, "--host", "127.0.0.1", "--port-base", str(base),
               "--map-file", paths["map.json"], "--log-file", paths["log.jsonl"], "--pid-file", paths["faultd.pid"],
               "--tls-dir", str(workdir / "tls"), "--auth-password", "lab-secret-pw"] + FAST_OPTIONS + list(extra)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not os.path.exists(paths["map.json"]):
        if process.poll() is not None or time.monotonic() > deadline:
            output = process.stdout.read().decode() if process.poll() is not None else ""
            process.kill()
            raise RuntimeError("faultd did not start: %s" % output)
        time.sleep(0.05)
    with open(paths["map.json"], encoding="utf-8") as handle:
        table = json.load(handle)
    return process, table, paths


def stop_faultd(process) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode


class Lab:
    def __init__(self, process, table, paths):
        self.process = process
        self.table = table
        self.paths = paths

    def address(self, name):
        return self.table[name]["host"], self.table[name]["port"]

    def events(self, behaviour=None):
        with open(self.paths["log.jsonl"], encoding="utf-8") as handle:
            records = [json.loads(line) for line in handle if line.strip()]
        return [record for record in records if behaviour is None or record.get("behaviour") == behaviour]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("faultd")
    process, table, paths = start_faultd(workdir)
    yield Lab(process, table, paths)
    assert stop_faultd(process) == 0
    assert not os.path.exists(paths["faultd.pid"])
