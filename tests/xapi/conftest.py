"""xAPI fixtures: the demo catalog applied, an LRS-style client key, statement factories."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest

DEMO = Path(__file__).resolve().parents[2] / "service" / "catalog" / "demo"
POLICY = "https://lms.example.com/xapi/activities/policy-101"
BRAND = "https://lms.example.com/xapi/activities/brand-voice-101"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VERSION = {"X-Experience-API-Version": "1.0.3"}


@pytest.fixture
def demo_catalog(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    body = (DEMO / "social-media-program.yaml").read_bytes()
    response = client.put(
        "/v1/catalog", content=body, headers={**admin_headers, "Content-Type": "application/yaml"}
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def lrs_key(make_key) -> str:  # type: ignore[no-untyped-def]
    key: str = make_key("completions:write", name="lrs")
    return key


@pytest.fixture
def xapi_headers(lrs_key: str) -> dict[str, str]:
    return {**VERSION, "Authorization": f"Bearer {lrs_key}"}


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def statement(
    *,
    verb: str = PASSED,
    activity: str = POLICY,
    account: str | None = "ana",
    mbox: str | None = None,
    name: str | None = "Ana Lima",
    scaled: float | None = 0.92,
    success: bool | None = True,
    timestamp: str | None = "2026-11-20T10:00:00Z",
    sid: str | None = "new",
    **extra: Any,
) -> dict[str, Any]:
    """An ADL-shaped statement from an LMS; ``sid="new"`` gives a fresh UUID, None no id."""
    actor: dict[str, Any] = {"objectType": "Agent"}
    if name:
        actor["name"] = name
    if account:
        actor["account"] = {"homePage": "https://lms.example.com", "name": account}
    if mbox:
        actor["mbox"] = f"mailto:{mbox}"
    body: dict[str, Any] = {
        "actor": actor,
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {
                "name": {"en-US": "Social media policy essentials"},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
    }
    result: dict[str, Any] = {}
    if scaled is not None:
        result["score"] = {"scaled": scaled}
    if success is not None:
        result["success"] = success
    if result:
        body["result"] = result
    if timestamp:
        body["timestamp"] = timestamp
    if sid == "new":
        body["id"] = str(uuid.uuid4())
    elif sid is not None:
        body["id"] = sid
    body.update(extra)
    return body


def cmi5_statement(
    *, verb: str = PASSED, activity: str = BRAND, account: str = "ana"
) -> dict[str, Any]:
    """A cmi5 AU's passed/completed statement: registration, category, session extension."""
    registration = str(uuid.uuid4())
    result: dict[str, Any] = {"success": True, "duration": "PT12M30S"}
    if verb == PASSED:
        result["score"] = {"scaled": 0.85, "raw": 85, "min": 0, "max": 100}
    else:
        result = {"completion": True, "duration": "PT12M30S"}
    return {
        "id": str(uuid.uuid4()),
        "actor": {
            "objectType": "Agent",
            "name": "Ana Lima",
            "account": {"homePage": "https://lms.example.com", "name": account},
        },
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[-1]}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/block"},
        },
        "result": result,
        "context": {
            "registration": registration,
            "contextActivities": {
                "category": [
                    {"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"},
                    {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"},
                ],
                "grouping": [{"id": "https://lms.example.com/xapi/courses/social-media"}],
            },
            "extensions": {
                "https://w3id.org/xapi/cmi5/context/extensions/sessionid": str(uuid.uuid4()),
                "https://w3id.org/xapi/cmi5/context/extensions/masteryscore": 0.8,
            },
        },
        "timestamp": "2026-11-21T09:30:00.123+01:00",
    }


@pytest.fixture
def lms_key(make_key) -> str:  # type: ignore[no-untyped-def]
    """A key as an LMS that saves statements and reads them back is given."""
    key: str = make_key("completions:write", "xapi:read", name="lms")
    return key


@pytest.fixture
def lms_headers(lms_key: str) -> dict[str, str]:
    return {**VERSION, "Authorization": f"Bearer {lms_key}"}
