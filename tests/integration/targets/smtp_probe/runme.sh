#!/usr/bin/env bash
# smtp_probe against the real lab (Postfix mx1, submission with Dovecot SASL). Starts the lab when it is not up, and
# stops it at exit only in that case. Then proves the SASL password is absent from every output: the playbook's
# stdout, a registered result, the facts and the transcript file (the playbook writes the last three into work_dir).
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-smtp-probe.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$work_dir"

# Unique per run: the test message's Subject/Message-ID and the check-mode sender are found by it in the maillog.
run_id="$(date +%s)-$$"

# -v prints every registered result, so the stdout check covers what a user would see.
set +e
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" -v \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "lab_mx1_log=$MAILFLOW_LAB_MX1_LOG" \
    -e "lab_kate_maildir=$MAILFLOW_LAB_MAILDIR_MX1_KATE" -e "lab_sasl_user=$MAILFLOW_LAB_SASL_USER" \
    -e "lab_sasl_password_file=$MAILFLOW_LAB_SASL_PASSWORD_FILE" -e "work_dir=$work_dir" -e "run_id=$run_id" \
    "$@" >"$work_dir/playbook.out" 2>&1
playbook_rc=$?
set -e
cat "$work_dir/playbook.out"
if [ "$playbook_rc" -ne 0 ]; then
    echo "runme.sh: ansible-playbook failed (exit $playbook_rc)" >&2
    exit "$playbook_rc"
fi

# The secret in every form a leak could take: as is, base64, and the AUTH PLAIN blob (\0user\0password).
patterns="$work_dir/secret-patterns"
(
    umask 077
    password=$(cat "$MAILFLOW_LAB_SASL_PASSWORD_FILE")
    {
        printf '%s\n' "$password"
        printf '%s' "$password" | base64 -w0
        printf '\n'
        printf '\0%s\0%s' "$MAILFLOW_LAB_SASL_USER" "$password" | base64 -w0
        printf '\n'
    } >"$patterns"
)

count_secret() {
    # grep -c exits 1 on zero matches; 2 (an unreadable file) must not read as "0".
    local count rc=0
    count=$(grep -c -F -f "$patterns" -- "$1") || rc=$?
    if [ "$rc" -gt 1 ]; then
        printf 'grep-error\n'
    else
        printf '%s\n' "${count:-0}"
    fi
}

failed=0
# The check itself must be able to fail: the password file holds the password, once.
self_count=$(count_secret "$MAILFLOW_LAB_SASL_PASSWORD_FILE")
if [ "$self_count" != 1 ]; then
    echo "runme.sh: FAILED: the secret grep finds $self_count lines in the password file itself (want 1)" >&2
    failed=1
fi
for file in playbook.out auth_ok_result.json auth_bad_result.json mailflow_facts.json auth_transcript.txt; do
    if [ ! -s "$work_dir/$file" ]; then
        echo "runme.sh: FAILED: $file was not written or is empty" >&2
        failed=1
        continue
    fi
    count=$(count_secret "$work_dir/$file")
    echo "runme.sh: lines holding the SASL password (or its base64 forms) in $file: $count"
    [ "$count" = 0 ] || failed=1
done
# The files really hold the AUTH session, so a leak would have had somewhere to show.
grep -q '235 2.7.0' "$work_dir/auth_transcript.txt" || { echo "runme.sh: FAILED: no 235 in the transcript" >&2; failed=1; }
grep -q 'AUTH PLAIN \*\*\*\*\*\*\*\*' "$work_dir/auth_transcript.txt" ||
    { echo "runme.sh: FAILED: no masked AUTH PLAIN line in the transcript" >&2; failed=1; }
grep -q '"submission_auth"' "$work_dir/mailflow_facts.json" ||
    { echo "runme.sh: FAILED: the facts dump has no submission_auth probe" >&2; failed=1; }
if [ "$failed" -ne 0 ]; then
    echo "runme.sh: the password check FAILED" >&2
    exit 1
fi
echo "runme.sh: the password is absent from stdout, results, facts and the transcript file"
