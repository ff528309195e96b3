"""Print the service's OpenAPI document: `python -m local.openapi > docs/openapi.json`
(`make openapi`). Built from the Powertools resolvers of every function in template.yaml's
source tree by credits.openapi."""

from __future__ import annotations

import sys
from pathlib import Path

from local.lambdas import add_layers_to_path
from local.template import ROOT, load_template

DOCUMENT = ROOT / "docs" / "openapi.json"
REGENERATE = "make openapi   (or: .venv/bin/python -m local.openapi > docs/openapi.json)"


def generate() -> dict:
    add_layers_to_path(load_template())
    from credits import openapi

    return openapi.generate(Path(ROOT) / "functions")


def render() -> str:
    document = generate()
    from credits import openapi

    return openapi.to_json(document)


def main() -> None:
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
