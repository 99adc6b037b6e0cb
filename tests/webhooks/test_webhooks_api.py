"""Subscriptions API (admin only), secrets shown once and stored encrypted, outbound URL safety,
Standard Webhooks signatures, and the OpenAPI `webhooks` section."""

from __future__ import annotations

import base64
import ipaddress

import pytest
from cryptography.exceptions import InvalidTag
from sqlmodel import Session, select
from standardwebhooks.webhooks import Webhook

from service.app import create_app
from service.models import AuditEvent, WebhookSubscription
from service.settings import Settings
from service.webhooks import signing
from service.webhooks.events import DEFAULT_EVENTS, EVENT_TYPES
from service.webhooks.safety import BlockedDestination, OutboundGuard
from service.webhooks.settings import WebhookSettings

URL = "http://127.0.0.1:9/hook?token=abc"


def test_crud_with_the_secret_shown_once_and_stored_encrypted(  # type: ignore[no-untyped-def]
    client, admin_headers, database, settings
) -> None:
    created = client.post(
        "/v1/webhooks", json={"url": URL, "description": "CRM sync"}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(signing.secret_key(body["secret"])) == 32
    assert body["events"] == list(DEFAULT_EVENTS) and "completion.received" not in body["events"]
    hook_id = body["id"]

    fetched = client.get(f"/v1/webhooks/{hook_id}", headers=admin_headers).json()
    assert "secret" not in fetched and fetched["url"] == URL
    listed = client.get("/v1/webhooks", headers=admin_headers).json()
    assert [h["id"] for h in listed["items"]] == [hook_id] and "secret" not in listed["items"][0]

    patched = client.patch(
        f"/v1/webhooks/{hook_id}",
        json={"events": ["credential.revoked"], "enabled": False},
        headers=admin_headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["credential.revoked"] and patched.json()["enabled"] is False

    with Session(database.engine) as session:
        row = session.get(WebhookSubscription, hook_id)
        assert row is not None and body["secret"] not in row.secret_ciphertext
        assert (
            signing.decrypt_secret(row.secret_ciphertext, settings.kek_bytes, hook_id)
            == (body["secret"])
        )
        audit = session.exec(select(AuditEvent).where(AuditEvent.subject == f"webhook:{hook_id}"))
        events = list(audit)
    assert [e.action for e in events] == ["webhook.created", "webhook.updated"]
    assert events[0].data["url"] == "http://127.0.0.1:9/hook"  # no query string (tokens)
    assert all(body["secret"] not in str(e.data) for e in events)

    assert client.delete(f"/v1/webhooks/{hook_id}", headers=admin_headers).status_code == 204
    assert client.get(f"/v1/webhooks/{hook_id}", headers=admin_headers).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook_id}", headers=admin_headers).status_code == 404
    assert client.get("/v1/webhooks", headers=admin_headers).json()["items"] == []


def test_secret_ciphertext_is_bound_to_its_subscription() -> None:
    kek = b"k" * 32
    sealed = signing.encrypt_secret("whsec_abc", kek, "wh_1")
    with pytest.raises(InvalidTag):
        signing.decrypt_secret(sealed, kek, "wh_2")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"url": URL, "events": ["credential.exploded"]}, 422),
        ({"url": URL, "events": []}, 422),
        ({"url": "ftp://example.com/x"}, 422),
        ({"url": "http://user:pw@127.0.0.1/x"}, 422),
        ({"url": URL, "secret": "mine"}, 422),
        ({"events": ["credential.issued"]}, 422),
    ],
)
def test_bad_subscriptions_are_refused(client, admin_headers, body, status) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/webhooks", json=body, headers=admin_headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/webhooks", headers=admin_headers).json()["items"] == []


def test_loopback_and_metadata_urls_are_refused_unless_allow_listed(  # type: ignore[no-untyped-def]
    client, admin_headers, app
) -> None:
    app.state.webhook_settings = WebhookSettings()  # no allow-list
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://[::1]/hook",
    ):
        response = client.post("/v1/webhooks", json={"url": url}, headers=admin_headers)
        assert response.status_code == 422, url
        assert response.json()["type"].endswith("/unsafe-webhook-url")
    app.state.webhook_settings = WebhookSettings(allowed_hosts=["localhost", "10.0.0.0/8"])
    for url in ("http://localhost/hook", "http://10.0.0.5/hook"):
        assert (
            client.post("/v1/webhooks", json={"url": url}, headers=admin_headers).status_code == 201
        )


@pytest.mark.parametrize(
    ("url", "leads_to"),
    [
        ("http://192.0.0.8/", None),  # IETF protocol assignments (192.0.0.0/24)
        ("http://[::127.0.0.1]/", "127.0.0.1 (IPv4-compatible)"),
        ("http://[::7f00:1]/", "127.0.0.1 (IPv4-compatible)"),
        ("http://[64:ff9b::7f00:1]/", "127.0.0.1 (NAT64)"),  # NAT64 reaches internal IPv4
        ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254 (NAT64)"),  # metadata via NAT64
        ("http://[2002:7f00:1::]/", "127.0.0.1 (6to4)"),
        ("http://[::ffff:0:7f00:1]/", "127.0.0.1 (SIIT IPv4-translated)"),
    ],
)
def test_addresses_that_lead_inside_are_refused(  # type: ignore[no-untyped-def]
    url, leads_to, client, admin_headers, app
) -> None:
    """The issue's examples: each was accepted as a webhook target before."""
    app.state.webhook_settings = WebhookSettings()  # no allow-list
    response = client.post("/v1/webhooks", json={"url": url}, headers=admin_headers)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/unsafe-webhook-url")
    detail = response.json()["detail"]
    assert "not a public address" in detail
    if leads_to is not None:
        assert f"which leads to {leads_to}" in detail
    assert client.get("/v1/webhooks", headers=admin_headers).json()["items"] == []


def test_only_admin_keys_manage_webhooks(client, make_key) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {make_key('credentials:write', 'audit:read')}"}
    assert client.get("/v1/webhooks", headers=headers).status_code == 403
    assert client.post("/v1/webhooks", json={"url": URL}, headers=headers).status_code == 403
    assert client.get("/v1/webhooks").status_code == 401


def test_unknown_ids_and_bad_cursors_are_problems(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    assert client.get("/v1/webhooks/wh_nope/deliveries", headers=h).status_code == 404
    assert client.post("/v1/webhooks/wh_nope/deliveries/1/retry", headers=h).status_code == 404
    assert client.post("/v1/webhooks/wh_nope/deliveries/0/retry", headers=h).status_code == 422
    assert client.get("/v1/webhooks", params={"cursor": "!!"}, headers=h).status_code == 400
    assert client.patch("/v1/webhooks/wh_nope", json={}, headers=h).status_code == 404
    created = client.post("/v1/webhooks", json={"url": URL}, headers=h).json()
    bad = client.get(
        f"/v1/webhooks/{created['id']}/deliveries", params={"cursor": "InN0ciI"}, headers=h
    )
    assert bad.status_code == 400


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.100.100.200", False),  # Alibaba metadata (shared address space)
        ("0.0.0.0", False),
        ("::1", False),
        ("fd00:ec2::254", False),  # AWS IPv6 metadata
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        # IANA special-purpose blocks that Python 3.11's is_global lets through
        ("192.0.0.8", False),
        ("192.0.0.9", False),
        ("192.88.99.1", False),  # 6to4 relay anycast
        ("192.31.196.1", False),  # AS112
        ("2001:1::1", False),
        ("2620:4f:8000::1", False),  # AS112-v6
        # and the rest of the registries
        ("192.0.2.1", False),
        ("198.18.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("2001:db8::1", False),
        ("3fff::1", False),
        ("100::1", False),
        ("5f00::1", False),
        ("fec0::1", False),
        ("4000::1", False),  # outside global unicast 2000::/3
        # IPv6 that carries IPv4 is judged by the IPv4 it leads to
        ("::7f00:1", False),  # IPv4-compatible
        ("::a00:1", False),
        ("::808:808", True),
        ("::ffff:0:a00:1", False),  # SIIT
        ("::ffff:0:808:808", True),
        ("::ffff:8.8.8.8", True),  # IPv4-mapped
        ("64:ff9b::a00:1", False),  # NAT64
        ("64:ff9b::c000:8", False),  # NAT64 to 192.0.0.8
        ("64:ff9b::808:808", True),
        ("64:ff9b:1:ab::a00:5", False),  # local-use NAT64, /96 position
        ("64:ff9b:1:ab::808:808", True),
        ("64:ff9b:1:a00:5::", False),  # read at the /48 position: 10.0.5.0
        ("2002:a00:1::1", False),  # 6to4
        ("2002:a9fe:a9fe::1", False),
        ("2002:808:808::1", True),
        ("2001:0:4136:e378:8000:63bf:80fe:fffe", False),  # Teredo client 127.1.0.1
        ("2001:0:0a00:0001:8000:63bf:f7f7:f7f7", False),  # Teredo server 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True),  # server 65.54.227.120, client 8.8.8.8
    ],
)
def test_guard_allows_only_public_addresses(address: str, allowed: bool) -> None:
    guard = OutboundGuard([], require_https=False)
    assert guard.address_allowed("example.com", ipaddress.ip_address(address)) is allowed


def test_allow_listed_networks_cover_the_ipv4_an_address_leads_to() -> None:
    guard = OutboundGuard(["10.0.0.0/8"], require_https=False)
    for allowed in ("10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::a01:203"):
        assert guard.address_allowed("h", ipaddress.ip_address(allowed)), allowed
    for refused in ("64:ff9b::7f00:1", "2002:c0a8:1::1"):
        assert not guard.address_allowed("h", ipaddress.ip_address(refused)), refused


def test_production_requires_https_and_allow_lists_work() -> None:
    guard = OutboundGuard(["hooks.internal", "10.0.0.0/8"], require_https=True)
    with pytest.raises(BlockedDestination, match="https"):
        guard.check_url("http://example.com/hook")
    assert guard.check_url("https://example.com/hook") == ("example.com", 443)
    assert guard.check_url("http://hooks.internal:8080/x") == ("hooks.internal", 8080)
    assert guard.address_allowed("hooks.internal", ipaddress.ip_address("10.9.9.9"))
    assert guard.address_allowed("other", ipaddress.ip_address("10.9.9.9"))
    assert not guard.address_allowed("other", ipaddress.ip_address("192.168.0.1"))


def test_signatures_verify_with_the_standard_webhooks_library() -> None:
    secret = signing.new_secret()
    body = b'{"id":"evt_1","type":"credential.issued","time":"2026-11-25T10:00:00Z","data":{}}'
    import time

    now = int(time.time())
    headers = signing.headers(signing.secret_key(secret), "evt_1", now, body)
    assert Webhook(secret).verify(body, headers)["id"] == "evt_1"
    assert headers["webhook-signature"] == Webhook(secret).sign("evt_1", _dt(now), body.decode())
    tampered = dict(headers, **{"webhook-id": "evt_2"})
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(body, tampered)


def test_settings_from_the_environment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CREDENCE_WEBHOOK_EXPIRING_THRESHOLDS_DAYS", "7, 60,30")
    monkeypatch.setenv("CREDENCE_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1,hooks.internal")
    monkeypatch.setenv("CREDENCE_WEBHOOK_HORIZON", "P1D")
    config = WebhookSettings()
    assert config.expiring_thresholds_days == [60, 30, 7]
    assert config.allowed_hosts == ["127.0.0.1", "hooks.internal"]
    assert config.horizon.days == 1 and WebhookSettings.model_fields["horizon"].default.days == 3
    monkeypatch.setenv("CREDENCE_WEBHOOK_LEASE", "PT5S")
    with pytest.raises(ValueError, match="LEASE"):
        WebhookSettings()


def test_openapi_documents_every_event() -> None:
    document = create_app(Settings(log_level="WARNING")).openapi()
    assert set(document["webhooks"]) == set(EVENT_TYPES)
    issued = document["webhooks"]["credential.issued"]["post"]
    assert {p["name"] for p in issued["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    ref = issued["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"id", "type", "time", "data"}
    assert "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry" in document["paths"]


def _dt(timestamp: int):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC)


def test_secret_is_base64_of_32_bytes() -> None:
    secret = signing.new_secret()
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
