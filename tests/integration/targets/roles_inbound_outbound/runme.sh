#!/usr/bin/env bash
# The inbound and outbound roles against the real lab. Starts the lab when it is not up, and stops it at exit
# only in that case. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that
# mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
# The smuggling pair (and with it the sender.test zones) for the inbound role's opt-in checks.
mailflow_labctl start postfix-smuggle_open postfix-smuggle_strict

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "lab_resolver_addr=$MAILFLOW_LAB_RESOLVER_ADDR" \
    -e "lab_resolver_port=$MAILFLOW_LAB_RESOLVER_PORT" "$@"
