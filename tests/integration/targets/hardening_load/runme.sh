#!/usr/bin/env bash
# Hardening, load: 500 concurrent probes from one process (the engine in a thread pool, at most 100 in flight)
# against Postfix mx1, mx2 and the Exchange persona; no probe lost, file descriptors and threads unchanged.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Needs no Ansible: the engine is imported from the collection tree.
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

# The interpreter that runs ansible-playbook under ansible-test (its shebang is `env python`).
python=$(command -v python || command -v python3)

started_lab=no
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-hardening-load.XXXXXX")
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

# The directory holding ansible_collections/mailops/mailflow, for the engine imported as plain Python.
case "$collection_root" in
    */ansible_collections/mailops/mailflow) collections=${collection_root%/ansible_collections/mailops/mailflow} ;;
    *)
        collections=$scratch/collections
        mkdir -p "$collections/ansible_collections/mailops"
        ln -s "$collection_root" "$collections/ansible_collections/mailops/mailflow"
        ;;
esac

SECONDS=0
"$python" "$target_dir/files/load.py" --collections "$collections" --probes 500 --failing-probes 150 --in-flight 100 \
    --report "${MAILFLOW_HARDENING_REPORT_DIR:-$scratch}/load.json"
echo "hardening_load: ${SECONDS}s"
