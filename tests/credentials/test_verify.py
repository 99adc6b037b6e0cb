"""verify(): the happy path, and one test per refusal (each asserts its own reason)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials import (
    CHECK_NAMES,
    LocalSigner,
    MisuseError,
    ResolvedKey,
    StatusEntry,
    public_key_from_jwk,
    sign_credential,
    sign_jwt,
    vc_jwt_claims,
    verify,
)

from .conftest import ALL_ALGS, ISSUER_BASE, NOW, make_credential, resolver, signer_for


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: Any, signer: LocalSigner | None = None) -> str:
    """A token with any header/payload, signed by ``signer`` (or with an empty signature)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    sig = signer.sign(signing_input.encode()) if signer else b""
    return f"{signing_input}.{b64(sig)}"


def run(token: str, *signers: LocalSigner, **kwargs: Any) -> Any:
    kwargs.setdefault("allowed_algorithms", ALL_ALGS)
    kwargs.setdefault("resolve_key", resolver(*(signers or (signer_for("EdDSA"),))))
    kwargs.setdefault("now", NOW)
    return verify(token, **kwargs)


def assert_failed(result: Any, check: str, reason: str) -> None:
    assert not result.verified
    found = result.check(check)
    assert found.status == "failed", result.checks
    assert reason in found.reason, found.reason


def header_for(signer: LocalSigner, **extra: Any) -> dict[str, Any]:
    return {"alg": signer.alg, "kid": signer.kid, "typ": "JWT", **extra}


# -- happy path --


def test_valid_token_verifies_for_every_algorithm(signer: LocalSigner) -> None:
    doc = make_credential()
    token = sign_credential(doc, signer, now=NOW)
    result = run(token, signer)
    assert result.verified, result.checks
    assert [c.name for c in result.checks] == list(CHECK_NAMES)
    assert {c.name: c.status for c in result.checks} == {
        "format": "ok",
        "signature": "ok",
        "claims": "ok",
        "validity": "ok",
        "revocation": "skipped",  # no status checker given
        "suspension": "skipped",  # no suspension entry
        "schema": "ok",
    }
    assert result.credential == doc
    assert result.header == {"alg": signer.alg, "kid": signer.kid, "typ": "JWT"}


def test_header_and_payload_follow_ob_vc_jwt(eddsa: LocalSigner) -> None:
    doc = make_credential()
    token = sign_credential(doc, eddsa, now=NOW)
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    assert header == {"alg": "EdDSA", "kid": eddsa.kid, "typ": "JWT"}
    assert eddsa.kid == f"{ISSUER_BASE}/keys/{eddsa.public_jwk['kid']}"
    assert payload["iss"] == doc["issuer"]["id"]
    assert payload["jti"] == doc["id"]
    assert payload["sub"] == doc["credentialSubject"]["id"]
    assert payload["nbf"] == int((NOW - timedelta(days=1)).timestamp())
    assert payload["exp"] == int((NOW + timedelta(days=365)).timestamp())
    assert payload["iat"] == int(NOW.timestamp())
    assert "vc" not in payload  # OB: the credential is the payload, no wrapper


# -- misuse raises --


@pytest.mark.parametrize(
    "allowed", [[], ["none"], ["HS256"], ["EdDSA", "hs512"], ["PS256"], "EdDSA"]
)
def test_unsafe_allow_lists_are_misuse(allowed: Any, eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    with pytest.raises(MisuseError):
        run(token, eddsa, allowed_algorithms=allowed)


def test_naive_now_is_misuse(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    with pytest.raises(MisuseError):
        run(token, eddsa, now=NOW.replace(tzinfo=None))


# -- format --


def test_alg_none_is_refused(eddsa: LocalSigner) -> None:
    claims = vc_jwt_claims(make_credential())
    token = forge({"alg": "none", "kid": eddsa.kid, "typ": "JWT"}, claims)
    assert_failed(run(token, eddsa), "signature", "alg 'none'")


@pytest.mark.parametrize("alg", ["EdDSA", "RS256"])
def test_hmac_key_confusion_is_refused(alg: str) -> None:
    """HS256 signed with the issuer's *public* key as the HMAC secret (classic confusion)."""
    victim = signer_for(alg)
    _, pub_key = public_key_from_jwk(victim.public_jwk)  # what the attacker can download
    secrets = [
        pub_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        json.dumps(victim.public_jwk).encode(),
    ]
    claims = vc_jwt_claims(make_credential())
    for secret in secrets:
        header = {"alg": "HS256", "kid": victim.kid, "typ": "JWT"}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{b64(mac)}"
        assert_failed(run(token, victim), "signature", "HMAC algorithm 'HS256' refused")


def test_es256_token_against_ed25519_key_is_refused() -> None:
    ed, es = signer_for("EdDSA"), signer_for("ES256")
    claims = vc_jwt_claims(make_credential())
    # Signed by a real ES256 key but naming the Ed25519 key's kid.
    token = forge({"alg": "ES256", "kid": ed.kid, "typ": "JWT"}, claims, es)
    assert_failed(run(token, ed, es), "signature", "does not match the key type")


def test_eddsa_token_claiming_rs256_is_refused() -> None:
    ed = signer_for("EdDSA")
    token = forge(
        {"alg": "RS256", "kid": ed.kid, "typ": "JWT"}, vc_jwt_claims(make_credential()), ed
    )
    assert_failed(run(token, ed), "signature", "does not match the key type")


def test_the_fully_specified_ed25519_name_verifies_as_eddsa() -> None:
    """RFC 9864: "Ed25519" is EdDSA on an Ed25519 key; allowed wherever EdDSA is."""
    ed, es = signer_for("EdDSA"), signer_for("ES256")
    claims = vc_jwt_claims(make_credential())
    token = forge({"alg": "Ed25519", "kid": ed.kid, "typ": "JWT"}, claims, ed)
    assert run(token, ed).verified
    jwk_naming_it = {**ed.public_jwk, "alg": "Ed25519"}  # a JWKS may state the new name too
    assert run(token, resolve_key=lambda kid: jwk_naming_it).verified
    assert_failed(
        run(token, ed, allowed_algorithms=["ES256"]), "signature", "not on the allow-list"
    )
    # the name fixes the curve: a P-256 key cannot stand behind it
    forged = forge({"alg": "Ed25519", "kid": es.kid, "typ": "JWT"}, claims, es)
    assert_failed(run(forged, es), "signature", "does not match the key type")


def test_algorithm_outside_allow_list_is_refused() -> None:
    es = signer_for("ES256")
    token = sign_credential(make_credential(), es)
    assert_failed(
        run(token, es, allowed_algorithms=["EdDSA"]), "signature", "not on the allow-list"
    )


def test_unknown_kid_is_refused(eddsa: LocalSigner) -> None:
    token = forge(
        header_for(eddsa, kid=f"{ISSUER_BASE}/.well-known/jwks.json#nope"),
        vc_jwt_claims(make_credential()),
        eddsa,
    )
    assert_failed(run(token, eddsa), "signature", "unknown key id")


@pytest.mark.parametrize(
    "extra",
    [
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/cert.pem"},
        {"cty": "vc"},
        {"crit": ["exp"]},
        {"b64": False},
        {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}},
    ],
    ids=lambda e: next(iter(e)),
)
def test_extra_jose_headers_are_refused(extra: dict[str, Any], eddsa: LocalSigner) -> None:
    token = forge(header_for(eddsa, **extra), vc_jwt_claims(make_credential()), eddsa)
    result = run(token, eddsa)
    assert_failed(result, "format", f"not allowed: {next(iter(extra))}")
    assert result.check("signature").status == "skipped"


def test_jwk_header_with_private_key_is_refused(eddsa: LocalSigner) -> None:
    jwk = {**eddsa.public_jwk, "d": "c2VjcmV0"}
    token = forge(header_for(eddsa, jwk=jwk), vc_jwt_claims(make_credential()), eddsa)
    assert_failed(run(token, eddsa), "format", "private key ('d')")


def test_typ_other_than_jwt_is_refused(eddsa: LocalSigner) -> None:
    token = forge(header_for(eddsa, typ="vc+jwt"), vc_jwt_claims(make_credential()), eddsa)
    assert_failed(run(token, eddsa), "format", "'typ' must be 'JWT'")


def test_missing_kid_is_refused(eddsa: LocalSigner) -> None:
    token = forge({"alg": "EdDSA", "typ": "JWT"}, vc_jwt_claims(make_credential()), eddsa)
    assert_failed(run(token, eddsa), "format", "'kid' missing")


def test_tampered_payload_is_refused(signer: LocalSigner) -> None:
    token = sign_credential(make_credential(), signer)
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["credentialSubject"]["achievement"]["name"] = "Black belt"
    forged = f"{head}.{b64(json.dumps(claims).encode())}.{sig}"
    assert_failed(run(forged, signer), "signature", "signature does not match")


def test_flipped_payload_byte_is_refused(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    head, payload, sig = token.split(".")
    i = len(payload) // 2
    flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
    result = run(f"{head}.{flipped}.{sig}", eddsa)
    assert not result.verified
    assert result.check("format").status == "failed" or result.check("signature").status == "failed"


def test_tampered_signature_is_refused(signer: LocalSigner) -> None:
    token = sign_credential(make_credential(), signer)
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[5] ^= 0x01
    assert_failed(run(f"{head}.{payload}.{b64(bytes(raw))}", signer), "signature", "does not match")


def test_truncated_signature_is_refused(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    head, payload, sig = token.split(".")
    short = b64(base64.urlsafe_b64decode(sig + "==")[:-6])
    assert_failed(run(f"{head}.{payload}.{short}", eddsa), "signature", "does not match")


def test_non_canonical_signature_encoding_is_refused(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    head, payload, sig = token.split(".")
    # 64 bytes -> 86 chars; the last char carries 2 unused bits that must be zero.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    twin = sig[:-1] + alphabet[last | 1]
    assert base64.urlsafe_b64decode(twin + "==") == base64.urlsafe_b64decode(sig + "==")
    assert_failed(run(f"{head}.{payload}.{twin}", eddsa), "format", "signature is not valid")


def test_oversized_token_is_refused_before_parsing(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    assert run(token, eddsa, max_token_bytes=len(token)).verified
    assert_failed(run(token, eddsa, max_token_bytes=len(token) - 1), "format", "over the")
    huge = "A" * (64 * 1024 + 1)
    assert_failed(run(f"{huge}.{huge}.{huge}", eddsa), "format", "over the 65536 cap")


@pytest.mark.parametrize("payload", [[1, 2], "credential", 42, None])
def test_non_object_payload_is_refused(payload: Any, eddsa: LocalSigner) -> None:
    assert_failed(
        run(forge(header_for(eddsa), payload, eddsa), eddsa), "format", "not a JSON object"
    )


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda t: t.replace(".", "..", 1), "expected 3 parts"),
        (lambda t: t + ".x", "expected 3 parts"),
        (lambda t: "eyJ+" + t[4:], "header is not valid base64url"),
        (
            lambda t: t.split(".")[0] + "=." + ".".join(t.split(".")[1:]),
            "header is not valid base64url",
        ),
        (lambda t: t[:10] + " " + t[10:], "not valid base64url"),
        (lambda t: t.replace(t.split(".")[0], b64(b"{not json"), 1), "header is not valid JSON"),
        (lambda t: "é" + t, "not ASCII"),
    ],
    ids=["empty-part", "four-parts", "plus-char", "padding", "space", "bad-json", "non-ascii"],
)
def test_malformed_tokens_are_refused(mangle: Any, reason: str, eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    result = run(mangle(token), eddsa)
    assert_failed(result, "format", reason)
    assert result.credential is None or reason == "not valid base64url"


def test_duplicate_json_members_are_refused(eddsa: LocalSigner) -> None:
    claims = vc_jwt_claims(make_credential())
    body = json.dumps(claims)[:-1] + ', "iss": "https://evil.example"}'
    signing_input = f"{b64(json.dumps(header_for(eddsa)).encode())}.{b64(body.encode())}"
    token = f"{signing_input}.{b64(eddsa.sign(signing_input.encode()))}"
    assert_failed(run(token, eddsa), "format", "duplicate JSON member 'iss'")


def test_junk_never_raises(eddsa: LocalSigner) -> None:
    for junk in ["", ".", "..", "a.b.c", "e30.e30.", "e30.W10.AA", "\x00", b"\xff.\xfe.\xfd"]:
        assert not run(junk, eddsa).verified


# -- claims --


def _signed_with(eddsa: LocalSigner, doc: dict[str, Any] | None = None, **changes: Any) -> str:
    claims = vc_jwt_claims(doc or make_credential(), now=NOW)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return sign_jwt(claims, eddsa)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"iss": "https://evil.example"}, "iss 'https://evil.example' does not match"),
        ({"iss": None}, "iss None does not match"),
        ({"jti": "urn:uuid:00000000-0000-4000-8000-000000000000"}, "jti"),
        ({"sub": "did:example:someone-else"}, "sub 'did:example:someone-else' does not match"),
        ({"nbf": int(NOW.timestamp())}, "nbf"),
        ({"nbf": None}, "nbf is required"),
        ({"exp": int((NOW + timedelta(days=9999)).timestamp())}, "exp"),
        ({"exp": None}, "exp must be present exactly when validUntil is"),
        ({"iat": "yesterday"}, "iat is not a NumericDate"),
    ],
    ids=["iss", "iss-missing", "jti", "sub", "nbf", "nbf-missing", "exp", "exp-missing", "iat"],
)
def test_claims_must_agree_with_the_body(
    changes: dict[str, Any], reason: str, eddsa: LocalSigner
) -> None:
    result = run(_signed_with(eddsa, **changes), eddsa)
    assert result.check("signature").status == "ok"
    assert_failed(result, "claims", reason)


def test_exp_without_valid_until_is_refused(eddsa: LocalSigner) -> None:
    doc = make_credential(valid_until=None)
    assert run(_signed_with(eddsa, doc), eddsa).verified
    token = _signed_with(eddsa, doc, exp=int((NOW + timedelta(days=1)).timestamp()))
    assert_failed(run(token, eddsa), "claims", "exp must be present exactly when validUntil is")


# -- validity --


def test_before_valid_from_fails_validity(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(valid_from=NOW + timedelta(hours=1)), eddsa)
    assert_failed(run(token, eddsa), "validity", "not valid yet")
    # within the leeway it is fine
    assert run(token, eddsa, leeway=timedelta(hours=2)).check("validity").status == "ok"


def test_after_valid_until_fails_validity(eddsa: LocalSigner) -> None:
    doc = make_credential(
        valid_from=NOW - timedelta(days=30), valid_until=NOW - timedelta(minutes=5)
    )
    token = sign_credential(doc, eddsa)
    assert_failed(run(token, eddsa), "validity", "expired")
    assert run(token, eddsa, leeway=timedelta(minutes=10)).check("validity").status == "ok"


# -- status --


def _status(bits: dict[tuple[str, int], bool]) -> Any:
    def check(entry: StatusEntry) -> bool | None:
        return bits.get((entry.purpose, entry.index))

    return check


def test_revoked_credential_fails_revocation(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(revocation_index=17, suspension_index=99), eddsa)
    clear = run(
        token, eddsa, check_status=_status({("revocation", 17): False, ("suspension", 99): False})
    )
    assert clear.verified and clear.complete
    revoked = run(
        token, eddsa, check_status=_status({("revocation", 17): True, ("suspension", 99): False})
    )
    assert_failed(revoked, "revocation", "revoked: bit 17 is set")
    assert revoked.check("suspension").status == "ok"


def test_suspended_credential_fails_suspension(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(revocation_index=17, suspension_index=99), eddsa)
    result = run(
        token, eddsa, check_status=_status({("revocation", 17): False, ("suspension", 99): True})
    )
    assert_failed(result, "suspension", "suspended: bit 99 is set")
    assert result.check("revocation").status == "ok"


def test_unknown_status_is_skipped_not_failed(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(revocation_index=17), eddsa)
    result = run(token, eddsa, check_status=_status({}))
    assert result.check("revocation").status == "skipped"
    assert result.verified and not result.complete


def test_status_checker_error_fails_the_check(eddsa: LocalSigner) -> None:
    from credentials import StatusCheckError

    def broken(entry: StatusEntry) -> bool:
        raise StatusCheckError("status list signature invalid")

    token = sign_credential(make_credential(revocation_index=17), eddsa)
    assert_failed(
        run(token, eddsa, check_status=broken), "revocation", "status list signature invalid"
    )


# -- key lifecycle --


def test_compromised_key_fails_tokens_issued_after_compromise(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa, now=NOW)  # iat = NOW
    jwk = eddsa.public_jwk

    def compromised(at: Any) -> Any:
        return lambda kid: ResolvedKey(jwk, compromised_at=at) if kid == eddsa.kid else None

    before = run(token, eddsa, resolve_key=compromised(NOW + timedelta(seconds=1)))
    assert before.verified
    after = run(token, eddsa, resolve_key=compromised(NOW))
    assert_failed(after, "signature", "was compromised at")


def test_compromised_key_without_iat_uses_nbf(eddsa: LocalSigner) -> None:
    doc = make_credential(valid_from=NOW - timedelta(days=1))
    token = sign_credential(doc, eddsa)  # no iat; nbf = NOW - 1 day
    jwk = eddsa.public_jwk
    result = run(
        token,
        eddsa,
        resolve_key=lambda kid: ResolvedKey(jwk, compromised_at=NOW - timedelta(days=2)),
    )
    assert_failed(result, "signature", "was compromised at")


def test_resolved_private_jwk_is_unusable(eddsa: LocalSigner) -> None:
    token = sign_credential(make_credential(), eddsa)
    jwk = {**eddsa.public_jwk, "d": "AAAA"}
    assert_failed(run(token, eddsa, resolve_key=lambda kid: jwk), "signature", "unusable")


# -- schema --


def test_structurally_invalid_credential_fails_schema(eddsa: LocalSigner) -> None:
    doc = make_credential()
    del doc["credentialSubject"]["achievement"]["criteria"]
    token = sign_jwt(vc_jwt_claims(doc), eddsa)  # bypasses the lint that sign_credential runs
    result = run(token, eddsa)
    assert result.check("signature").status == "ok"
    assert_failed(result, "schema", "credentialSubject.achievement.criteria")
