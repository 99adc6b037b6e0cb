"""Keys: generation, JWK/JWKS, thumbprints, kid URLs, encryption at rest, did:web."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa

from credentials import (
    KeyDecryptionError,
    KeyFormatError,
    LocalSigner,
    MisuseError,
    Signer,
    decrypt_private_key,
    did_web_document,
    did_web_url,
    encrypt_private_key,
    generate_signing_key,
    jwk_thumbprint,
    jwks_document,
    key_id_url,
    multikey_from_jwk,
    public_jwk,
    public_key_from_jwk,
    thumbprint_of_kid,
)

from .conftest import ALL_ALGS, signer_for

KEK = bytes(range(32))


def test_rfc7638_thumbprint_vector() -> None:
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_public_jwk_shape_and_round_trip(alg: str) -> None:
    key = signer_for(alg)
    jwk = key.public_jwk
    assert jwk["alg"] == alg and jwk["use"] == "sig"
    assert jwk["kid"] == jwk_thumbprint(jwk)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    loaded_alg, _ = public_key_from_jwk(jwk)
    assert loaded_alg == alg
    assert isinstance(key, Signer)


def test_es256_signatures_are_raw_r_s() -> None:
    assert len(signer_for("ES256").sign(b"data")) == 64


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"d": "AAAA"}, "private members"),
        ({"alg": "ES256"}, "does not match"),
        ({"use": "enc"}, "use"),
        ({"crv": "Ed448"}, "unsupported OKP curve"),
        ({"x": "AAAA"}, "32 bytes"),
        ({"x": "not base64!"}, "not valid base64url"),
        ({"kty": "oct", "k": "c2VjcmV0"}, "private members"),
        ({"kty": "oct"}, "unsupported key type"),
    ],
)
def test_public_key_from_jwk_is_strict(change: dict[str, Any], reason: str) -> None:
    jwk = {**signer_for("EdDSA").public_jwk, **change}
    with pytest.raises(KeyFormatError, match=reason):
        public_key_from_jwk(jwk)


def test_weak_or_unsupported_keys_are_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyFormatError, match="at least 2048"):
        public_jwk(small)
    with pytest.raises(KeyFormatError, match="P-256"):
        public_jwk(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(KeyFormatError):
        public_jwk(ed448.Ed448PrivateKey.generate())  # type: ignore[arg-type]
    with pytest.raises(MisuseError):
        generate_signing_key("RS256", rsa_bits=1024)
    with pytest.raises(MisuseError):
        generate_signing_key("HS256")  # type: ignore[arg-type]


def test_jwks_document_refuses_private_members() -> None:
    jwk = signer_for("EdDSA").public_jwk
    assert jwks_document([jwk]) == {"keys": [jwk]}
    with pytest.raises(MisuseError, match="private"):
        jwks_document([{**jwk, "d": "AAAA"}])


def test_key_id_urls() -> None:
    assert key_id_url("https://certs.example/", "abc") == "https://certs.example/keys/abc"
    assert key_id_url("did:web:certs.example", "abc") == "did:web:certs.example#abc"
    # and back, the form of earlier credentials included; another issuer's kid names nothing
    base = "https://certs.example"
    assert thumbprint_of_kid(base, "https://certs.example/keys/abc") == "abc"
    assert thumbprint_of_kid(base, "https://certs.example/.well-known/jwks.json#abc") == "abc"
    assert thumbprint_of_kid("did:web:certs.example", "did:web:certs.example#abc") == "abc"
    for other in ("https://evil.example/keys/abc", "https://certs.example/keys/", "abc"):
        assert thumbprint_of_kid(base, other) is None
    for bad in ["certs.example", "ftp://certs.example", "https://certs.example/#x", "did:key:z6Mk"]:
        with pytest.raises(MisuseError):
            key_id_url(bad, "abc")


def test_local_signer_needs_exactly_one_key_reference() -> None:
    key = generate_signing_key()
    with pytest.raises(MisuseError):
        LocalSigner(key)
    with pytest.raises(MisuseError):
        LocalSigner(key, issuer_base="https://a.example", kid="https://a.example/k#1")
    assert LocalSigner(key, kid="https://a.example/k#1").kid == "https://a.example/k#1"


# -- encryption at rest --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_encrypted_key_round_trip(alg: str) -> None:
    key = generate_signing_key(alg, rsa_bits=2048)  # type: ignore[arg-type]
    kid = public_jwk(key)["kid"]
    blob = encrypt_private_key(key, KEK, kid)
    assert blob[0] == 1  # format version
    assert public_jwk(decrypt_private_key(blob, KEK, kid)) == public_jwk(key)


def test_encrypted_key_is_not_plaintext() -> None:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = generate_signing_key()
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    raw = der[-32:]  # the Ed25519 seed
    assert raw not in encrypt_private_key(key, KEK, "k1")


def test_encryption_is_randomised() -> None:
    key = generate_signing_key()
    assert encrypt_private_key(key, KEK, "k1") != encrypt_private_key(key, KEK, "k1")


def test_wrong_kek_fails() -> None:
    blob = encrypt_private_key(generate_signing_key(), KEK, "k1")
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, bytes(32), "k1")


def test_kid_is_bound_as_associated_data() -> None:
    blob = encrypt_private_key(generate_signing_key(), KEK, "k1")
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(blob, KEK, "k2")


def test_tampered_blob_fails() -> None:
    blob = bytearray(encrypt_private_key(generate_signing_key(), KEK, "k1"))
    blob[20] ^= 0x01
    with pytest.raises(KeyDecryptionError):
        decrypt_private_key(bytes(blob), KEK, "k1")


def test_blob_format_checks() -> None:
    blob = encrypt_private_key(generate_signing_key(), KEK, "k1")
    with pytest.raises(KeyFormatError, match="version"):
        decrypt_private_key(b"\x02" + blob[1:], KEK, "k1")
    with pytest.raises(KeyFormatError, match="truncated"):
        decrypt_private_key(blob[:20], KEK, "k1")
    with pytest.raises(MisuseError):
        encrypt_private_key(generate_signing_key(), b"short", "k1")
    with pytest.raises(MisuseError):
        decrypt_private_key(blob, KEK, "")


# -- did:web --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("did", "url"),
    [
        ("did:web:certs.example.com", "https://certs.example.com/.well-known/did.json"),
        ("did:web:example.com:issuers:a", "https://example.com/issuers/a/did.json"),
        ("did:web:localhost%3A8443", "https://localhost:8443/.well-known/did.json"),
    ],
)
def test_did_web_url(did: str, url: str) -> None:
    assert did_web_url(did) == url


def test_did_web_rejects_other_dids() -> None:
    for bad in ["did:key:z6Mkabc", "did:web:", "did:web:a.example#k", "https://a.example"]:
        with pytest.raises(MisuseError):
            did_web_url(bad)


def test_did_web_document_lists_keys_as_assertion_methods() -> None:
    did = "did:web:certs.example.com"
    jwks = [signer_for(alg).public_jwk for alg in ALL_ALGS]
    doc = did_web_document(did, jwks, authentication=True)
    assert doc["id"] == did
    assert "https://www.w3.org/ns/did/v1" in doc["@context"]
    methods = doc["verificationMethod"]
    by_jwk = [m for m in methods if m["type"] == "JsonWebKey2020"]
    assert [m["id"] for m in by_jwk] == [f"{did}#{jwk['kid']}" for jwk in jwks]
    assert [m["publicKeyJwk"] for m in by_jwk] == jwks
    (ed25519,) = [jwk for jwk in jwks if jwk["kty"] == "OKP"]
    (multikey,) = [m for m in methods if m["type"] == "Multikey"]
    assert multikey["publicKeyMultibase"] == multikey_from_jwk(ed25519)
    assert multikey["id"] == f"{did}#{multikey['publicKeyMultibase']}"
    assert all(m["controller"] == did for m in methods)
    assert doc["assertionMethod"] == [m["id"] for m in methods]
    assert doc["authentication"] == doc["assertionMethod"]
    assert "authentication" not in did_web_document(did, jwks)
