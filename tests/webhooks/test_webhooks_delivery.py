"""Delivery end to end, in-process worker, both databases: a real receiver on 127.0.0.1 checks
every signature with the `standardwebhooks` library and sees each event once, in order per
credential; retries back off; failures stop at the horizon; redirects are not followed."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from sqlmodel import Session, select

from service.models import Credential, WebhookDelivery
from tests.webhooks.conftest import (
    Clock,
    deliveries,
    drain,
    earn_foundations,
    loopback_config,
    payloads,
    subscribe,
)


def test_issue_and_revoke_each_event_once_in_order_with_valid_signatures(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    h = admin_headers
    before = earn_foundations(api, h, "before-subscribing")
    hook = subscribe(api, h, receiver)
    alice = earn_foundations(api, h, "alice")
    bob = earn_foundations(api, h, "bob")
    assert (
        api.post(
            f"/v1/credentials/{alice['id']}/revoke", json={"reason": "left"}, headers=h
        ).status_code
        == 200
    )
    assert api.post(f"/v1/credentials/{bob['id']}/suspend", headers=h).status_code == 200
    assert api.post(f"/v1/credentials/{bob['id']}/reinstate", headers=h).status_code == 200

    drain(database, settings, config)
    drain(database, settings, config)  # a second run finds nothing more to send

    assert receiver.bad_signatures == []
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 5
    by_credential = defaultdict(list)
    for payload in payloads(receiver):
        by_credential[payload["data"]["credential"]].append(payload["type"])
    assert by_credential == {
        alice["id"]: ["credential.issued", "credential.revoked"],
        bob["id"]: ["credential.issued", "credential.suspended", "credential.reinstated"],
    }
    assert before["id"] not in by_credential  # changes before the subscription are not sent

    revoked = next(p for p in payloads(receiver) if p["type"] == "credential.revoked")
    assert set(revoked) == {"id", "type", "time", "data"}
    assert revoked["data"]["learner"] == "alice"
    assert revoked["data"]["level"] == "social-media/foundations"
    assert revoked["data"]["reason"] == "left"
    assert revoked["data"]["valid_until"] == alice["valid_until"].replace("+00:00", "Z")
    issued = next(p for p in payloads(receiver) if p["type"] == "credential.issued")
    assert "jwt" not in issued["data"]  # not asked for
    assert issued["data"]["valid_until"] is not None and issued["data"]["manual"] is False
    assert not any(p["type"] == "completion.received" for p in payloads(receiver))  # opt-in

    listed = deliveries(api, h, hook["id"])
    assert len(listed) == 5
    assert {d["status"] for d in listed} == {"succeeded"}
    assert all(d["attempt_log"][0]["status_code"] == 200 for d in listed)
    assert {d["event_id"] for d in listed} == set(ids)


def test_include_jwt_and_completion_received_only_when_asked(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    subscribe(
        api,
        admin_headers,
        receiver,
        events=["credential.issued", "completion.received"],
        include_jwt=True,
    )
    credential = earn_foundations(api, admin_headers, "carol")
    drain(database, settings, config)

    # Order is guaranteed per subject, not across a completion and a credential: compare sets.
    received = payloads(receiver)
    types = sorted(p["type"] for p in received)
    assert types == ["completion.received", "completion.received", "credential.issued"]
    completions = {
        p["data"]["course"]: p["data"] for p in received if p["type"] == "completion.received"
    }
    completion = completions["policy-101"]
    assert completion["learner"] == "carol" and completion["course"] == "policy-101"
    assert completion["score"] == 90 and completion["passed"] is True
    with Session(database.engine) as session:
        jwt = session.exec(select(Credential.jwt).where(Credential.id == credential["id"])).one()
    issued = next(p for p in received if p["type"] == "credential.issued")
    assert issued["data"]["jwt"] == jwt


def test_include_data_integrity_adds_the_json_ld_form(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    """The sibling of include_jwt: the credential's Data Integrity form, the same document
    GET /v1/credentials/{id} serves for Accept: application/vc, and it verifies."""
    hook = subscribe(
        api, admin_headers, receiver, events=["credential.issued"], include_data_integrity=True
    )
    assert hook["include_data_integrity"] is True and hook["include_jwt"] is False
    credential = earn_foundations(api, admin_headers, "erin")
    drain(database, settings, config)
    (issued,) = payloads(receiver)
    assert "jwt" not in issued["data"]
    document = issued["data"]["data_integrity"]
    served = api.get(
        f"/v1/credentials/{credential['id']}",
        headers={**admin_headers, "Accept": "application/vc"},
    )
    assert document == served.json()
    verdict = api.post("/v1/verify", json={"credential": document}).json()
    assert verdict["verified"] is True, verdict


def test_a_500_is_retried_with_backoff_and_the_same_webhook_id(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    answers = iter([500, 200])
    receiver.responder = lambda rec, wid, payload: (next(answers), b"later")
    hook = subscribe(api, admin_headers, receiver, events=["credential.issued"])
    earn_foundations(api, admin_headers, "dave")
    clock = Clock()

    drain(database, settings, config, clock)
    (pending,) = deliveries(api, admin_headers, hook["id"])
    assert pending["status"] == "pending" and pending["attempts"] == 1
    assert pending["last_status_code"] == 500 and pending["last_error"] == "HTTP 500"
    assert pending["attempt_log"][0]["response_body"] == "later"
    wait = _parse(pending["next_attempt_at"]) - clock.now
    assert timedelta(seconds=2.5) <= wait <= timedelta(seconds=5)  # base 5s, jittered in [½, 1]

    drain(database, settings, config, clock)  # not due yet: nothing is sent
    assert len(receiver.received) == 1
    clock.advance(seconds=5)
    drain(database, settings, config, clock)

    assert [r.status for r in receiver.received] == [500, 200]
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    (done,) = deliveries(api, admin_headers, hook["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert [a["status_code"] for a in done["attempt_log"]] == [500, 200]


def test_gives_up_at_the_horizon_then_a_manual_retry_redelivers(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings
) -> None:
    config = loopback_config(horizon=timedelta(hours=1), backoff_max=timedelta(minutes=20))
    failing = True
    receiver.responder = lambda rec, wid, payload: (503 if failing else 204, b"")
    hook = subscribe(api, admin_headers, receiver, events=["credential.issued"])
    earn_foundations(api, admin_headers, "erin")
    clock = Clock()
    waits = []
    for _ in range(20):
        drain(database, settings, config, clock)
        (delivery,) = deliveries(api, admin_headers, hook["id"])
        if delivery["status"] != "pending":
            break
        waits.append(_parse(delivery["next_attempt_at"]) - clock.now)
        clock.now = _parse(delivery["next_attempt_at"])
    assert delivery["status"] == "failed"
    assert delivery["completed_at"] is not None and delivery["next_attempt_at"] is None
    # exponential: each ceiling doubles (5s, 10s, 20s, ...) up to backoff_max
    assert waits[0] <= timedelta(seconds=5) < waits[3] and max(waits) <= timedelta(minutes=20)
    sent = len(receiver.received)
    assert sent == delivery["attempts"] == len(waits) + 1

    failing = False
    retried = api.post(
        f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry", headers=admin_headers
    )
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] == "pending"
    drain(database, settings, config)  # the real clock: due now
    (delivery,) = deliveries(api, admin_headers, hook["id"])
    assert delivery["status"] == "succeeded" and delivery["last_status_code"] == 204
    assert len({r.webhook_id for r in receiver.received}) == 1
    assert len(receiver.received) == sent + 1


def test_redirects_are_not_followed_and_bodies_are_capped(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings
) -> None:
    config = loopback_config(response_body_cap=64)
    answers = iter([(302, b""), (500, b"x" * 1_000_000)])
    receiver.responder = lambda rec, wid, payload: next(answers)
    hook = subscribe(api, admin_headers, receiver, events=["credential.issued"])
    earn_foundations(api, admin_headers, "frank")
    clock = Clock()
    drain(database, settings, config, clock)
    clock.advance(minutes=1)
    drain(database, settings, config, clock)

    assert len(receiver.received) == 2  # /elsewhere was never requested (it would 401 here)
    assert receiver.bad_signatures == []
    (delivery,) = deliveries(api, admin_headers, hook["id"])
    first, second = delivery["attempt_log"]
    assert first["status_code"] == 302 and "not followed" in first["error"]
    assert second["status_code"] == 500 and len(second["response_body"]) == 64


def test_one_credential_waits_for_its_earlier_event_others_do_not(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    grace = api
    h = admin_headers
    hook = subscribe(grace, h, receiver, events=["credential.issued", "credential.revoked"])
    gina = earn_foundations(api, h, "gina")
    assert api.post(f"/v1/credentials/{gina['id']}/revoke", headers=h).status_code == 200
    hank = earn_foundations(api, h, "hank")
    receiver.responder = lambda rec, wid, payload: (
        (500, b"")
        if payload["data"]["credential"] == gina["id"] and payload["type"] == "credential.issued"
        else (200, b"")
    )
    clock = Clock()
    drain(database, settings, config, clock)
    delivered = [(p["data"]["credential"], p["type"]) for p in payloads(receiver)]
    assert delivered == [(hank["id"], "credential.issued")]  # gina's revoke waits behind her issue

    receiver.responder = None
    clock.advance(minutes=1)
    drain(database, settings, config, clock)
    delivered = [(p["data"]["credential"], p["type"]) for p in payloads(receiver)]
    assert delivered[1:] == [(gina["id"], "credential.issued"), (gina["id"], "credential.revoked")]
    assert len(deliveries(api, h, hook["id"], status="succeeded")) == 3


def test_a_url_that_turns_private_is_refused_at_delivery_time(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings
) -> None:
    hook = subscribe(api, admin_headers, receiver, events=["credential.issued"])
    earn_foundations(api, admin_headers, "ivan")
    strict = loopback_config(allowed_hosts=[])  # e.g. the allow-list was narrowed since
    drain(database, settings, strict)
    assert receiver.received == []
    (delivery,) = deliveries(api, admin_headers, hook["id"])
    assert delivery["status"] == "pending"
    assert "refused" in delivery["last_error"] and "127.0.0.1" in delivery["last_error"]


def test_deleting_a_subscription_cancels_what_it_had_pending(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    hook = subscribe(api, admin_headers, receiver, events=["credential.issued"])
    earn_foundations(api, admin_headers, "judy")
    drain_relay_only = loopback_config(batch_size=1)
    with Session(database.engine) as session:
        from service.webhooks.outbox import relay

        relay(session, drain_relay_only, now=Clock().now)
        session.commit()
    assert api.delete(f"/v1/webhooks/{hook['id']}", headers=admin_headers).status_code == 204
    drain(database, settings, config)
    assert receiver.received == []
    with Session(database.engine) as session:
        (status,) = session.exec(select(WebhookDelivery.status)).all()
    assert status == "cancelled"


def _parse(text: str):  # type: ignore[no-untyped-def]
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))
