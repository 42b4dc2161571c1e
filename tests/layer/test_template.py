"""template.yaml passes cfn-lint offline and stays in step with the build and the samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import build_layer
import pytest
from cfnlint.decode import decode

from tests.layer.conftest import ROOT

TEMPLATE = ROOT / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data, problems = decode(str(TEMPLATE))
    assert not problems and data is not None
    return dict(data)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"  # the venv's console script
    out = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_one_layer_per_architecture_with_the_build_zip_names(template: dict[str, Any]) -> None:
    layers = resources_of(template, "AWS::Serverless::LayerVersion")
    runtime = template["Globals"]["Function"]["Runtime"]
    python = runtime.removeprefix("python")
    by_arch = {props["CompatibleArchitectures"][0]: props for props in layers.values()}
    assert sorted(by_arch) == ["arm64", "x86_64"]
    for arch, props in by_arch.items():
        assert props["ContentUri"] == f"build/{build_layer.Target(python, arch).zip_name}"
        assert props["CompatibleRuntimes"] == [runtime]  # Python only: the launcher runs python3
        assert props["LicenseInfo"] == "Apache-2.0"


def test_every_sample_is_deployed_with_the_layer(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Serverless::Function")
    code_uris = {Path(p["CodeUri"]).name for p in functions.values()}
    samples = {p.name for p in (ROOT / "sample_functions").iterdir() if (p / "app.py").is_file()}
    assert code_uris == samples
    assert all((ROOT / p["CodeUri"] / "app.py").is_file() for p in functions.values())
    assert "Layers" in template["Globals"]["Function"]


def test_secret_permissions_name_specific_resources(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Serverless::Function")
    for name, props in functions.items():
        for policy in props.get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                assert statement["Resource"] != "*", name
                assert "*" not in str(statement["Action"]), name


def test_otlp_headers_reference_is_escaped_for_sub(template: dict[str, Any]) -> None:
    headers = template["Globals"]["Function"]["Environment"]["Variables"]["OTEL_EXPORTER_OTLP_HEADERS"]
    sub = headers["Fn::If"][1]["Fn::Sub"]
    assert sub == "x-api-key=${!secretsmanager:${OtlpHeadersSecretName}}"
