#!/usr/bin/env bash
# mail_roundtrip against the real lab (lab/real/roundtriplab.py: submission 127.0.9.11:587 -> relay -> mx -> Dovecot,
# IMAP on 127.0.9.1). Starts the lab when it is not up, and stops it at exit only in that case. Then proves the
# round-trip password (IMAP and SMTP AUTH) is absent from the playbook's output, the registered results and the facts.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-roundtrip.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$work_dir"

set +e
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" -v \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "rt_user=$MAILFLOW_LAB_ROUNDTRIP_USER" \
    -e "rt_password_file=$MAILFLOW_LAB_ROUNDTRIP_PASSWORD_FILE" -e "rt_maildir=$MAILFLOW_LAB_ROUNDTRIP_MAILDIR" \
    -e "rt_slow_delay=$MAILFLOW_LAB_ROUNDTRIP_SLOW_DELAY" -e "work_dir=$work_dir" \
    "$@" >"$work_dir/playbook.out" 2>&1
playbook_rc=$?
set -e
cat "$work_dir/playbook.out"
if [ "$playbook_rc" -ne 0 ]; then
    echo "runme.sh: ansible-playbook failed (exit $playbook_rc)" >&2
    exit "$playbook_rc"
fi

# The secret as is and in the base64 forms a LOGIN or AUTH PLAIN would carry.
patterns="$work_dir/secret-patterns"
(
    umask 077
    password=$(cat "$MAILFLOW_LAB_ROUNDTRIP_PASSWORD_FILE")
    {
        printf '%s\n' "$password"
        printf '%s' "$password" | base64 -w0
        printf '\n'
        printf '\0%s\0%s' "$MAILFLOW_LAB_ROUNDTRIP_USER" "$password" | base64 -w0
        printf '\n'
    } >"$patterns"
)

count_secret() {
    local count rc=0
    count=$(grep -c -F -f "$patterns" -- "$1") || rc=$?
    if [ "$rc" -gt 1 ]; then
        printf 'grep-error\n'
    else
        printf '%s\n' "${count:-0}"
    fi
}

failed=0
self_count=$(count_secret "$MAILFLOW_LAB_ROUNDTRIP_PASSWORD_FILE")
if [ "$self_count" != 1 ]; then
    echo "runme.sh: FAILED: the secret grep finds $self_count lines in the password file itself (want 1)" >&2
    failed=1
fi
for file in playbook.out results.json mailflow_facts.json role_facts.json; do
    if [ ! -s "$work_dir/$file" ]; then
        echo "runme.sh: FAILED: $file was not written or is empty" >&2
        failed=1
        continue
    fi
    count=$(count_secret "$work_dir/$file")
    echo "runme.sh: lines holding the round-trip password (or its base64 forms) in $file: $count"
    [ "$count" = 0 ] || failed=1
done
# The files really hold logged-in sessions, so a leak would have had somewhere to show.
grep -q '"tls_session"' "$work_dir/mailflow_facts.json" ||
    { echo "runme.sh: FAILED: the facts hold no IMAP session" >&2; failed=1; }
grep -q 'AUTH PLAIN \*\*\*\*\*\*\*\*' "$work_dir/results.json" ||
    { echo "runme.sh: FAILED: no masked AUTH PLAIN line in the results" >&2; failed=1; }
if [ "$failed" -ne 0 ]; then
    echo "runme.sh: the password check FAILED" >&2
    exit 1
fi
echo "runme.sh: the password is absent from stdout, results and facts"
