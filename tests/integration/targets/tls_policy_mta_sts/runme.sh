#!/usr/bin/env bash
# tls_policy's MTA-STS and TLS-RPT checks against the real lab: the cases of the policy.test zone, the lab's HTTPS
# policy server and the Postfix and Exim exchangers. Starts the lab when it is not up, and stops it at exit only then.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
if [ -z "${MAILFLOW_LAB_MTA_STS_ADDR:-}" ]; then
    echo "runme.sh: labctl env has no MAILFLOW_LAB_MTA_STS_* variables: this lab/real/labctl has no policy server" >&2
    exit 1
fi

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" \
    -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" -e "lab_policy_zone=$MAILFLOW_LAB_POLICY_ZONE" \
    -e "lab_mta_sts_addr=$MAILFLOW_LAB_MTA_STS_ADDR" -e "lab_exim_hostname=$MAILFLOW_LAB_EXIM_HOSTNAME" "$@"
