#!/usr/bin/env bash
# Hardening, hostile servers: every hostile behaviour of the fault server through smtp_probe in a play, then
# the module as a child process per behaviour, to bound its peak memory and wall time.
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
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-hardening-hostile.XXXXXX")
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

# The directory holding ansible_collections/mailops/mailflow, for the module run as a plain process.
case "$collection_root" in
    */ansible_collections/mailops/mailflow) collections=${collection_root%/ansible_collections/mailops/mailflow} ;;
    *)
        collections=$scratch/collections
        mkdir -p "$collections/ansible_collections/mailops"
        ln -s "$collection_root" "$collections/ansible_collections/mailops/mailflow"
        ;;
esac

SECONDS=0
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" "$@"
echo "hardening_hostile: playbook ${SECONDS}s"

SECONDS=0
"$python" "$target_dir/files/module_process.py" --cases "$target_dir/vars/cases.yml" \
    --fault-map "$MAILFLOW_LAB_FAULT_MAP" --collections "$collections" \
    --report "${MAILFLOW_HARDENING_REPORT_DIR:-$scratch}/hostile-process.json"
echo "hardening_hostile: module processes ${SECONDS}s"
