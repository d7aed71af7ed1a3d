#!/usr/bin/env bash
# Hardening, no unintended mail: with send_message false, and in check mode with send_message true, neither Postfix
# mx1 nor the fault server sees DATA (their logs and the Maildir are counted); a control sends exactly one message.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

SECONDS=0
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" "$@"
echo "hardening_no_mail: ${SECONDS}s"
