# shellcheck shell=bash
# Shared helpers for the build/test scripts in tools/. Source it; do not run it.
# Everything is relative to the repository root, which is the collection root.

MF_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MF_BUILD="${MF_BUILD:-$MF_ROOT/build}" # a separate build/ per concurrent run
MF_COLLECTION="$MF_BUILD/ansible_collections/mailops/mailflow"
MF_PYBIN="$MF_BUILD/pybin"
MF_VENV="${MF_VENV:-$MF_ROOT/.venv}"
MF_VENV_CORE219="${MF_VENV_CORE219:-$MF_ROOT/.venv-core219}"
MF_REQ_CORE221="$MF_ROOT/tests/requirements-core221.txt"
MF_REQ_CORE219="$MF_ROOT/tests/requirements-core219.txt"
MF_EXIT_SKIP=77 # a stage that cannot run for this user or machine (the automake convention)

# Re-runs the calling script under tools/reaper.py (once per process tree), so daemons that the
# labs detach are reaped when they exit and any left running are named. Call: mf_under_reaper "$0" "$@"
mf_under_reaper() {
    if [ -z "${MF_REAPED:-}" ] && command -v python3 >/dev/null 2>&1; then
        export MF_REAPED=1
        exec python3 "$MF_ROOT/tools/reaper.py" "$@"
    fi
}

mf_say() { printf '[mailflow] %s\n' "$*" >&2; }
mf_die() { printf '[mailflow] ERROR: %s\n' "$*" >&2; exit 1; }
mf_is_root() { [ "$(id -u)" -eq 0 ]; }

# Prints "major.minor" of an interpreter, or fails if it does not run (pyenv shims refuse
# when no version is selected, so a name on PATH is not proof of a working Python).
mf_python_version() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

# pyenv's root even when pyenv is not on PATH (a CI shell may not have run its init)
mf_pyenv_root() {
    if command -v pyenv >/dev/null 2>&1; then
        pyenv root 2>/dev/null
    elif [ -d "${PYENV_ROOT:-$HOME/.pyenv}/versions" ]; then
        printf '%s\n' "${PYENV_ROOT:-$HOME/.pyenv}"
    else
        return 1
    fi
}

# Newest pyenv install of one minor version, as a full path (bypasses the shims).
mf_pyenv_python() {
    local minor="$1" root candidate found=""
    root="$(mf_pyenv_root)" || return 1
    [ -n "$root" ] || return 1
    for candidate in $(printf '%s\n' "$root"/versions/"$minor".*/bin/python"$minor" | sort -V); do
        [ -x "$candidate" ] && [ "$(mf_python_version "$candidate")" = "$minor" ] && found="$candidate"
    done
    [ -n "$found" ] && printf '%s\n' "$found"
}

# First working interpreter of a minor version: PATH first, then pyenv.
mf_find_python() {
    local minor="$1" candidate
    if candidate="$(command -v "python$minor" 2>/dev/null)" && [ "$(mf_python_version "$candidate")" = "$minor" ]; then
        printf '%s\n' "$candidate"
        return 0
    fi
    mf_pyenv_python "$minor"
}

# Sets MF_PYTHON (interpreter for .venv) and MF_REQ (its requirements file).
# ansible-core 2.21 needs Python >= 3.12; 2.19 is the newest core that runs on 3.11.
mf_pick_controller_python() {
    local minor
    if [ -n "${MF_PYTHON:-}" ]; then
        minor="$(mf_python_version "$MF_PYTHON")" || mf_die "MF_PYTHON=$MF_PYTHON does not run"
    else
        for minor in 3.12 3.13 3.14; do
            MF_PYTHON="$(mf_find_python "$minor")" && break
            MF_PYTHON=""
        done
        if [ -z "$MF_PYTHON" ]; then
            MF_PYTHON="$(command -v python3 || true)"
            [ -n "$MF_PYTHON" ] || mf_die "no python3 found; install python3 and python3-venv"
            minor="$(mf_python_version "$MF_PYTHON")" || mf_die "$MF_PYTHON does not run"
            if [ -z "${MF_PICK_NOTED:-}" ]; then
                mf_say "no Python 3.12+ found (looked for python3.12/3.13/3.14 on PATH and in pyenv);"
                mf_say "falling back to $MF_PYTHON ($minor) with ansible-core 2.19"
            fi
        fi
    fi
    case "$minor" in
        3.1[2-9]) MF_REQ="$MF_REQ_CORE221" ;;
        3.11) MF_REQ="$MF_REQ_CORE219" ;;
        *) mf_die "Python $minor at $MF_PYTHON is too old for ansible-core 2.19 (needs 3.11+)" ;;
    esac
}

# Interpreter for the older-core leg: Debian's python3 (3.11) or pyenv 3.11.
mf_pick_core219_python() {
    local candidate
    for candidate in /usr/bin/python3.11 "$(command -v python3.11 2>/dev/null)" "$(mf_pyenv_python 3.11)"; do
        if [ -n "$candidate" ] && [ "$(mf_python_version "$candidate")" = "3.11" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

mf_stamp_of() {
    local python="$1" requirements="$2"
    printf '%s %s %s\n' "$(readlink -f "$python")" "$("$python" -c 'import sys; print(sys.version.split()[0])')" \
        "$(sha256sum "$requirements" | cut -d' ' -f1)"
}

# Creates or refreshes a venv. Reused as is when its interpreter and requirements are unchanged;
# re-synced in place when only the requirements changed (others may be using it); rebuilt otherwise.
mf_ensure_venv() {
    local venv="$1" python="$2" requirements="$3" stamp_file want have=""
    stamp_file="$venv/.mailflow-stamp"
    want="$(mf_stamp_of "$python" "$requirements")"
    [ -f "$stamp_file" ] && have="$(cat "$stamp_file")"
    if [ "$have" = "$want" ] && [ -x "$venv/bin/python" ]; then
        return 0
    fi
    if [ ! -x "$venv/bin/python" ] || [ "$(readlink -f "$venv/bin/python")" != "$(readlink -f "$python")" ]; then
        mf_say "creating $venv with $python"
        rm -rf "$venv"
        "$python" -m venv "$venv" || mf_die "'$python -m venv' failed (on Debian: apt-get install python3-venv)"
    else
        mf_say "updating $venv (requirements changed)"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip ||
        mf_die "pip upgrade in $venv failed"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" ||
        mf_die "pip install -r $requirements failed"
    printf '%s\n' "$want" >"$stamp_file"
}

# Sets MF_VENV_PYTHON_MINOR, the venv's "major.minor", for ansible-test --python.
# shellcheck disable=SC2034
mf_ensure_controller_venv() {
    mf_pick_controller_python
    mf_ensure_venv "$MF_VENV" "$MF_PYTHON" "$MF_REQ"
    MF_VENV_PYTHON_MINOR="$("$MF_VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
}

# Lays out a fresh copy of the working tree (tracked plus untracked-not-ignored files) as
# build/ansible_collections/mailops/mailflow, the path ansible-test requires.
mf_layout() {
    rm -rf "$MF_BUILD/ansible_collections"
    mkdir -p "$MF_COLLECTION"
    if git -C "$MF_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (
            cd "$MF_ROOT" &&
                git ls-files -z -co --exclude-standard |
                while IFS= read -r -d '' path; do
                    # a tracked file deleted in the work tree is listed but cannot be copied
                    if [ -e "$path" ] || [ -L "$path" ]; then
                        printf '%s\0' "$path"
                    fi
                done |
                tar --null -T - -cf -
        ) | tar -xf - -C "$MF_COLLECTION"
    else
        (cd "$MF_ROOT" && tar --exclude=./.git --exclude='./.venv*' --exclude=./build \
            --exclude=./tests/output --exclude='__pycache__' -cf - .) | tar -xf - -C "$MF_COLLECTION"
    fi
    # never ship or lint the dev environments, even if someone un-ignored them
    rm -rf "$MF_COLLECTION"/.venv* "$MF_COLLECTION/build" "$MF_COLLECTION/tests/output"
    # ansible-test looks for .git upwards and would find the repo's, where build/ is ignored and
    # so holds no files; a repo of its own (nothing committed) makes it list the copy's files.
    git -C "$MF_COLLECTION" init -q
}

# build/pybin holds python3.X links to every interpreter found, so ansible-test can test each
# target version; pyenv's bare shims would refuse, so they must not come first on PATH.
mf_make_pybin() {
    local minor python
    rm -rf "$MF_PYBIN"
    mkdir -p "$MF_PYBIN"
    MF_PYTHONS_FOUND=""
    for minor in 3.8 3.9 3.10 3.11 3.12 3.13 3.14; do
        if python="$(mf_find_python "$minor")"; then
            ln -s "$(readlink -f "$python")" "$MF_PYBIN/python$minor"
            MF_PYTHONS_FOUND="$MF_PYTHONS_FOUND $minor"
        fi
    done
    MF_PYTHONS_FOUND="${MF_PYTHONS_FOUND# }"
}

# ansible-test --venv bootstraps pip with a get-pip script downloaded from a host this machine
# cannot reach; it first looks in its cache, so the stand-in goes there under every pip
# version this ansible-test may ask for.
mf_install_get_pip_standin() {
    local venv="$1" versions version cache="$HOME/.ansible/test/cache"
    versions="$("$venv/bin/python" - <<'EOF'
import inspect
import re
from ansible_test._internal import python_requirements
source = inspect.getsource(python_requirements.get_venv_packages)
print(" ".join(sorted(set(re.findall(r"pip='([0-9.]+)'", source)))))
EOF
)" || mf_die "could not read the pip version ansible-test expects"
    [ -n "$versions" ] || mf_die "no pip version found in ansible-test's get_venv_packages"
    mkdir -p "$cache"
    for version in $versions; do
        cp "$MF_ROOT/tools/get_pip_standin.py" "$cache/get_pip_${version//./_}.py"
    done
}

# Runs a command, records "<stage> PASS|FAIL|SKIP <seconds>s" in $MF_SUMMARY.
mf_stage() {
    local name="$1" start rc
    shift
    start="$(date +%s)"
    mf_say "=== stage $name: $*"
    # a subshell, so a stage that exits (mf_die) ends only itself; errexit on inside it
    set +e
    (
        set -e
        "$@"
    )
    rc=$?
    set -e
    local elapsed=$(( $(date +%s) - start ))
    if [ "$rc" -eq 0 ]; then
        printf '%-14s PASS %4ss\n' "$name" "$elapsed" >>"$MF_SUMMARY"
    elif [ "$rc" -eq "$MF_EXIT_SKIP" ]; then
        # the stage decided it cannot run here and has said why
        printf '%-14s SKIP %4ss\n' "$name" "$elapsed" >>"$MF_SUMMARY"
    else
        printf '%-14s FAIL %4ss (exit %s)\n' "$name" "$elapsed" "$rc" >>"$MF_SUMMARY"
    fi
    mf_say "=== stage $name done in ${elapsed}s (exit $rc)"
    return 0
}
