"""Actor → learner: account name or mbox email (CREDENCE_XAPI_LEARNER_ID_FROM), created when
unknown, never overwritten from a statement."""

from __future__ import annotations

import pytest

from service.xapi.settings import XapiSettings, get_xapi_settings
from tests.xapi.conftest import statement


def learner(client, admin_headers, learner_id: str):  # type: ignore[no-untyped-def]
    return client.get(f"/v1/learners/{learner_id}", headers=admin_headers)


def credentials(client, admin_headers, learner_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    items = client.get(f"/v1/credentials?learner_id={learner_id}", headers=admin_headers).json()
    return [c["level"] for c in items["items"]]


def post(client, headers, *statements):  # type: ignore[no-untyped-def]
    response = client.post("/xapi/statements", json=list(statements), headers=headers)
    assert response.status_code == 200, response.text
    return response


def test_default_account_name_is_the_learner_id_and_mbox_falls_back_to_email(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers
) -> None:
    client.put(
        "/v1/learners/E1234",
        json={"email": "dana@example.com", "name": "Dana HR"},
        headers=admin_headers,
    )
    post(
        client,
        xapi_headers,
        statement(account="ana", name="Ana Lima"),
        statement(account=None, mbox="Dana@Example.com", name="dana from the LMS"),
        statement(account=None, mbox="eli@example.com", name="Eli Moss"),
    )
    ana = learner(client, admin_headers, "ana").json()
    assert ana["name"] == "Ana Lima" and ana["email"] is None
    # an existing learner found by email keeps its id and its name
    dana = learner(client, admin_headers, "E1234").json()
    assert dana["name"] == "Dana HR"
    assert learner(client, admin_headers, "dana@example.com").status_code == 404
    # an unknown mbox creates a learner whose id is the email
    eli = learner(client, admin_headers, "eli@example.com").json()
    assert (eli["email"], eli["name"]) == ("eli@example.com", "Eli Moss")
    brand = statement(
        account=None,
        mbox="dana@example.com",
        activity="https://lms.example.com/xapi/activities/brand-voice-101",
    )
    post(client, xapi_headers, brand)
    assert credentials(client, admin_headers, "E1234") == ["social-media/foundations"]


def test_known_learner_is_not_renamed_by_a_statement(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers
) -> None:
    client.put("/v1/learners/ana", json={"name": "Ana Lima-Souza"}, headers=admin_headers)
    post(client, xapi_headers, statement(account="ana", name="ana l."))
    assert learner(client, admin_headers, "ana").json()["name"] == "Ana Lima-Souza"


def test_mbox_mode_without_fallback_ignores_account_actors(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, app
) -> None:
    xapi = XapiSettings(learner_id_from="mbox", learner_fallback=False)
    app.dependency_overrides[get_xapi_settings] = lambda: xapi
    client.put("/v1/learners/E7", json={"email": "ana@example.com"}, headers=admin_headers)
    post(
        client,
        xapi_headers,
        statement(account=None, mbox="ana@example.com"),
        statement(account="bo"),
    )
    assert learner(client, admin_headers, "bo").status_code == 404
    metrics = client.get("/metrics").text
    assert 'credence_xapi_statements_total{outcome="unmapped_actor"} 1.0' in metrics
    assert 'credence_xapi_statements_total{outcome="completion"} 1.0' in metrics


def test_account_mode_without_fallback_ignores_mbox_actors(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, app
) -> None:
    xapi = XapiSettings(learner_fallback=False)
    app.dependency_overrides[get_xapi_settings] = lambda: xapi
    post(client, xapi_headers, statement(account=None, mbox="eli@example.com"))
    assert learner(client, admin_headers, "eli@example.com").status_code == 404


@pytest.mark.parametrize("name", ["has space", "a/b", "-leading"])
def test_account_names_that_are_not_learner_ids_are_acknowledged_not_mapped(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, name
) -> None:
    post(client, xapi_headers, statement(account=name))
    metrics = client.get("/metrics").text
    assert 'credence_xapi_statements_total{outcome="unmapped_actor"} 1.0' in metrics
