#!/usr/bin/env bash
# mx_probe against the real lab's Exim, found through the lab's DNS (exim.test, slow.exim.test), next to Postfix.
# Starts the lab when it is not up, and stops it at exit only in that case. The playbook reads Exim's queue through
# $MAILFLOW_LAB_EXIM_COMMAND. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that
# mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
if [ -z "${MAILFLOW_LAB_EXIM_COMMAND:-}" ]; then
    echo "runme.sh: labctl env has no MAILFLOW_LAB_EXIM_* variables: this lab/real/labctl has no Exim" >&2
    exit 1
fi

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "lab_exim_command=$MAILFLOW_LAB_EXIM_COMMAND" \
    -e "lab_exim_addr=$MAILFLOW_LAB_EXIM_ADDR" -e "lab_exim_hostname=$MAILFLOW_LAB_EXIM_HOSTNAME" \
    -e "lab_exim_domain=$MAILFLOW_LAB_EXIM_DOMAIN" -e "lab_exim_tarpit_addr=$MAILFLOW_LAB_EXIM_TARPIT_ADDR" \
    -e "lab_exim_tarpit_hostname=$MAILFLOW_LAB_EXIM_TARPIT_HOSTNAME" \
    -e "lab_exim_tarpit_domain=$MAILFLOW_LAB_EXIM_TARPIT_DOMAIN" \
    -e "lab_exim_tarpit_delay=$MAILFLOW_LAB_EXIM_TARPIT_DELAY" -e "run_id=$(date +%s)-$$" "$@"
