#!/usr/bin/env bash
# The Windows dispatch path (issue 14) against the real lab: the same tasks on a Linux host and on a "Windows" host
# (test-only connection, connection_plugins/), compared. Starts the lab when it is not up, and stops it at exit only
# in that case. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

# Its own inventory: the Windows stand-in host is the point of this target.
ansible-playbook "$target_dir/lookup.yml" -i "$target_dir/inventory" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" "$@"
ansible-playbook "$target_dir/input.yml" -i "$target_dir/inventory" "$@"
