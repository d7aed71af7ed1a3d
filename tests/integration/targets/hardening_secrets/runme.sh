#!/usr/bin/env bash
# Hardening, secrets: AUTH with the lab's SASL user; the password (and a rejected one) is then searched for in the
# captured ansible-playbook -vvv output, the registered results, the facts, the transcript files, the files of the
# report role and the raw stdout of the module run as a plain process. It must be found 0 times.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

find_collection_root() {
    # ansible-test runs a copy of the target under tests/output/.tmp inside the collection: walk up to the lab.
    local dir=$target_dir
    while [ "$dir" != "/" ]; do
        if [ -x "$dir/lab/real/labctl" ]; then
            echo "$dir"
            return 0
        fi
        dir=$(dirname "$dir")
    done
    return 1
}

if ! collection_root=$(find_collection_root); then
    echo "runme.sh: lab/real/labctl not found above $target_dir" >&2
    exit 1
fi
labctl=${MAILFLOW_LABCTL:-$collection_root/lab/real/labctl}
# The interpreter that runs ansible-playbook (its shebang is `env python`), so the module finds ansible.
python=$(command -v python || command -v python3)

started_lab=no
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-hardening-secrets.XXXXXX")
cleanup() {
    rm -rf "$scratch"
    if [ "$started_lab" = yes ]; then
        "$labctl" stop
    fi
}
trap cleanup EXIT

if ! "$labctl" status >/dev/null 2>&1; then
    started_lab=yes
    "$labctl" start
fi
set -a
eval "$("$labctl" env)"
set +a

case "$collection_root" in
    */ansible_collections/mailops/mailflow) collections=${collection_root%/ansible_collections/mailops/mailflow} ;;
    *)
        collections=$scratch/collections
        mkdir -p "$collections/ansible_collections/mailops"
        ln -s "$collection_root" "$collections/ansible_collections/mailops/mailflow"
        ;;
esac

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
