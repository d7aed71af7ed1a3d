#!/usr/bin/env bash
# Hardening, load: 500 concurrent probes from one process (the engine in a thread pool, at most 100 in flight)
# against Postfix mx1, mx2 and the Exchange persona; no probe lost, file descriptors and threads unchanged.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Needs no Ansible: the engine is imported from the collection tree.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The interpreter that runs ansible-playbook under ansible-test (its shebang is `env python`).
python=$(command -v python || command -v python3)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-hardening-load.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$scratch"

# The directory holding ansible_collections/mailops/mailflow, for the engine imported as plain Python.
collections=$(mailflow_collections_path "$scratch/collections")

SECONDS=0
"$python" "$target_dir/files/load.py" --collections "$collections" --probes 500 --failing-probes 150 --in-flight 100 \
    --report "${MAILFLOW_HARDENING_REPORT_DIR:-$scratch}/load.json"
echo "hardening_load: ${SECONDS}s"
