#!/usr/bin/env bash
# The inbound and outbound roles against the real lab. Starts the lab when it is not up, and stops it at exit
# only in that case. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that
# mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

find_labctl() {
    # ../../../../lab/real/labctl in the repository; ansible-test runs a copy under tests/output/.tmp inside the
    # collection, so keep walking up until a lab is found.
    local dir=$target_dir
    while [ "$dir" != "/" ]; do
        if [ -x "$dir/lab/real/labctl" ]; then
            echo "$dir/lab/real/labctl"
            return 0
        fi
        dir=$(dirname "$dir")
    done
    return 1
}

labctl=${MAILFLOW_LABCTL:-}
if [ -z "$labctl" ] && ! labctl=$(find_labctl); then
    echo "runme.sh: lab/real/labctl not found above $target_dir (set MAILFLOW_LABCTL)" >&2
    exit 1
fi

started_lab=no
stop_lab() {
    if [ "$started_lab" = yes ]; then
        "$labctl" stop
    fi
}
trap stop_lab EXIT

if ! "$labctl" status >/dev/null 2>&1; then
    started_lab=yes
    "$labctl" start
fi
eval "$("$labctl" env | grep -E '^MAILFLOW_LAB_(DNS_SERVER|DNS_PORT|CA_FILE)=')"

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" "$@"
