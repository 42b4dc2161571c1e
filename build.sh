#!/usr/bin/env bash
# lambda-sidecar build entry point. Every subcommand sets up .venv first (idempotent), so a
# fresh clone needs nothing installed by hand beyond a Python >= 3.11 on PATH.
#
#   ./build.sh test            lint (ruff), types (mypy --strict), build the layer, run the whole suite
#   ./build.sh demo            build the layer and run the demo (emulator + moto + OTLP receiver)
#   ./build.sh layer [args]    build build/layer/ and build/lambda-sidecar-python<X.Y>-<arch>.zip
#                              (--python X.Y, --arch x86_64|arm64, --all)
#   ./build.sh bench [--quick] run the benchmarks (writes docs/benchmarks.md)
#   ./build.sh emulator ARGS   python -m emulator ARGS
#   ./build.sh lint            ruff + mypy only
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "build.sh: need Python >= 3.11 on PATH" >&2
    return 1
}

setup() {
    if [ ! -x "$PY" ]; then
        local base
        base=$(find_python)
        # Prefer the plain python3 on PATH when it qualifies: the layer is built for the venv's version.
        if command -v python3 >/dev/null 2>&1 &&
            python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            base=$(command -v python3)
        fi
        echo "build.sh: creating .venv with $base" >&2
        "$base" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        echo "build.sh: installing the project and its dev extras into .venv" >&2
        "$PY" -m pip install -q --upgrade pip >&2
        "$PY" -m pip install -q -e '.[dev]' >&2
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
}

lint() {
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/mypy"
}

layer() {
    "$PY" layer/build_layer.py "$@"
}

cmd=${1:-test}
shift || true
case "$cmd" in
    setup) setup ;;
    lint) setup; lint ;;
    layer) setup; layer "$@" ;;
    test)
        setup
        lint
        layer
        # pytest exits 5 when nothing ran; that must fail the build, as any other non-zero.
        SIDECAR_LAYER_BUILT=1 "$PY" -m pytest -q -p no:cacheprovider "$@"
        ;;
    demo) setup; layer; "$PY" -m emulator.demo "$@" ;;
    bench) setup; layer; "$PY" -m bench.run_all "$@" ;;
    emulator) setup; "$PY" -m emulator "$@" ;;
    *)
        echo "usage: ./build.sh {test|demo|layer|bench|lint|emulator|setup} [args]" >&2
        exit 2
        ;;
esac
