"""Data Integrity proofs (eddsa-rdfc-2022): the spec validator's test vector verifies, our own
proofs round-trip, and anything that would leave data outside the signature is refused."""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credentials import LocalSigner, generate_signing_key
from credentials.data_integrity import (
    PINNED_CONTEXTS,
    base58btc_decode,
    base58btc_encode,
    canonicalize,
    multikey_from_public_key,
    public_key_from_multikey,
    sign_data_integrity,
    verify_data_integrity,
)
from credentials.errors import DataIntegrityError, KeyFormatError, MisuseError
from tests.credentials.conftest import make_credential
from tests.reference import reference_json, reference_path

CONTEXTS = Path(__file__).resolve().parents[2] / "credentials" / "contexts"
CREATED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
METHOD = "did:web:issuer.example#key-1"


def _signed(doc: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    key = generate_signing_key("EdDSA")
    signer = LocalSigner(key, kid=METHOD)
    secured = sign_data_integrity(
        doc or make_credential(), signer, verification_method=METHOD, created=CREATED
    )
    return secured, key.public_key()


def test_the_validator_test_vector_verifies() -> None:
    """1EdTech's conformance validator's eddsa-rdfc-2022 example, verified with its own key."""
    doc = reference_json("example_ob3_openbadgecredential_dataintegrity.json")
    method = doc["proof"][0]["verificationMethod"]
    key = public_key_from_multikey(method.split("#", 1)[1])
    proof = verify_data_integrity(doc, resolve_key=lambda url: key if url == method else None)
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    tampered = copy.deepcopy(doc)
    tampered["credentialSubject"]["achievement"]["name"] = "Leadership"
    with pytest.raises(DataIntegrityError) as caught:
        verify_data_integrity(tampered, resolve_key=lambda url: key)
    assert caught.value.check == "signature"


def test_a_credential_round_trips_and_the_proof_says_how() -> None:
    secured, public = _signed()
    (proof,) = secured["proof"]
    assert proof == {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2026-12-01T09:30:00Z",
        "verificationMethod": METHOD,
        "proofPurpose": "assertionMethod",
        "proofValue": proof["proofValue"],
    }
    assert len(base58btc_decode(proof["proofValue"][1:])) == 64
    assert verify_data_integrity(secured, resolve_key=lambda url: public) == proof


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d["credentialSubject"]["achievement"].update(name="Black belt"), "achievement"),
        (lambda d: d.update(validUntil="2099-01-01T00:00:00Z"), "validity"),
        (lambda d: d["issuer"].update(name="Someone else"), "issuer"),
        (lambda d: d["proof"][0].update(created="2026-12-02T00:00:00Z"), "proof options"),
        (
            lambda d: d["credentialSubject"].update(
                id="urn:uuid:00000000-0000-4000-8000-0000000000"
            ),
            "subject",
        ),
    ],
)
def test_any_change_breaks_the_proof(change: Any, where: str) -> None:
    secured, public = _signed()
    change(secured)
    with pytest.raises(DataIntegrityError) as caught:
        verify_data_integrity(secured, resolve_key=lambda url: public)
    assert caught.value.check == "signature", where


def test_another_key_or_no_key_fails() -> None:
    secured, _ = _signed()
    stranger = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(DataIntegrityError) as caught:
        verify_data_integrity(secured, resolve_key=lambda url: stranger)
    assert caught.value.check == "signature"
    with pytest.raises(DataIntegrityError) as caught:
        verify_data_integrity(secured, resolve_key=lambda url: None)
    assert caught.value.check == "key"


def test_a_proof_set_keeps_earlier_proofs() -> None:
    secured, first = _signed()
    second_key = generate_signing_key("EdDSA")
    other = "did:web:issuer.example#key-2"
    both = sign_data_integrity(
        secured, LocalSigner(second_key, kid=other), verification_method=other, created=CREATED
    )
    assert [p["verificationMethod"] for p in both["proof"]] == [METHOD, other]
    with pytest.raises(DataIntegrityError, match="expected one"):
        verify_data_integrity(both, resolve_key=lambda url: first)


def test_an_undefined_term_is_refused_not_left_unsigned() -> None:
    doc = make_credential()
    doc["credentialSubject"]["favouriteColour"] = "green"
    with pytest.raises(DataIntegrityError, match="favouriteColour") as caught:
        canonicalize(doc)
    assert caught.value.check == "context"
    secured, public = _signed()
    secured["credentialSubject"]["favouriteColour"] = "green"  # added after signing
    with pytest.raises(DataIntegrityError, match="favouriteColour"):
        verify_data_integrity(secured, resolve_key=lambda url: public)


def test_unknown_contexts_and_relative_ids_are_refused() -> None:
    doc = make_credential()
    doc["@context"] = [*doc["@context"], "https://evil.example/context.json"]
    with pytest.raises(DataIntegrityError, match=r"evil\.example"):
        canonicalize(doc)
    doc = make_credential()
    doc["id"] = "credentials/42"
    with pytest.raises(DataIntegrityError, match="absolute IRI"):
        canonicalize(doc)


def test_credentials_name_the_extensions_context_so_every_term_is_defined() -> None:
    """Without the OB extensions context, credentialSchema's type would be undefined."""
    doc = make_credential()
    assert canonicalize(doc)
    doc["@context"] = doc["@context"][:2]
    with pytest.raises(DataIntegrityError, match="1EdTechJsonSchemaValidator2019"):
        canonicalize(doc)


def test_literals_use_the_canonical_n_quads_escapes() -> None:
    """RDFC-1.0: ECHAR for b t n f r " \\, UCHAR for the other control characters."""
    doc = make_credential()
    doc["name"] = 'a\bb\tc\nd\fe\rf"g\\h\x01i\x7fj é'
    lines = [line for line in canonicalize(doc).splitlines() if "schema.org/name" in line]
    assert '"a\\bb\\tc\\nd\\fe\\rf\\"g\\\\h\\u0001i\\u007Fj é"' in "\n".join(lines)


def test_only_ed25519_signers_make_eddsa_rdfc_2022_proofs() -> None:
    signer = LocalSigner(generate_signing_key("ES256"), kid=METHOD)
    with pytest.raises(MisuseError):
        sign_data_integrity(make_credential(), signer, verification_method=METHOD, created=CREATED)


def test_multikey_encoding() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    value = multikey_from_public_key(key)
    assert value.startswith("z6Mk")
    assert public_key_from_multikey(value) == key
    for bad in ("6Mkabc", "z0OIl", "z" + base58btc_encode(b"\x12\x00" + bytes(32))):
        with pytest.raises(KeyFormatError):
            public_key_from_multikey(bad)
    assert base58btc_decode(base58btc_encode(b"\0\0\x01\x02")) == b"\0\0\x01\x02"


def test_pinned_contexts_are_the_published_bytes() -> None:
    """Each pinned file has the SHA-256 its README records (and, where the reference copy is
    beside the checkout, the same bytes)."""
    table = (CONTEXTS / "README.md").read_text(encoding="utf-8")
    for url, name in PINNED_CONTEXTS.items():
        digest = hashlib.sha256((CONTEXTS / name).read_bytes()).hexdigest()
        row = next(line for line in table.splitlines() if f"`{url}`" in line)
        assert f"`{name}`" in row and f"`{digest}`" in row, url
    assert re.search(r"59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734", table)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("credentials-v2.jsonld", "w3c_credentials_v2_context.jsonld"),
        ("ob-v3p0-context-3.0.3.json", "ob_v3p0_context-3.0.3.json"),
    ],
)
def test_pinned_contexts_equal_the_reference_copies(name: str, reference: str) -> None:
    assert (CONTEXTS / name).read_bytes() == reference_path(reference).read_bytes()
