"""The committed openapi/openapi.json is exactly what the app generates."""

from __future__ import annotations

import json

from service.app import create_app
from service.settings import Settings
from tests.conftest import REPO


def test_committed_openapi_matches_the_app() -> None:
    generated = create_app(Settings(log_level="WARNING")).openapi()
    committed = json.loads((REPO / "openapi" / "openapi.json").read_text())
    assert committed == generated, "openapi/openapi.json is stale: run `make openapi`"


def test_operation_ids_are_unique_and_explicit() -> None:
    document = create_app(Settings(log_level="WARNING")).openapi()
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert all("_" not in op_id for op_id in ids), "use explicit camelCase operation ids"
