#!/usr/bin/env bash
# The AWX case of a change window: the pre run and the post run are two separate ansible-playbook processes, each in
# a fresh working directory that is deleted afterwards (report folder included), as two AWX jobs are. For each store
# of the baseline role that outlives a job:
#   facts: a cacheable fact of the host "keeper", kept by a jsonfile fact cache (AWX: fact storage on the template);
#   host:  a file on "keeper", written and read through keeper's connection (delegation);
# the pre run passes against Postfix mx1/mx2 and saves; the post run, whose recipient mx1 and mx2 refuse with 5.1.1,
# reports exactly the three regressions, exits 2, and publishes them with set_stats (the job's artifacts). The
# controller store (the default) is shown to lose the baseline in the same setting, and bad input to fail clearly.
# Starts the lab when it is not up, and stops it at exit only in that case.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$(command -v python3 || command -v python)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

out=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-change-window-awx.XXXXXX")
mailflow_remove_at_exit "$out"
export ANSIBLE_SHOW_CUSTOM_STATS=true ANSIBLE_NOCOLOR=1

regression_line="mailflow baseline: 3 regressions on 1 host: recipients @ mx1.fabrikam.test (rcpt 550 5.1.1) on edge1; recipients @ mx2.fabrikam.test (rcpt 550 5.1.1) on edge1; delivery @ fabrikam.test (rejected) on edge1"

# job NAME PHASE RECIPIENT [ARGS...]: one "job": a fresh working directory, the change_window playbook, the log kept
# as $out/NAME.log, the working directory (with its mailflow-report/) deleted; sets $rc.
job() {
    local name=$1 phase=$2 recipient=$3 work
    shift 3
    work=$(mktemp -d "$out/job-$name.XXXXXX")
    set +e
    (cd "$work" && ansible-playbook mailops.mailflow.change_window -i "$target_dir/inventory" -e "@$target_dir/vars.yml" \
        -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" \
        -e "phase=$phase" -e "recipient=$recipient" "$@") >"$out/$name.log" 2>&1
    rc=$?
    set -e
    if [ ! -f "$work/mailflow-report/report.json" ]; then
        echo "runme.sh: FAILED: $name: no mailflow-report/report.json in the job's working directory" >&2
        tail -40 "$out/$name.log" >&2
        exit 1
    fi
    rm -rf "$work"
    echo "runme.sh: $name: ansible-playbook exited $rc"
}

expect_rc() {
    if [ "$rc" != "$1" ]; then
        echo "runme.sh: FAILED: $2: ansible-playbook exited $rc, expected $1" >&2
        tail -60 "$out/$2.log" >&2
        exit 1
    fi
}

expect_line() {
    if ! grep -qF -- "$2" "$out/$1.log"; then
        echo "runme.sh: FAILED: $1.log lacks the line: $2" >&2
        tail -60 "$out/$1.log" >&2
        exit 1
    fi
}

reject_line() {
    if grep -qF -- "$2" "$out/$1.log"; then
        echo "runme.sh: FAILED: $1.log has the line: $2" >&2
        exit 1
    fi
}

# 1. facts: the jsonfile cache is all that outlives the pre job
cache=$out/fact-cache
facts=(-e mailflow_baseline_store=facts -e mailflow_baseline_store_host=keeper -e mailflow_baseline_file=change-4711)
ANSIBLE_CACHE_PLUGIN=ansible.builtin.jsonfile ANSIBLE_CACHE_PLUGIN_CONNECTION=$cache job facts-pre pre kate@fabrikam.test "${facts[@]}"
expect_rc 0 facts-pre
expect_line facts-pre 'mailflow baseline: saved 6 checks of 1 hosts to the fact mailflow_baselines[\"change-4711\"] of keeper'
"$python" "$target_dir/check_run.py" pre "$out/facts-pre.log" facts
"$python" - "$cache" <<'PY'
import glob, sys
# the snapshot is a fact of keeper in the cache (the file AWX would store), not of the vantage host; ansible-core
# wraps the facts in its own serialisation (__payload__), so the file is searched as text
def holding(pattern):
    return [path for path in glob.glob(sys.argv[1] + pattern) if 'mailflow_baselines' in open(path).read()]
kept = [path for path in holding('/*keeper') if 'change-4711' in open(path).read()]
if len(kept) != 1 or holding('/*edge1'):
    raise SystemExit('runme.sh: FAILED: the fact cache holds the baseline in %r (keeper) and %r (edge1)' % (kept, holding('/*edge1')))
PY
ANSIBLE_CACHE_PLUGIN=ansible.builtin.jsonfile ANSIBLE_CACHE_PLUGIN_CONNECTION=$cache job facts-post post nobody.here@fabrikam.test "${facts[@]}"
expect_rc 2 facts-post
expect_line facts-post "change window post: $regression_line"
"$python" "$target_dir/check_run.py" post "$out/facts-post.log" facts

# 2. host: a file on keeper, through keeper's connection
keeper_file=$out/keeper-disk/change-4711.json
host=(-e mailflow_baseline_store=host -e mailflow_baseline_store_host=keeper -e "mailflow_baseline_file=$keeper_file")
job host-pre pre kate@fabrikam.test "${host[@]}"
expect_rc 0 host-pre
expect_line host-pre "mailflow baseline: saved 6 checks of 1 hosts to keeper:$keeper_file"
expect_line host-pre "changed: [edge1 -> keeper]"
"$python" "$target_dir/check_run.py" pre "$out/host-pre.log" host
"$python" -c 'import json, sys; assert json.load(open(sys.argv[1]))["format"] == "mailops.mailflow/baseline", sys.argv[1]' "$keeper_file"
job host-post post nobody.here@fabrikam.test "${host[@]}"
expect_rc 2 host-post
expect_line host-post "change window post: $regression_line"
"$python" "$target_dir/check_run.py" post "$out/host-post.log" host

# 3. controller (the default): the pre job's directory is gone, and the baseline with it
job controller-pre pre kate@fabrikam.test
expect_rc 0 controller-pre
job controller-post post nobody.here@fabrikam.test
expect_rc 2 controller-post
expect_line controller-post "change window post: mailflow baseline: no baseline in $out/job-controller-post."
reject_line controller-post "$regression_line"
"$python" "$target_dir/check_run.py" no-baseline "$out/controller-post.log" controller

# 4. bad input: a store host that is not in the inventory
job bad-store pre kate@fabrikam.test -e mailflow_baseline_store=host -e mailflow_baseline_store_host=nosuchhost
expect_rc 2 bad-store
expect_line bad-store 'mailflow baseline: mailflow_baseline_store=host needs mailflow_baseline_store_host, a host of the inventory (got \"nosuchhost\", which is not in the inventory)'

# 5. docs/awx.md's SMTP AUTH credential type feeds options that exist
# shellcheck disable=SC2154 # set by mailflow_lab_up (setup_real_lab/lab.sh)
"$python" "$target_dir/check_awx_doc.py" "$mailflow_repo"

echo "runme.sh: change_window pre/post as separate jobs: the regression survives with the facts and host stores"
