#!/usr/bin/env bash
# The playbook mailops.mailflow.smtp_test as a user runs it, against the real lab's Postfix mx1 (127.0.0.11):
# by default it stops after RCPT TO (nothing is sent), the SMTP port is smtp_port (Ansible reserves port, and
# the old name is refused rather than ignored), and the run exits non-zero when the session fails.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-playbook-smtp-test.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$work_dir"

failed=0
fail() {
    echo "runme.sh: FAILED: $*" >&2
    failed=1
}

# run NAME EXTRA_VARS...: the playbook's exit status in $rc, its output in $work_dir/NAME.out (also printed).
run() {
    local name=$1
    shift
    set +e
    ansible-playbook mailops.mailflow.smtp_test -i "${INVENTORY_PATH:-$target_dir/inventory}" -e mailflow_hosts=testhost \
        -e host=127.0.0.11 -e from=chris@contoso.test -e helo=contoso.test -e tls=none "$@" >"$work_dir/$name.out" 2>&1
    rc=$?
    set -e
    sed "s/^/[$name] /" "$work_dir/$name.out"
}

# 1. The default session: accepted, and nothing sent (RSET and QUIT after RCPT TO, never DATA).
run default -e to=kate@fabrikam.test -e smtp_port=25
[ "$rc" -eq 0 ] || fail "the passing session exited $rc"
grep -q 'PASSED: 127.0.0.11:25 passed' "$work_dir/default.out" || fail "the passing session printed no PASSED line"
grep -q -- '-> RSET' "$work_dir/default.out" || fail "the default session did not end with RSET"
if grep -q -- '-> DATA' "$work_dir/default.out"; then fail "the default session sent DATA"; fi
if grep -qi 'reserved' "$work_dir/default.out"; then fail "Ansible warned about a reserved variable name"; fi

# 2. A session that fails: shown step by step, then the play fails with the one-line reason.
run refused -e to=nobody@fabrikam.test
[ "$rc" -ne 0 ] || fail "the failing session exited 0"
grep -q 'rcpt      550' "$work_dir/refused.out" || fail "the failing session's steps were not shown"
grep -q '"msg": "127.0.0.11:25 failed at rcpt (550 5.1.1): [^"]' "$work_dir/refused.out" ||
    fail "the play did not fail with the one-line reason"

# 3. smtp_port is the port probed: nothing listens on 127.0.0.11:2.
run other_port -e to=kate@fabrikam.test -e smtp_port=2
[ "$rc" -ne 0 ] || fail "a refused connection exited 0"
grep -q '127.0.0.11:2 failed at connect (connection_refused)' "$work_dir/other_port.out" || fail "smtp_port was not the port probed"

# 4. The old variable is refused with a pointer to the new one, before any session.
run old_port -e to=kate@fabrikam.test -e port=2525
[ "$rc" -ne 0 ] || fail "-e port=2525 was accepted"
grep -q 'give the SMTP port as -e smtp_port=PORT' "$work_dir/old_port.out" || fail "-e port gave no pointer to smtp_port"
if grep -q -- '-> EHLO' "$work_dir/old_port.out"; then fail "-e port still held a session"; fi

[ "$failed" -eq 0 ] || exit 1
echo "runme.sh: smtp_test: nothing sent by default, smtp_port honoured, port refused, a failed session exits non-zero"
