# shellcheck shell=bash
# Sourced by the runme.sh of every target that needs the real lab (its aliases say needs/target/setup_real_lab).
#   mailflow_lab_up    find lab/real/labctl, start the lab when it is not up, and stop it at exit only in that case
#   mailflow_labctl    run lab/real/labctl with the given arguments
#   mailflow_at_exit   run a command at exit, before the lab stops (last registered runs first)
#   mailflow_remove_at_exit DIR
#                      remove a scratch directory at exit
#   mailflow_collections_path DIR
#                      print the directory holding ansible_collections/mailops/mailflow (a link made in DIR when
#                      the tree is a plain checkout), for code that imports the collection as plain Python
# ansible-test runs a copy of the target under tests/output/.tmp inside the collection, so labctl is found by walking
# up from the target; MAILFLOW_LABCTL overrides that when a target is run by hand.

mailflow_started_lab=no
mailflow_exit_hooks=()
mailflow_exit_dirs=()

mailflow_at_exit() {
    mailflow_exit_hooks=("$*" "${mailflow_exit_hooks[@]}")
}

mailflow_remove_at_exit() {
    mailflow_exit_dirs+=("$1")
}

mailflow_labctl() {
    "$labctl" "$@"
}

_mailflow_on_exit() {
    local hook
    for hook in "${mailflow_exit_hooks[@]}"; do
        eval "$hook" || true
    done
    if [ "${#mailflow_exit_dirs[@]}" -gt 0 ]; then
        rm -rf "${mailflow_exit_dirs[@]}"
    fi
    if [ "$mailflow_started_lab" = yes ]; then
        "$labctl" stop
    fi
}

_mailflow_find_labctl() {
    local dir
    dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    while [ "$dir" != "/" ]; do
        if [ -x "$dir/lab/real/labctl" ]; then
            echo "$dir/lab/real/labctl"
            return 0
        fi
        dir=$(dirname "$dir")
    done
    return 1
}

mailflow_lab_up() {
    labctl=${MAILFLOW_LABCTL:-}
    if [ -z "$labctl" ] && ! labctl=$(_mailflow_find_labctl); then
        echo "runme.sh: lab/real/labctl not found above $(pwd) (set MAILFLOW_LABCTL)" >&2
        exit 1
    fi
    mailflow_repo=$(cd "$(dirname "$labctl")/../.." && pwd)
    trap _mailflow_on_exit EXIT
    if ! "$labctl" status >/dev/null 2>&1; then
        mailflow_started_lab=yes
        "$labctl" start
    fi
    # Every MAILFLOW_LAB_* value (addresses, logs, mailboxes, the password *file*), exported for the playbooks.
    set -a
    eval "$("$labctl" env)"
    set +a
}

mailflow_collections_path() {
    case "$mailflow_repo" in
        */ansible_collections/mailops/mailflow) echo "${mailflow_repo%/ansible_collections/mailops/mailflow}" ;;
        *)
            mkdir -p "$1/ansible_collections/mailops"
            ln -sfn "$mailflow_repo" "$1/ansible_collections/mailops/mailflow"
            echo "$1"
            ;;
    esac
}
