"""The reference files: official schemas and spec examples kept beside the checkout, in
``../shared/specs``, and never copied into the repository.

A test that needs one asks for it here. It runs whenever the file is there (as in CI and on the
development machines) and is skipped, saying which file is missing and where it was looked for,
when it is not (a bare ``git clone``). ``.ci/run`` checks both halves: the suite passes from a
clone with no ``../shared`` and these skips are what happened there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs"

#: Every skip for a missing reference file starts with this (``.ci/run`` counts them).
ABSENT = "reference file absent"


def reference_path(name: str) -> Path:
    """The path of reference file ``name``, or skip the calling test when it is absent."""
    path = SPECS / name
    if not path.is_file():
        pytest.skip(f"{ABSENT}: {name} is not in {SPECS} (the specs beside the checkout)")
    return path


def reference_json(name: str) -> Any:
    """Reference file ``name`` parsed as JSON, or skip the calling test when it is absent."""
    return json.loads(reference_path(name).read_text(encoding="utf-8"))
