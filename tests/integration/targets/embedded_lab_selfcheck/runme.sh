#!/usr/bin/env bash
# Self-check of the embedded lab: start it, check DNS and the guide's SMTP dialogue, stop it, and make sure
# nothing is left running. Uses its own state dir, so a lab started by `make demo` is left alone.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
# ansible-test runs a copy of tests/integration that sits inside the collection (tests/output/.tmp/...),
# so walk up until the collection root (the directory holding lab/) is found.
repo=${MAILFLOW_REPO:-}
if [ -z "$repo" ]; then
    dir=$here
    while [ "$dir" != "/" ]; do
        if [ -f "$dir/lab/embedded/labctl.py" ]; then
            repo=$dir
            break
        fi
        dir=$(dirname "$dir")
    done
fi
if [ -z "$repo" ]; then
    echo "embedded_lab_selfcheck: lab/embedded/labctl.py not found above $here (set MAILFLOW_REPO)" >&2
    exit 1
fi
labctl="$repo/lab/embedded/labctl.py"

# The lab needs dnspython and cryptography: take the first interpreter that has both.
python=""
for candidate in "${MAILFLOW_LAB_PYTHON:-}" "$repo/.venv/bin/python" "$(command -v python || true)" \
                 "$(command -v python3 || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import dns.resolver, cryptography' 2>/dev/null; then
        python=$candidate
        break
    fi
done
if [ -z "$python" ]; then
    echo "embedded_lab_selfcheck: no Python with dnspython and cryptography found (set MAILFLOW_LAB_PYTHON)" >&2
    exit 1
fi

state_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-embedded-selfcheck.XXXXXX")
export MAILFLOW_EMBEDDED_STATE="$state_dir"

cleanup() {
    "$python" "$labctl" stop >/dev/null 2>&1 || true
    rm -rf "$state_dir"
}
trap cleanup EXIT

"$python" "$labctl" start
"$python" "$labctl" status
"$python" "$labctl" env > "$state_dir/selfcheck.env"
pid=$(sed -n 's/^MAILFLOW_LAB_PID=//p' "$state_dir/selfcheck.env")

"$python" "$here/selfcheck.py" "$state_dir/selfcheck.env"

"$python" "$labctl" stop
if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q labctl; then
    echo "embedded_lab_selfcheck: lab process $pid still running after stop" >&2
    exit 1
fi
if "$python" "$labctl" status >/dev/null; then
    echo "embedded_lab_selfcheck: status still reports running after stop" >&2
    exit 1
fi
echo "embedded_lab_selfcheck: ok"
