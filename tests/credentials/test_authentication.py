"""A wallet's DIDAuth presentation, verified offline: the vectors were signed the way the
Learner Credential Wallet signs (its own libraries, @digitalcredentials/vc 10.0.2 with
Ed25519Signature2020, a did:key), once with a challenge only (its request-link flow) and once
with a challenge and a domain (VC-API)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from credentials.data_integrity import verify_authentication
from credentials.errors import DataIntegrityError
from credentials.multikey import public_key_from_multikey

VECTORS = Path(__file__).parent / "vectors"


def _vector(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS / name).read_text())
    return loaded


def _did_key(method: str) -> Any:
    return public_key_from_multikey(method.split("#")[0].removeprefix("did:key:"))


def test_lcw_presentations_verify() -> None:
    plain = _vector("lcw-didauth.json")
    proof = verify_authentication(
        plain["presentation"], challenge=plain["challenge"], domain=None, resolve_key=_did_key
    )
    assert proof["type"] == "Ed25519Signature2020"
    assert proof["verificationMethod"].startswith(plain["presentation"]["holder"] + "#")
    scoped = _vector("lcw-didauth-domain.json")
    verify_authentication(
        scoped["presentation"],
        challenge=scoped["challenge"],
        domain=scoped["domain"],
        resolve_key=_did_key,
    )


@pytest.mark.parametrize(
    ("change", "check"),
    [
        (lambda p: p["proof"].update(challenge="another"), "challenge"),
        (
            lambda p: p.update(holder="did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
            "signature",
        ),
        (lambda p: p["proof"].update(proofPurpose="assertionMethod"), "format"),
        (lambda p: p.pop("proof"), "format"),
        (lambda p: p["@context"].append("https://example.com/unknown/v1"), "context"),
    ],
)
def test_a_changed_presentation_is_refused(change: Any, check: str) -> None:
    vector = _vector("lcw-didauth.json")
    presentation = copy.deepcopy(vector["presentation"])
    change(presentation)
    challenge = vector["challenge"]
    with pytest.raises(DataIntegrityError) as refused:
        verify_authentication(presentation, challenge=challenge, domain=None, resolve_key=_did_key)
    assert refused.value.check == check


def test_the_domain_must_match_when_asked() -> None:
    scoped = _vector("lcw-didauth-domain.json")
    with pytest.raises(DataIntegrityError, match="domain"):
        verify_authentication(
            scoped["presentation"],
            challenge=scoped["challenge"],
            domain="https://elsewhere.example",
            resolve_key=_did_key,
        )
