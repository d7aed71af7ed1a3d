#!/usr/bin/env bash
# The security rows and round-trip latency in the report and the baseline, from the real modules against the real lab:
#   1. "before": MTA-STS enforce, DANE matching, egress 127.0.0.21 (PTR matching), round trip to kate@ (at once), plus
#      SPF/DMARC, smuggling (open and strict Postfix) and an open relay probe; save a baseline and write the report.
#      The report files (HTML, Markdown, JUnit, JSON) must show the security rows, failed ones with their diagnosis.
#   2. "after": the same labelled checks pointed at MTA-STS testing, DANE not matching, egress 127.0.0.23 (PTR
#      mismatch, FCrDNS fail) and slow@ (held 4 s): the baseline comparison names exactly these four regressions.
# Starts the lab when it is not up and stops it at exit only in that case.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$(command -v python3 || command -v python)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

out=${MAILFLOW_REPORT_OUT:-${OUTPUT_DIR:-}}
[ -n "$out" ] || { out=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-report-security.XXXXXX"); mailflow_remove_at_exit "$out"; }
mkdir -p "$out"
report_dir=$out/security-report
rm -rf "$report_dir" "$out/security-baseline.json"

extra_args=("$@")
playbook() {
    # runs runme.yml with phase $1 (and the script's arguments); output to the terminal and $out/$1.log;
    # returns ansible-playbook's exit code
    local log=$out/$1.log
    set +e
    ansible-playbook "$target_dir/runme.yml" -i "$target_dir/inventory" \
        -e "phase=$1" -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
        -e "lab_resolver_addr=$MAILFLOW_LAB_RESOLVER_ADDR" -e "lab_resolver_port=$MAILFLOW_LAB_RESOLVER_PORT" \
        -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "lab_policy_zone=$MAILFLOW_LAB_POLICY_ZONE" \
        -e "lab_dane_zone=$MAILFLOW_LAB_DANE_ZONE" -e "rt_user=$MAILFLOW_LAB_ROUNDTRIP_USER" \
        -e "rt_password_file=$MAILFLOW_LAB_ROUNDTRIP_PASSWORD_FILE" -e "report_dir=$report_dir" \
        -e "baseline_file=$out/security-baseline.json" "${extra_args[@]}" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    set -e
    return "$rc"
}

expect_rc() {
    if [ "$2" != "$1" ]; then
        echo "runme.sh: FAILED: $3: ansible-playbook exited $2, expected $1" >&2
        exit 1
    fi
}

rc=0
playbook before || rc=$?
expect_rc 0 "$rc" "probe, save the baseline and report"
"$python" "$target_dir/check_files.py" report "$report_dir"

rc=0
playbook after || rc=$?
expect_rc 2 "$rc" "compare after the inputs changed (four regressions on purpose)"
if ! grep -qF "mailflow baseline: 4 regressions on 1 host" "$out/after.log"; then
    echo "runme.sh: FAILED: after.log lacks the line: mailflow baseline: 4 regressions on 1 host" >&2
    exit 1
fi
"$python" "$target_dir/check_files.py" regressed "$report_dir"

# the round-trip password appears nowhere: not in the output, the report or the baseline
if grep -rqF -- "$(cat "$MAILFLOW_LAB_ROUNDTRIP_PASSWORD_FILE")" "$out"; then
    echo "runme.sh: FAILED: the round-trip password is in $out" >&2
    exit 1
fi
echo "runme.sh: report and baseline files in $out"
