#!/usr/bin/env bash
# The C# engine under Mono against the real lab: every Postfix, Exim and faultd scenario through both engines, the
# results compared field by field (tests/windows/test_engine_lab.py). Starts the lab when it is not up and stops it at
# exit only in that case. By hand: PATH="$PWD/.venv/bin:$PATH" tests/integration/targets/csharp_engine/runme.sh
set -euo pipefail

target_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$target_dir/../setup_real_lab/lab.sh"

for tool in mono mcs; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "csharp_engine: $tool not found: tools/apt-deps installs mono-mcs and mono-runtime (root)" >&2
        exit 1
    fi
done
mailflow_lab_up
python=${ANSIBLE_TEST_PYTHON_INTERPRETER:-$(command -v python3)}
# shellcheck disable=SC2154 # set by mailflow_lab_up (setup_real_lab/lab.sh)
cd "$mailflow_repo"
# The compile check first: a C# 5 error should read as one, not as a failed scenario.
tests/windows/build-engine >/dev/null
"$python" -m pytest -q -p no:cacheprovider tests/windows "$@"
