#!/usr/bin/env bash
# egress_identity against the lab's zone sender.test (lab/real/senderlab.py). Starts the lab when it is not up
# (and stops it at exit only in that case); `labctl start` of the smuggling Postfix pair also makes named load the
# sender.test zones when an older lab runs without them. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_labctl start postfix-smuggle_open postfix-smuggle_strict

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "run_id=$(date +%s)-$$" "$@"
