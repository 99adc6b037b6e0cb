"""Shared factories for the credentials tests (no database, no service)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import (
    Achievement,
    Evidence,
    IssuerProfile,
    LocalSigner,
    StatusEntry,
    build_credential,
    generate_signing_key,
)
from tests.reference import reference_json

ISSUER_BASE = "https://issuer.example"
NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
ALL_ALGS = ("EdDSA", "ES256", "RS256")
REVOCATION_LIST = f"{ISSUER_BASE}/v1/status-lists/revocation-1"
SUSPENSION_LIST = f"{ISSUER_BASE}/v1/status-lists/suspension-1"


def load_spec(name: str) -> Any:
    """A reference JSON file from the specs beside the checkout; the test is skipped when it is
    absent (see tests/reference.py)."""
    return reference_json(name)


_SIGNERS: dict[str, LocalSigner] = {}


def signer_for(alg: str) -> LocalSigner:
    """One signer per algorithm per test session (RSA key generation is slow)."""
    if alg not in _SIGNERS:
        key = generate_signing_key(alg, rsa_bits=2048)  # type: ignore[arg-type]
        _SIGNERS[alg] = LocalSigner(key, issuer_base=ISSUER_BASE)
    return _SIGNERS[alg]


def resolver(*signers: LocalSigner) -> Callable[[str], Mapping[str, Any] | None]:
    """A resolve_key over the given signers' public JWKs, by header kid."""
    keys = {s.kid: s.public_jwk for s in signers}
    return keys.get


def make_credential(
    *,
    valid_from: datetime = NOW - timedelta(days=1),
    valid_until: datetime | None = NOW + timedelta(days=365),
    revocation_index: int | None = 17,
    suspension_index: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A typical Credence credential; keyword overrides go to build_credential."""
    status = []
    if revocation_index is not None:
        status.append(
            StatusEntry(
                status_list_credential=REVOCATION_LIST, index=revocation_index, purpose="revocation"
            )
        )
    if suspension_index is not None:
        status.append(
            StatusEntry(
                status_list_credential=SUSPENSION_LIST, index=suspension_index, purpose="suspension"
            )
        )
    args: dict[str, Any] = {
        "issuer": IssuerProfile(id=ISSUER_BASE, name="Acme Social", url=ISSUER_BASE),
        "achievement": Achievement(
            id=f"{ISSUER_BASE}/v1/levels/social-media/basic",
            name="Social media — basic",
            description="May post on brand accounts.",
            criteria_narrative="Complete **brand-voice-101** with a score of at least 80.",
            version="3",
        ),
        "subject_id": "urn:uuid:0f2b4d8e-8a8c-4c55-9d59-1f0c2c7c9b11",
        "evidence": [Evidence(id="urn:uuid:6a1f5d7e-2a0e-4a43-9c47-0d3f1d2b3c4d", name="Course")],
        "valid_from": valid_from,
        "valid_until": valid_until,
        "status": status,
    }
    args.update(overrides)
    return build_credential(**args)


@pytest.fixture(params=ALL_ALGS)
def signer(request: pytest.FixtureRequest) -> LocalSigner:
    return signer_for(request.param)


@pytest.fixture
def eddsa() -> LocalSigner:
    return signer_for("EdDSA")
