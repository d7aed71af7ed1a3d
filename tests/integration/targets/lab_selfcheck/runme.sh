#!/usr/bin/env bash
# Self-check of the real lab: DNS through BIND, the Postfix banner, the fault server's Exchange persona and its
# 530 5.7.1 behaviour. Starts the lab when it is not up, and then stops it at exit (and checks that it did).
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

python=${ANSIBLE_TEST_PYTHON_INTERPRETER:-python}

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_labctl status

"$python" "$target_dir/selfcheck.py"

if [ "$mailflow_started_lab" = yes ]; then
    pids=$(cat "$MAILFLOW_LAB_STATE/named/named.pid" "$MAILFLOW_LAB_STATE/dovecot/run/master.pid" \
               "$MAILFLOW_LAB_STATE"/postfix/*/queue/pid/master.pid "$MAILFLOW_LAB_FAULT_PIDFILE" | tr -s ' \n' ' ')
    mailflow_started_lab=no
    mailflow_labctl stop
    if mailflow_labctl status >/dev/null 2>&1; then
        echo "lab_selfcheck: status still reports the lab up after stop" >&2
        exit 1
    fi
    for pid in $pids; do
        # A dead process may linger as a zombie until its parent reaps it; only a live one is a leak.
        state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        if [ -n "$state" ] && [ "$state" != Z ]; then
            echo "lab_selfcheck: lab process $pid still running after stop" >&2
            exit 1
        fi
    done
fi
echo "lab_selfcheck: ok"
