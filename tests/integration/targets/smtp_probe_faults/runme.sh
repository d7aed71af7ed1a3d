#!/usr/bin/env bash
# smtp_probe against the real lab's fault server (faultd) and a refused address. Starts the lab when it is not up,
# and stops it at exit only in that case. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set
# so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_fault_map=$MAILFLOW_LAB_FAULT_MAP" \
    -e "lab_refused_addr=$MAILFLOW_LAB_REFUSED_ADDR" "$@"
