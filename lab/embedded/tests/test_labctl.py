"""labctl as a user runs it: start, status, env, a second start, stop; nothing may be left running."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys

LABCTL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "labctl.py")


def labctl(state_dir, *args):
    env = dict(os.environ, MAILFLOW_EMBEDDED_STATE=str(state_dir))
    return subprocess.run([sys.executable, LABCTL] + list(args), env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def alive(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return b"labctl.py" in handle.read()
    except OSError:
        return False


def test_lifecycle(tmp_path):
    state_dir = tmp_path / "lab"
    assert labctl(state_dir, "status").returncode == 3
    assert labctl(state_dir, "env").returncode == 3
    started = labctl(state_dir, "start")
    try:
        assert started.returncode == 0, started.stderr
        env = dict(line.split("=", 1) for line in labctl(state_dir, "env").stdout.splitlines())
        env = {key: shlex.split(value)[0] for key, value in env.items()}
        pid = int(env["MAILFLOW_LAB_PID"])
        assert alive(pid)
        assert env["MAILFLOW_LAB_STATE_DIR"] == str(state_dir)
        assert "mail1.contoso.test=127.0.3.1/exchange" in env["MAILFLOW_LAB_PERSONAS"].split(",")
        assert labctl(state_dir, "status").returncode == 0
        again = labctl(state_dir, "start")
        assert again.returncode == 0 and "pid %d" % pid in again.stdout
        state = json.loads(labctl(state_dir, "env", "--json").stdout)
        port = state["smtp_port"]
        with socket.create_connection(("127.0.3.3", port), timeout=3) as sock:
            assert sock.recv(200).startswith(b"220 mail1.fabrikam.test Microsoft ESMTP MAIL Service ready")
        with open(state["auth"]["password_file"], encoding="utf-8") as handle:
            assert len(handle.read().strip()) >= 16
        assert oct(os.stat(state["auth"]["password_file"]).st_mode & 0o777) == "0o600"
    finally:
        stopped = labctl(state_dir, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(pid)
    assert labctl(state_dir, "status").returncode == 3
    assert not (state_dir / "labctl.pid").exists() and not (state_dir / "state.json").exists()
    try:
        socket.create_connection(("127.0.3.3", port), timeout=1).close()
        raise AssertionError("a persona still listens after stop")
    except ConnectionRefusedError:
        pass
    assert labctl(state_dir, "stop").returncode == 0


def test_two_labs_pick_different_ports(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    try:
        assert labctl(first, "start").returncode == 0
        assert labctl(second, "start").returncode == 0
        ports = [json.loads(labctl(d, "env", "--json").stdout)["smtp_port"] for d in (first, second)]
        assert ports[0] != ports[1]
    finally:
        labctl(first, "stop")
        labctl(second, "stop")
