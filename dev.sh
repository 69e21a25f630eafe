#!/usr/bin/env bash
# fluidframes developer entry point.
#   ./dev.sh demo    create .venv (CPU PyTorch), fetch the default weights, run the demo
#   ./dev.sh test    create .venv, install test tools, run the whole test suite
#   ./dev.sh test-fast   the same set-up, then only the fast subset (docs/TESTING.md)
#   ./dev.sh setup   only create/update .venv
# GPU users: FLUIDFRAMES_TORCH_SPEC overrides the torch requirement and FLUIDFRAMES_TORCH_ARGS adds
# pip options for it, e.g. a CUDA build from PyTorch's own package index (see README).
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${FLUIDFRAMES_TORCH_SPEC:-torch==2.13.0}
# The development subset (docs/TESTING.md): no real weights, Ray, browser or slow tests.
FAST_TESTS="not slow and not integration and not distributed and not e2e"

setup() {
    # $1: the extras to install (the demo needs no test tools and no Ray)
    local extras=${1:-server}
    if [ ! -x .venv/bin/python ]; then
        "$PYTHON" -m venv .venv
    fi
    # torch first and pinned, so nothing later pulls a multi-GB CUDA build on a CPU machine.
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install -q --disable-pip-version-check "$TORCH_SPEC" ${FLUIDFRAMES_TORCH_ARGS:-}
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
}

test_tools() {
    # The test suite checks outputs with an independent tool (ffprobe; the product never uses
    # it) and drives the web app in a real headless Chromium (Debian's package; browser
    # downloads by test tools are never used). $1 = "no-browser": the fast subset has no e2e.
    local missing=()
    command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
    [ "${1:-}" = no-browser ] || [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ "${1:-}" = no-browser ] || command -v npm >/dev/null 2>&1 || missing+=(npm)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        echo "dev.sh: the tests need: ${missing[*]} (install with your package manager)" >&2
        exit 2
    fi
}

case "${1:-demo}" in
    setup) setup "server,test,distributed" ;;
    demo)
        setup
        shift || true
        .venv/bin/fluidframes demo "$@"
        ;;
    test)
        setup "server,test,distributed"
        test_tools
        shift || true
        .venv/bin/python -m pytest -q "$@"
        ;;
    test-fast)
        setup "server,test,distributed"
        test_tools no-browser
        shift || true
        .venv/bin/python -m pytest -q -m "$FAST_TESTS" "$@"
        ;;
    *)
        echo "usage: ./dev.sh [demo|test|test-fast|setup]" >&2
        exit 2
        ;;
esac
