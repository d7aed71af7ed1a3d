#!/usr/bin/env bash
# Every EXAMPLES block of every module, lookup and filter plugin runs against the real lab, so that an example can
# never be broken again. build_examples.py reads them with ansible-doc, points them at the lab as substitutions.yml
# documents, and writes one play per plugin; check_results.py proves from the junit report that each example task
# ran and passed, and prints "N examples of M plugins ran". Starts the lab when it is not up, and stops it at exit
# only in that case. Run it through ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$(command -v python || command -v python3)

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-plugin-examples.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
mailflow_remove_at_exit "$work_dir"

export WORK_DIR="$work_dir"
PYTHONPATH="$target_dir/../setup_examples${PYTHONPATH:+:$PYTHONPATH}" \
    "$python" "$target_dir/build_examples.py" --config "$target_dir/substitutions.yml" \
    --playbook "$work_dir/examples.yml" --manifest "$work_dir/manifest.json"

# The lab CA stands for the host's trust store (substitutions.yml, section 4).
set +e
SSL_CERT_FILE="$MAILFLOW_LAB_CA_FILE" ANSIBLE_CALLBACKS_ENABLED=ansible.builtin.junit JUNIT_OUTPUT_DIR="$work_dir/junit" JUNIT_HIDE_TASK_ARGUMENTS=true \
    ansible-playbook "$work_dir/examples.yml" -i "${INVENTORY_PATH:-$target_dir/inventory}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_sasl_password_file=$MAILFLOW_LAB_SASL_PASSWORD_FILE" \
    -e "work_dir=$work_dir" "$@"
playbook_rc=$?
set -e

"$python" "$target_dir/check_results.py" --manifest "$work_dir/manifest.json" --junit-dir "$work_dir/junit"
if [ "$playbook_rc" -ne 0 ]; then
    echo "runme.sh: ansible-playbook failed (exit $playbook_rc)" >&2
    exit "$playbook_rc"
fi
