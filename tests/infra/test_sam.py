"""The template is valid (cfn-lint included) and builds, as `sam deploy` would need."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _sam(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    sam = shutil.which("sam", path=env["PATH"])
    assert sam, "aws-sam-cli is not installed in the virtualenv"
    return subprocess.run([sam, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_sam_validate_lint_passes():
    result = _sam("validate", "--lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_build_builds_every_function_and_the_layer(tmp_path):
    build_dir = tmp_path / "build"
    result = _sam("build", "--build-dir", str(build_dir), "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stdout + result.stderr
    for function in ("GrantFunction", "ListFunction", "VoidFunction", "ApplyFunction", "ExpiryFunction",
                     "PublisherFunction", "AuthorizerFunction"):
        assert (build_dir / function / "app.py").is_file(), function
    layer = build_dir / "CreditsLayer" / "python"
    assert (layer / "credits" / "services" / "grants.py").is_file()
    assert not (build_dir / "ListFunction" / "tools").exists()  # build-time generators ship in no Lambda
    assert (layer / "pydantic").is_dir() and (layer / "aws_lambda_powertools").is_dir()
