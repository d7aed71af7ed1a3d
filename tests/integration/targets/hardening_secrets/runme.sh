#!/usr/bin/env bash
# Hardening, secrets: AUTH with the lab's SASL user; the password (and a rejected one) is then searched for in the
# captured ansible-playbook -vvv output, the registered results, the facts, the transcript files, the files of the
# report role and the raw stdout of the module run as a plain process. It must be found 0 times.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The interpreter that runs ansible-playbook (its shebang is `env python`), so the module finds ansible.
python=$(command -v python || command -v python3)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-hardening-secrets.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$scratch"

collections=$(mailflow_collections_path "$scratch/collections")

# Everything searched goes to out/; the module's own argument file (which holds the password) does not.
mkdir -m 0700 "$scratch/out" "$scratch/args"
MAILFLOW_HARDENING_OUT=$scratch/out
MAILFLOW_HARDENING_WRONG_PASSWORD="wrong-$("$python" -c 'import secrets; print(secrets.token_urlsafe(18))')"
export MAILFLOW_HARDENING_OUT MAILFLOW_HARDENING_WRONG_PASSWORD

SECONDS=0
ansible-playbook -vvv "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" "$@" \
    >"$scratch/out/ansible-playbook-vvv.txt" 2>&1 || {
    tail -n 60 "$scratch/out/ansible-playbook-vvv.txt"
    exit 1
}
grep -E '^(PLAY RECAP|testhost +:)' "$scratch/out/ansible-playbook-vvv.txt"

"$python" "$target_dir/files/search_secrets.py" --password-file "$MAILFLOW_LAB_SASL_PASSWORD_FILE" \
    --wrong-password "$MAILFLOW_HARDENING_WRONG_PASSWORD" --username "$MAILFLOW_LAB_SASL_USER" \
    --search-dir "$scratch/out" --collections "$collections" --module-args-dir "$scratch/args" \
    --module-host "$MAILFLOW_LAB_SUBMISSION_ADDR" --module-port "$MAILFLOW_LAB_SUBMISSION_PORT" \
    --ca-file "$MAILFLOW_LAB_CA_FILE" --server-name "$MAILFLOW_LAB_SUBMISSION_HOSTNAME"
echo "hardening_secrets: ${SECONDS}s"
