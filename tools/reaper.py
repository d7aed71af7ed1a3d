# -*- coding: utf-8 -*-
# Copyright (c) mailops.mailflow contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command as a child subreaper: python3 tools/reaper.py COMMAND [ARGS...].

Daemons that the labs start (named, Postfix's master, the fault server) detach from their parent.
When they exit they become zombies of their new parent, and an init that never reaps (as in some
VMs and containers) leaves them in `pgrep` output for good. As a subreaper this process becomes
their parent instead and reaps them. It exits with the command's exit status.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LEAK_GRACE_SECONDS = 3.0


def become_subreaper():
    """Ask Linux to re-parent orphaned descendants to this process; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_status(wait_status):
    """Shell-style exit status from a raw wait status."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def reap_finished():
    """Reap every descendant that has already exited; True while some are still running."""
    while True:
        try:
            pid, dummy = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def running_children():
    """(pid, command line) of the processes now re-parented to this one."""
    children = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry, 'rb') as stat_file:
                stat = stat_file.read()
            with open('/proc/%s/cmdline' % entry, 'rb') as cmdline_file:
                cmdline = cmdline_file.read().replace(b'\0', b' ').strip()
        except OSError:
            continue
        # the parent pid is the second field after the parenthesised command name
        parent = int(stat.rsplit(b')', 1)[1].split()[1])
        if parent == os.getpid():
            children.append((int(entry), cmdline.decode('utf-8', 'replace')))
    return children


def settle(grace_seconds):
    """Give exiting daemons a moment to be reaped, then name any still running (a leak)."""
    deadline = time.monotonic() + grace_seconds
    while reap_finished():
        if time.monotonic() > deadline:
            for pid, cmdline in running_children():
                sys.stderr.write('reaper.py: WARNING: still running after the command ended: %d %s\n' % (pid, cmdline))
            return
        time.sleep(0.1)


def main(argv):
    """Start the command, reap everything that exits under it, return its exit status."""
    if not argv:
        sys.stderr.write('usage: reaper.py COMMAND [ARGS...]\n')
        return 2
    if not become_subreaper():
        # still run the command: the only loss is zombies left to the system's init
        sys.stderr.write('reaper.py: PR_SET_CHILD_SUBREAPER unavailable; running without it\n')
    command = subprocess.Popen(argv)  # pylint: disable=consider-using-with

    def forward(signum, dummy_frame):
        command.send_signal(signum)

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)

    while True:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            raise
        if pid == command.pid:
            # Popen cannot wait for it any more; record the status for the caller
            command.returncode = exit_status(wait_status)
            break
    # what the command left running is not stopped here: its own cleanup decides; it is named
    settle(LEAK_GRACE_SECONDS)
    return command.returncode if command.returncode is not None else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
