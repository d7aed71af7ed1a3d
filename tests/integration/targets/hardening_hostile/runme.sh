#!/usr/bin/env bash
# Hardening, hostile servers: every hostile behaviour of the fault server through smtp_probe in a play, then
# the module as a child process per behaviour, to bound its peak memory and wall time.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# The interpreter that runs ansible-playbook (its shebang is `env python`), so the module finds ansible.
python=$(command -v python || command -v python3)

scratch=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-hardening-hostile.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$scratch"

# The directory holding ansible_collections/mailops/mailflow, for the module run as a plain process.
collections=$(mailflow_collections_path "$scratch/collections")

SECONDS=0
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" "$@"
echo "hardening_hostile: playbook ${SECONDS}s"

SECONDS=0
"$python" "$target_dir/files/module_process.py" --cases "$target_dir/vars/cases.yml" \
    --fault-map "$MAILFLOW_LAB_FAULT_MAP" --collections "$collections" \
    --report "${MAILFLOW_HARDENING_REPORT_DIR:-$scratch}/hostile-process.json"
echo "hardening_hostile: module processes ${SECONDS}s"
