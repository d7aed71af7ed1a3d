#!/usr/bin/env bash
# The roles across a fleet, over SSH, against firewall and service faults (lab/fleet/fleetctl, root only):
#   1. fleetctl up: 6 transport hosts and an Internet vantage (sshd each), MX hosts and DNS in an "internet"
#      namespace, and the standard faults (source firewall th2, dead DNS th3, wrong port th4, destination
#      firewall edge2, service down edge3);
#   2. change window pre (window.yml: the round trip from every transport host to the fleet's IMAP mailbox, then
#      change_window: inbound from the vantage, outbound with the egress check on every transport host, forks 8):
#      the report names each broken host with the guide's cause, told apart by what was observed; the round trip
#      and egress rows (matching, missing and mismatched PTRs) are in the facts and in the HTML, Markdown and JUnit
#      reports; the baseline is saved;
#   3. a DROP of outbound 25 added on the healthy th5, change window post: the baseline diff holds exactly th5's
#      regressions (its deliveries and its round trip);
#   4. fleetctl down (also on failure, from the EXIT trap): no namespace and no fleet process left.
# By hand: PATH="$PWD/.venv/bin:$PATH" tests/integration/targets/fleet/runme.sh (files go to a temporary directory).
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "fleet: SKIPPED: the fleet lab needs root (network namespaces, sshd, Postfix, nft); run as root"
    exit 0
fi

find_up() {
    # ansible-test runs a copy of the target under tests/output/.tmp inside the collection: walk up.
    local dir=$target_dir
    while [ "$dir" != "/" ]; do
        if [ -e "$dir/$1" ]; then
            echo "$dir"
            return 0
        fi
        dir=$(dirname "$dir")
    done
    return 1
}

root=$(find_up lab/fleet/fleetctl) || { echo "fleet: lab/fleet/fleetctl not found above $target_dir" >&2; exit 1; }
fleetctl=$root/lab/fleet/fleetctl
# A prefix and state dir of this run alone: another checkout's test run, a benchmark (mfb...) or a user's fleet
# (mff) can be up at the same time, and `fleetctl up` would tear down a fleet of the same prefix.
export MAILFLOW_FLEET_PREFIX=${MAILFLOW_FLEET_TEST_PREFIX:-mft$(od -An -N2 -tx2 /dev/urandom | tr -d ' \n')}
export MAILFLOW_FLEET_STATE=${MAILFLOW_FLEET_TEST_STATE:-/var/tmp/mailops-mailflow-fleet-$MAILFLOW_FLEET_PREFIX}
python=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}

out=${MAILFLOW_FLEET_OUT:-${OUTPUT_DIR:-}}
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-fleet.XXXXXX")
out=$out/fleet
rm -rf "$out"
mkdir -p "$out"
echo "fleet: files in $out"

if [ -z "${ANSIBLE_COLLECTIONS_PATH:-}" ]; then
    # run by hand: expose the repository (the collection root) as mailops.mailflow
    mkdir -p "$out/collections/ansible_collections/mailops"
    ln -s "$(find_up galaxy.yml)" "$out/collections/ansible_collections/mailops/mailflow"
    export ANSIBLE_COLLECTIONS_PATH=$out/collections
fi

fleet_pids=""
cleanup() {
    local rc=$? leftovers="" pid state
    trap - EXIT
    if ! "$fleetctl" down; then
        echo "fleet: FAILED: fleetctl down reported leftovers" >&2
        rc=1
    fi
    # the fleet's logs stay with the test output; its state dir (keys, queues) goes
    if [ -d "$MAILFLOW_FLEET_STATE/logs" ]; then
        cp -a "$MAILFLOW_FLEET_STATE/logs" "$out/fleet-logs" || true
    fi
    if [ -z "${MAILFLOW_FLEET_TEST_STATE:-}" ] && [ -e "$MAILFLOW_FLEET_STATE/.mailops-mailflow-fleet" ]; then
        rm -rf "$MAILFLOW_FLEET_STATE"
    fi
    leftovers=$(ip netns list | awk -v p="$MAILFLOW_FLEET_PREFIX-" 'index($1, p) == 1 {print $1}')
    for pid in $fleet_pids; do
        # a dead process may linger as a zombie until its parent reaps it; only a live one is a leak
        state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        if [ -n "$state" ] && [ "$state" != Z ]; then
            leftovers="$leftovers pid:$pid($(cat "/proc/$pid/comm" 2>/dev/null))"
        fi
    done
    if [ -n "$leftovers" ]; then
        echo "fleet: FAILED: left after fleetctl down:$leftovers" >&2
        rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT

"$fleetctl" up --hosts 6 --faults standard --python "$python"
"$fleetctl" status
for ns in $(ip netns list | awk -v p="$MAILFLOW_FLEET_PREFIX-" 'index($1, p) == 1 {print $1}'); do
    fleet_pids="$fleet_pids $(ip netns pids "$ns" | tr '\n' ' ')"
done
inventory=$("$fleetctl" inventory --path)

change_window() {
    # ansible-playbook runs in the fleet's controller namespace; returns its exit code
    local phase=$1
    set +e
    # Ansible's jsonfile fact cache keeps every host's facts for check_fleet.py (the egress and round-trip entries).
    mkdir -p "$out/$phase-facts"
    "$fleetctl" exec -- env ANSIBLE_CACHE_PLUGIN=jsonfile ANSIBLE_CACHE_PLUGIN_CONNECTION="$out/$phase-facts" \
        ansible-playbook "$target_dir/window.yml" -i "$inventory" -f 8 \
        -e "@$target_dir/vars.yml" -e "phase=$phase" -e "mailflow_report_dir=$out/$phase" \
        -e "mailflow_baseline_file=$out/baseline.json" 2>&1 | tee "$out/$phase.log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

expect_failed_play() {
    if [ "$1" != 2 ]; then
        echo "fleet: FAILED: change_window $2 exited $1; expected 2 (required checks fail on the broken hosts)" >&2
        exit 1
    fi
}

rc=0
change_window pre || rc=$?
expect_failed_play "$rc" pre
"$python" "$target_dir/check_fleet.py" faults "$out/pre/report.json" "$out/pre/report.md" "$inventory"
"$python" "$target_dir/check_fleet.py" newrows "$out/pre" "$out/pre-facts" "$inventory"

"$fleetctl" fault add source-firewall th5
rc=0
change_window post || rc=$?
expect_failed_play "$rc" post
"$python" "$target_dir/check_fleet.py" regression "$out/post/baseline-diff.json" "$out/post/report.json" th5
"$python" "$target_dir/check_fleet.py" newrows "$out/post" "$out/post-facts" "$inventory"

"$fleetctl" status --json >"$out/status.json"
"$python" "$target_dir/check_fleet.py" counters "$out/status.json" source-firewall:th2 source-firewall:th5 \
    destination-firewall:edge2
echo "fleet: ok"
