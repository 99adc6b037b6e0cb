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


#: The OAuth 2.0 endpoints a wallet calls answer errors as RFC 6749 §5.2 JSON, which wallets parse.
OAUTH_OPERATIONS = {"oid4vciToken", "oid4vciCredential"}


def test_every_error_answer_is_documented_as_a_problem() -> None:
    """Every 4xx/5xx the document promises is application/problem+json (the one error handler),
    including validation failures, which FastAPI would otherwise document as its own JSON; the
    OAuth endpoints' errors are OAuth JSON instead (``OAuthError``)."""
    document = create_app(Settings(log_level="WARNING")).openapi()
    undocumented, oauth = [], []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if status[0] not in "45":
                    continue
                if operation["operationId"] in OAUTH_OPERATIONS and status in ("400", "401", "429"):
                    oauth.append(content["application/json"]["schema"]["required"] == ["error"])
                elif "application/problem+json" not in content:
                    undocumented.append(f"{method.upper()} {path} {status}")
    assert undocumented == []
    assert oauth and all(oauth)
    assert "HTTPValidationError" not in json.dumps(document)


def test_authzen_documents_validation_failures_as_400() -> None:
    document = create_app(Settings(log_level="WARNING")).openapi()
    for path in ("/access/v1/evaluation", "/access/v1/evaluations"):
        responses = document["paths"][path]["post"]["responses"]
        assert "400" in responses and "422" not in responses, path
