"""Run the independent verifiers in this folder (npm packages pinned in package.json and
package-lock.json, installed by `make install` into tests/interop/node_modules)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
CONTEXTS = HERE.parents[1] / "credentials" / "contexts"


def pinned_contexts() -> dict[str, str]:
    """Context URL -> path of the published bytes (the copies the package pins)."""
    from credentials.data_integrity import PINNED_CONTEXTS

    return {url: str(CONTEXTS / name) for url, name in PINNED_CONTEXTS.items()}


def run_node(script: str, payload: dict[str, Any], *, timeout: float = 120) -> Any:
    """Run ``script`` with ``payload`` on stdin and return its JSON output; skip (saying why)
    when Node or the installed packages are missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the npm verifiers cannot run on this machine")
    if not (HERE / "node_modules").is_dir():
        pytest.skip("tests/interop/node_modules is missing: run `make install` (npm ci)")
    done = subprocess.run(
        [node, str(HERE / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"{script} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)
