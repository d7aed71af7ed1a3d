#!/usr/bin/env bash
# Every fenced example of README.md, roles/*/README.md and docs/*.md runs, so that a documented example can never be
# broken again: inventories, playbooks and shell commands, pointed at the real lab (and the embedded lab, the Windows
# replay host) as substitutions.yml documents. run_doc_examples.py prints one line per example and "N examples from
# M documents ran". Starts the real lab when it is not up, and stops it at exit only in that case. Run it through
# ansible-test, or directly with ANSIBLE_COLLECTIONS_PATH set.
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$(command -v python || command -v python3)

work_dir=$(mktemp -d "${TMPDIR:-/tmp}/mailflow-docs-examples.XXXXXX")
source "$target_dir/../setup_real_lab/lab.sh"
mailflow_lab_up
# shellcheck disable=SC2154 # set by mailflow_lab_up (setup_real_lab/lab.sh)
repo=$mailflow_repo
# MAILFLOW_KEEP_WORK_DIR=1 keeps the scratch directory (every example's log) for a look after a failure.
[ -n "${MAILFLOW_KEEP_WORK_DIR:-}" ] || mailflow_remove_at_exit "$work_dir"
# The README's embedded lab, when an example failed before its `make demo-lab-stop`.
mailflow_at_exit "[ ! -f '$work_dir/mf-build/embedded-lab/env' ] || MAILFLOW_EMBEDDED_STATE='$work_dir/mf-build/embedded-lab' '$python' '$repo/lab/embedded/labctl.py' stop >/dev/null 2>&1"

# The README's commands use the checkout's venv (. .venv/bin/activate, make): the one this Python belongs to.
MAILFLOW_VENV=$("$python" -c 'import sys; print(sys.prefix)')
if [ ! -f "$MAILFLOW_VENV/bin/activate" ]; then
    echo "runme.sh: $python is not in a venv (no $MAILFLOW_VENV/bin/activate); run it with the checkout's .venv" >&2
    exit 1
fi
export MAILFLOW_VENV WORK_DIR="$work_dir" MAILFLOW_DEMO_BUILD="$work_dir/mf-build"
export MAILFLOW_REPLAY_DIR="$target_dir/../windows_dispatch" MAILFLOW_WINDOWS_ENGINE="$repo/tests/windows/run-engine"
mkdir -p "$work_dir/home" "$MAILFLOW_DEMO_BUILD"

# The tarball the README installs, built from this tree as `make build` does, and what `make demo` leaves in
# build/demo for the README's examples after it (tools/demo: the tarball installed, localhost with the venv's Python).
ansible-galaxy collection build --output-path "$work_dir" "$repo" >/dev/null
ANSIBLE_COLLECTIONS_PATH="$MAILFLOW_DEMO_BUILD/demo/collections" ansible-galaxy collection install --force \
    -p "$MAILFLOW_DEMO_BUILD/demo/collections" "$work_dir"/mailops-mailflow-*.tar.gz >/dev/null
echo "localhost ansible_connection=local ansible_python_interpreter=$MAILFLOW_VENV/bin/python" >"$MAILFLOW_DEMO_BUILD/demo/inventory.ini"

PYTHONPATH="$target_dir/../setup_examples${PYTHONPATH:+:$PYTHONPATH}" \
    "$python" "$target_dir/run_doc_examples.py" --root "$repo" \
    --config "$target_dir/substitutions.yml" --work-dir "$work_dir" \
    ${MAILFLOW_DOC_EXAMPLES_ONLY:+--only "$MAILFLOW_DOC_EXAMPLES_ONLY"}
