"""The pipeline modules the app imports one at a time (with the loop turning in between) exist:
a wrong name would send the extension to its idle fallback on every cold start."""

from __future__ import annotations

import importlib

from extension import app


def test_every_staged_pipeline_module_imports() -> None:
    for module in app._PIPELINE_MODULES:
        importlib.import_module(module)
