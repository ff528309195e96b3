"""The README's code blocks, run as written against a started stack, so that the README stays
true. Every bash or python block is preceded by `<!-- readme: run -->` or by
`<!-- readme: skip (why) -->`; a block with neither fails this test.

The stack here runs on free ports with its data in a temporary directory, so the blocks are run
with the README's addresses (127.0.0.1:3000 …) and `.local/data/` replaced by this stack's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local.stack import aws_environment, start_stack

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(?:<!-- readme: (?P<mark>run|skip[^>]*) -->\n)?```(?P<lang>bash|python)\n(?P<code>.*?)\n```", re.S)


def readme_blocks() -> list[tuple[str | None, str, str]]:
    text = (ROOT / "README.md").read_text()
    return [(m["mark"], m["lang"], m["code"]) for m in BLOCK.finditer(text)]


def test_every_code_block_says_whether_it_is_run():
    blocks = readme_blocks()
    assert len(blocks) >= 5
    unmarked = [code.splitlines()[0] for mark, _, code in blocks if mark is None]
    assert not unmarked, f"README blocks without <!-- readme: run|skip (why) -->: {unmarked}"
    assert sum(mark == "run" for mark, _, _ in blocks) >= 4


@pytest.fixture(scope="module")
def readme_stack(stack, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("readme") / "data"
    running = start_stack(dynamodb_url=stack.dynamodb_url, data_dir=data_dir, quiet=True)
    try:
        yield running
    finally:
        running.stop()
        stack.activate()


def _localised(code: str, running) -> str:
    for default, actual in (("http://127.0.0.1:3000", running.api_url), ("http://127.0.0.1:3001", running.lambda_url),
                            ("http://127.0.0.1:8000", running.dynamodb_url), ("http://127.0.0.1:3002", running.events_url),
                            (".local/data/", f"{running.data_dir}/")):
        code = code.replace(default, actual)
    return code


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_readme_block_runs_as_written(readme_stack, index):
    mark, lang, code = readme_blocks()[index]
    if mark != "run":
        pytest.skip(f"README block {index} is marked {mark!r}")
    code = _localised(code, readme_stack)
    # A new user's shell: none of the settings the test session exports (`make api-key` must
    # find DynamoDB Local from the README's own exports, and needs no CURSOR_SECRET).
    unset = ("AWS_", "CURSOR_SECRET", "TABLE_NAME", "DYNAMODB_ENDPOINT_URL", "DYNAMODB_PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    if lang == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        command = [sys.executable, "-c", code]
        env.update(aws_environment(readme_stack))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"README block {index} failed:\n{code}\n--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert '"error"' not in done.stdout, done.stdout[-3000:]
