#!/usr/bin/env bash
# Hardening, bad input: CR/LF/NUL in every option that reaches the wire, and invalid values, are refused with a
# one-line message naming the option, before any connection (the fault server's log is counted).
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

SECONDS=0
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" "$@"
echo "hardening_input: ${SECONDS}s"
