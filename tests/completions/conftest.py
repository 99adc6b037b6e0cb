"""Shared by the completion write-path tests: the demo catalog applied, and completion items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
SOURCE, ACTOR = "lms", "client:lms"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def item(who: str, course: str, days: float = 3, **extra: Any) -> dict[str, Any]:
    return {"learner_id": who, "course_id": course, "completed_at": ago(days=days), **extra}


@pytest.fixture
def issuer(app, client, admin_headers):  # type: ignore[no-untyped-def]
    """The app's issuer, with the demo catalog applied."""
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    return app.state.issuer
