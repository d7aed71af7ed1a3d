#!/usr/bin/env bash
# The inbound and outbound roles against the real lab. Starts the lab when it is not up, and stops it at exit
# only in that case. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that
# mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" "$@"
