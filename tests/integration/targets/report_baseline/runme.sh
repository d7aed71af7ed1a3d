#!/usr/bin/env bash
# The report and baseline roles against the real lab, on two inventory hosts (both this machine):
#   1. probe, save a baseline, report: the arranged failures end the play failed with the summary line;
#      the four files exist, the JUnit XML counts right, and the HTML renders in headless Chromium (screenshot);
#   2. stop the mx2 Postfix instance, probe, compare: exactly the checks that touch mx2 regressed, the play fails;
#   3. start mx2 again, probe, compare: no regression, the play passes.
# Starts the lab when it is not up and stops it at exit only in that case; mx2 is started again in any case.
# Files go to $MAILFLOW_REPORT_OUT, else ansible-test's $OUTPUT_DIR, else a temporary directory (printed).
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if ! command -v chromium >/dev/null 2>&1; then
    echo "runme.sh: chromium is not installed (apt-get install chromium; tools/apt-deps does it)" >&2
    exit 1
fi
python=$(command -v python3 || command -v python)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mx2_stopped=no
restart_mx2() {
    if [ "$mx2_stopped" = yes ]; then
        mailflow_labctl start >/dev/null || echo "runme.sh: WARNING: could not start mx2 again; run: lab/real/labctl start" >&2
    fi
}
mailflow_at_exit restart_mx2

out=${MAILFLOW_REPORT_OUT:-${OUTPUT_DIR:-}}
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-report-baseline.XXXXXX")
mkdir -p "$out"
report_dir=$out/report
rm -rf "$report_dir" "$out/baseline.json"

playbook() {
    # runs runme.yml; its output goes to the terminal and to $out/$1.log; returns ansible-playbook's exit code
    local log=$out/$1.log
    shift
    set +e
    # always its own inventory (ansible-test's has one host; the matrix needs two)
    ansible-playbook "$target_dir/runme.yml" -i "$target_dir/inventory" \
        -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
        -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "report_dir=$report_dir" -e "baseline_file=$out/baseline.json" \
        "$@" 2>&1 | tee "$log"
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

expect_line() {
    if ! grep -qF -- "$2" "$out/$1.log"; then
        echo "runme.sh: FAILED: $1.log lacks the line: $2" >&2
        exit 1
    fi
}

seconds() { date +%s.%N; }
elapsed() { awk -v start="$1" -v end="$(seconds)" 'BEGIN { printf "%.1f s", end - start }'; }

# 1. probe, save, report
start=$(seconds)
rc=0
playbook save -e baseline_action=save -e run_report=true || rc=$?
expect_rc 2 "$rc" "probe, save and report (required checks fail on purpose)"
expect_line save "mailflow: 4 of 17 required checks failed on 2 hosts: anonymous_accepted @ mail-530.faultd.test (mail 530 5.7.1) on edge1, edge2; mx_set @ nullmx.test (null mx) on edge1, edge2"
expect_line save "mailflow baseline: saved 19 checks of 2 hosts to $out/baseline.json"
echo "runme.sh: probe + save + report: $(elapsed "$start")"
"$python" "$target_dir/check_files.py" report "$report_dir"

start=$(seconds)
profile=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-chromium.XXXXXX")
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
    --screenshot="$out/report.png" --window-size=1400,900 "file://$report_dir/report.html" >"$out/chromium.log" 2>&1 \
    || { cat "$out/chromium.log" >&2; rm -rf "$profile"; exit 1; }
rm -rf "$profile"
echo "runme.sh: chromium screenshot: $(elapsed "$start")"
"$python" "$target_dir/check_files.py" png "$out/report.png"

# 2. mx2 down: exactly its checks regress
start=$(seconds)
mx2_stopped=yes
postfix -c "$MAILFLOW_LAB_MX2_CONFIG_DIR" stop
for _ in $(seq 50); do
    # stopped means refused on 127.0.0.12:25
    if ! (exec 3<>"/dev/tcp/$MAILFLOW_LAB_MX2_ADDR/25") 2>/dev/null; then
        break
    fi
    sleep 0.1
done
rc=0
playbook compare-down -e baseline_action=compare || rc=$?
mailflow_labctl start >/dev/null
mx2_stopped=no
expect_rc 2 "$rc" "compare with mx2 stopped"
expect_line compare-down "mailflow baseline: 6 regressions on 2 hosts: recipients_accepted @ mx2.fabrikam.test (connect connection_refused) on edge1, edge2; recipient_validation @ mx2.fabrikam.test (connect connection_refused) on edge1, edge2; deliverable @ primary-down.test (all refused) on edge1, edge2"
echo "runme.sh: mx2 down, probe + compare: $(elapsed "$start")"
"$python" "$target_dir/check_files.py" regressed "$report_dir"

# 3. mx2 back: nothing changed
start=$(seconds)
rc=0
playbook compare-up -e baseline_action=compare || rc=$?
expect_rc 0 "$rc" "compare after mx2 is back"
expect_line compare-up "mailflow baseline: no regressions (0 checks changed, 19 unchanged)"
echo "runme.sh: mx2 back, probe + compare: $(elapsed "$start")"
"$python" "$target_dir/check_files.py" unchanged "$report_dir"

echo "runme.sh: report files in $report_dir, screenshot $out/report.png"
