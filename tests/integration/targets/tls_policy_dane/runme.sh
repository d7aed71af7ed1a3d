#!/usr/bin/env bash
# tls_policy's DANE check against the real lab: the signed dane.test zone through the lab's validating resolver, the
# unsigned policy.test zone, and the Postfix, Exim and fault-server exchangers. Starts the lab when it is not up,
# and stops it at exit only then.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
if [ -z "${MAILFLOW_LAB_RESOLVER_PORT:-}" ]; then
    echo "runme.sh: labctl env has no MAILFLOW_LAB_RESOLVER_* variables: this lab/real/labctl has no validating resolver" >&2
    exit 1
fi

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_resolver_addr=$MAILFLOW_LAB_RESOLVER_ADDR" -e "lab_resolver_port=$MAILFLOW_LAB_RESOLVER_PORT" \
    -e "lab_dane_zone=$MAILFLOW_LAB_DANE_ZONE" -e "lab_policy_zone=$MAILFLOW_LAB_POLICY_ZONE" "$@"
