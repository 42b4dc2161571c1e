"""Entry script of the layer (run by extensions/lambda-sidecar as `python -E -S -B <this file>`).

It lives in the layer's private folder, so running it by path makes that folder sys.path[0]; it
then runs the `extension` package exactly like `python -m extension`. Before that it compares
the interpreter with the Python the layer was built for (BUILD-INFO, written by the build):

- same version: nothing to say;
- another 3.11+ version: one line on stderr, then start anyway -- the compiled dependencies fall
  back to their pure-Python code and modules compile at start-up (slower, but working);
- older than 3.11: our code cannot run there, and an extension that exits during init fails the
  function (Extension.Crash), so we say so once and stay registered but idle (sidecar_idle).

This file must stay valid on old Pythons (3.7+) and import nothing heavy: it runs on every cold
start, compiled from source each time (scripts are never cached).
"""

from __future__ import annotations

import os
import sys

NAME = "lambda-sidecar"
MIN_PYTHON = (3, 11)
BUILD_INFO = "BUILD-INFO"


def read_build_info(folder: str) -> dict[str, str]:
    """`key=value` lines written by layer/build_layer.py; empty if missing or unreadable."""
    info: dict[str, str] = {}
    try:
        with open(os.path.join(folder, BUILD_INFO), encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep:
                    info[key] = value
    except OSError:
        pass
    return info


def say(message: str) -> None:
    sys.stderr.write(f"[{NAME}] {message}\n")
    sys.stderr.flush()


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    built = read_build_info(here).get("python", "")
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if sys.version_info[:2] < MIN_PYTHON:
        say(
            f"WARNING disabled: Python {running} is too old (needs 3.11+); staying idle so the "
            "function is unaffected (use a Python 3.11+ runtime or set SIDECAR_PYTHON)"
        )
        import sidecar_idle

        sys.exit(sidecar_idle.main(NAME))
    if built and built != running:
        say(
            f"WARNING layer built for Python {built} but running on Python {running}: starting anyway "
            f"with pure-Python fallbacks and slower start-up; attach the python{running} layer instead"
        )
    # The entry point called directly, not through `runpy.run_module`: importing runpy (and the
    # pkgutil it pulls in) costs ~7 ms of CPU before /register, where every ms delays the runtime.
    from extension.__main__ import _exit_now
    from extension.__main__ import main as extension_main

    _exit_now(extension_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
