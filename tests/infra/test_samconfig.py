"""samconfig.toml: the environments `make deploy ENV=…` uses, each a stack of its own whose
parameter overrides name template parameters."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
PARAMETERS = load_template()["Parameters"]


def test_default_deploy_parameters():
    deploy = CONFIG["default"]["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM" and deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_environment_has_its_stack_and_valid_overrides(env):
    deploy = CONFIG[env]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"credit-grants-{env}"
    assert deploy["capabilities"] == "CAPABILITY_IAM" and deploy["resolve_s3"] is True
    overrides = dict(item.split("=", 1) for item in deploy["parameter_overrides"])
    assert set(overrides) <= set(PARAMETERS), set(overrides) - set(PARAMETERS)
    for name, value in overrides.items():
        allowed = PARAMETERS[name].get("AllowedValues")
        assert allowed is None or value in [str(a) for a in allowed], (name, value)
    assert not any(re.search("secret|token|password", item, re.I) for item in deploy["parameter_overrides"])


def test_prod_reviews_change_sets_and_hides_swagger():
    prod = CONFIG["prod"]["deploy"]["parameters"]
    assert prod["confirm_changeset"] is True
    assert "EnableSwagger=false" in prod["parameter_overrides"]


def test_make_deploy_uses_the_environment():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "ENV ?= dev" in makefile and "sam deploy --config-env $(ENV)" in makefile
