"""Lint refuses invalid credentials with a precise path and reason, and nothing is signed."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from credentials import LintError, lint_credential, sign_credential

from .conftest import make_credential, signer_for

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        target[int(last) if last.isdigit() else last] = value

    return apply


def _del(path: str) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = doc
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        del target[last]

    return apply


CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "context order",
        _set(
            "@context",
            [
                "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                "https://www.w3.org/ns/credentials/v2",
            ],
        ),
        "@context[0]",
        "must be",
    ),
    (
        "VC 1.1 context",
        _set("@context.0", "https://www.w3.org/2018/credentials/v1"),
        "@context[0]",
        "must be",
    ),
    (
        "missing OB context",
        _set("@context", ["https://www.w3.org/ns/credentials/v2"]),
        "@context",
        "must list",
    ),
    ("missing id", _del("id"), "id", "is required"),
    ("relative id", _set("id", "credentials/1"), "id", "absolute URI"),
    ("no OB type", _set("type", ["VerifiableCredential"]), "type", "OpenBadgeCredential"),
    ("no VC type", _set("type", ["OpenBadgeCredential"]), "type", "VerifiableCredential"),
    ("issuer without type", _del("issuer.type"), "issuer.type", "must be an array"),
    ("issuer id not a URI", _set("issuer.id", "Acme"), "issuer.id", "absolute URI"),
    ("naive validFrom", _set("validFrom", "2026-01-01T00:00:00"), "validFrom", "time zone"),
    ("date only", _set("validFrom", "2026-01-01"), "validFrom", "RFC 3339"),
    (
        "validUntil before validFrom",
        _set("validUntil", "2000-01-01T00:00:00Z"),
        "validUntil",
        "later than validFrom",
    ),
    ("issuanceDate", _set("issuanceDate", "2026-01-01T00:00:00Z"), "issuanceDate", "VC 1.1"),
    ("expirationDate", _set("expirationDate", "2027-01-01T00:00:00Z"), "expirationDate", "VC 1.1"),
    (
        "subject type",
        _set("credentialSubject.type", ["Person"]),
        "credentialSubject.type",
        "AchievementSubject",
    ),
    (
        "subject without id or identifier",
        _del("credentialSubject.id"),
        "credentialSubject",
        "'id' or at least one",
    ),
    (
        "achievement missing",
        _del("credentialSubject.achievement"),
        "credentialSubject.achievement",
        "is required",
    ),
    (
        "achievement id",
        _set("credentialSubject.achievement.id", "basic"),
        "credentialSubject.achievement.id",
        "absolute URI",
    ),
    (
        "achievement name blank",
        _set("credentialSubject.achievement.name", "  "),
        "credentialSubject.achievement.name",
        "must not be empty",
    ),
    (
        "achievement description",
        _del("credentialSubject.achievement.description"),
        "credentialSubject.achievement.description",
        "must be a string",
    ),
    (
        "criteria empty",
        _set("credentialSubject.achievement.criteria", {}),
        "credentialSubject.achievement.criteria",
        "'id' or a 'narrative'",
    ),
    (
        "achievementType",
        _set("credentialSubject.achievement.achievementType", "BlackBelt"),
        "credentialSubject.achievement.achievementType",
        "OB achievement type",
    ),
    (
        "version not string",
        _set("credentialSubject.achievement.version", 3),
        "credentialSubject.achievement.version",
        "must be a string",
    ),
    ("evidence type", _set("evidence.0.type", "Evidence"), "evidence[0].type", "must be an array"),
    ("evidence id", _set("evidence.0.id", "completion 1"), "evidence[0].id", "absolute URI"),
    (
        "schema entry",
        _set("credentialSchema.0", {"id": "x y"}),
        "credentialSchema[0].id",
        "absolute URI",
    ),
    (
        "status index int",
        _set("credentialStatus.statusListIndex", 17),
        "credentialStatus.statusListIndex",
        "base-10",
    ),
    (
        "status index leading zero",
        _set("credentialStatus.statusListIndex", "017"),
        "credentialStatus.statusListIndex",
        "base-10",
    ),
    (
        "status list url",
        _set("credentialStatus.statusListCredential", "list-1"),
        "credentialStatus.statusListCredential",
        "absolute URI",
    ),
    ("endorsement unchecked", _set("endorsement", []), "endorsement", "not supported"),
    (
        "image extra member",
        _set("image", {"id": "https://x.example/i.png", "type": "Image", "alt": "x"}),
        "image.alt",
        "not allowed",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_lint_refuses_with_precise_error(mutate: Mutation, path: str, reason: str) -> None:
    doc = make_credential()
    lint_credential(doc)  # control: the unmutated document passes
    mutate(doc)
    with pytest.raises(LintError) as err:
        lint_credential(doc)
    assert err.value.path == path
    assert reason in err.value.reason


def test_identity_object_rules() -> None:
    from credentials import IdentityObject

    doc = make_credential(identifiers=[IdentityObject.hashed_value("a@example.org", salt="s")])
    lint_credential(doc)
    bad = copy.deepcopy(doc)
    bad["credentialSubject"]["identifier"][0]["extra"] = 1
    with pytest.raises(LintError) as err:
        lint_credential(bad)
    assert err.value.path == "credentialSubject.identifier[0].extra"
    bad = copy.deepcopy(doc)
    bad["credentialSubject"]["identifier"][0]["hashed"] = "yes"
    with pytest.raises(LintError) as err:
        lint_credential(bad)
    assert err.value.path == "credentialSubject.identifier[0].hashed"


def test_lenient_profile_accepts_what_verifiers_may_see() -> None:
    doc = make_credential()
    doc["issuanceDate"] = doc["validFrom"]
    doc["credentialStatus"]["statusListIndex"] = 17
    with pytest.raises(LintError):
        lint_credential(doc)
    lint_credential(doc, strict=False)


def test_non_object_document() -> None:
    with pytest.raises(LintError) as err:
        lint_credential(["not", "a", "credential"])
    assert err.value.path == "$"


def test_sign_credential_lints_first_and_signs_nothing_invalid() -> None:
    doc = make_credential()
    doc["credentialSubject"]["achievement"]["id"] = "not a uri"
    with pytest.raises(LintError) as err:
        sign_credential(doc, signer_for("EdDSA"))
    assert err.value.path == "credentialSubject.achievement.id"
    assert str(err.value) == "credentialSubject.achievement.id: " + err.value.reason
