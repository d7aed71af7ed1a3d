#!/usr/bin/env bash
# Hardening, no unintended mail: with send_message false, and in check mode with send_message true, neither Postfix
# mx1 nor the fault server sees DATA (their logs and the Maildir are counted); a control sends exactly one message.
# Starts the real lab when it is not up, and stops it at exit only in that case.
# Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

find_labctl() {
    # ansible-test runs a copy of the target under tests/output/.tmp inside the collection: walk up to the lab.
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
set -a
eval "$("$labctl" env)"
set +a

SECONDS=0
ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" "$@"
echo "hardening_no_mail: ${SECONDS}s"
