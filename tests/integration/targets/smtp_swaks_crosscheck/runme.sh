#!/usr/bin/env bash
# swaks and smtp_probe against the same real lab Postfix (mx1), then compare_replies.py checks that every step got
# the same reply in both. Starts the lab when it is not up, and stops it at exit only in that case. Run it through
# ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set so that mailops.mailflow resolves.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

swaks_path=${MAILFLOW_SWAKS:-$(command -v swaks || true)}
if [ -z "$swaks_path" ]; then
    echo "runme.sh: swaks is not installed (apt-get install swaks, or set MAILFLOW_SWAKS)" >&2
    exit 1
fi

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-swaks-crosscheck.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$work_dir"

ansible-playbook "$target_dir/runme.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" -e "swaks_path=$swaks_path" -e "results_file=$work_dir/results.json" "$@"

# ansible-test names its controller interpreter; outside it, any python3 will do (the script needs only the stdlib).
"${ANSIBLE_TEST_PYTHON_INTERPRETER:-python3}" "$target_dir/compare_replies.py" "$work_dir/results.json"
