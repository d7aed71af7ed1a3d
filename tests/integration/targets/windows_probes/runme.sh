#!/usr/bin/env bash
# The outbound role on a Linux host and on a Windows stand-in host, against the real lab; the report rows must be
# the same. Starts the lab when it is not up, and stops it at exit only in that case. Run it through ansible-test,
# or directly with ANSIBLE_COLLECTIONS_PATH set.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
replay_dir="$target_dir/../windows_dispatch"

source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up

# The collection root holds tests/windows/run-engine (ansible-test runs a copy of the target deeper in the tree).
root="$target_dir"
while [ ! -x "$root/tests/windows/run-engine" ] && [ "$root" != / ]; do
    root=$(dirname "$root")
done
if [ ! -x "$root/tests/windows/run-engine" ]; then
    echo "windows_probes: tests/windows/run-engine not found above $target_dir" >&2
    exit 1
fi

export ANSIBLE_CONNECTION_PLUGINS="$replay_dir/connection_plugins"
ansible-playbook "$target_dir/runme.yml" -i "$replay_dir/inventory" \
    -e "{\"mailflow_replay_fixture\": \"$replay_dir/files/resolve_dnsname.json\",
         \"mailflow_replay_smtp_engine\": [\"$root/tests/windows/run-engine\"]}" \
    -e "lab_dns_server=$MAILFLOW_LAB_DNS_SERVER" -e "lab_dns_port=$MAILFLOW_LAB_DNS_PORT" \
    -e "lab_ca_file=$MAILFLOW_LAB_CA_FILE" "$@"
ansible-playbook "$target_dir/probes.yml" -i "$replay_dir/inventory" \
    -e "{\"mailflow_replay_fixture\": \"$replay_dir/files/resolve_dnsname.json\",
         \"mailflow_replay_smtp_engine\": [\"$root/tests/windows/run-engine\"]}" "$@"
