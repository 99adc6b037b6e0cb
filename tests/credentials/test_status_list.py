"""Bitstring Status List: bits, encodedList, allocation, list credentials and checkers."""

from __future__ import annotations

import base64
import gzip
import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credentials import (
    MIN_STATUS_LIST_ENTRIES,
    DecodedStatusList,
    MisuseError,
    StatusEntry,
    StatusList,
    StatusListError,
    StatusListFullError,
    TokenError,
    allocate_random_free_index,
    build_status_list_credential,
    load_status_list,
    make_status_checker,
    sign_credential,
    sign_status_list_credential,
    verify,
)

from .conftest import (
    ALL_ALGS,
    ISSUER_BASE,
    NOW,
    REVOCATION_LIST,
    SUSPENSION_LIST,
    load_spec,
    make_credential,
    resolver,
    signer_for,
)


def test_default_size_and_bit_order() -> None:
    bits = StatusList()
    assert len(bits) == MIN_STATUS_LIST_ENTRIES == 131_072
    bits.set(0)
    bits.set(9)
    raw = bits.to_bytes()
    assert raw[0] == 0b1000_0000  # index 0 is the most significant bit of byte 0
    assert raw[1] == 0b0100_0000
    assert bits.get(0) and bits.get(9) and not bits.get(1)
    bits.set(0, False)
    assert not bits.get(0) and bits.set_indexes() == [9]


def test_out_of_range_and_small_lists_are_misuse() -> None:
    bits = StatusList()
    for bad in (-1, 131_072):
        with pytest.raises(MisuseError):
            bits.get(bad)
    with pytest.raises(MisuseError):
        StatusList(1024)


@settings(max_examples=50, deadline=None)
@given(st.sets(st.integers(min_value=0, max_value=MIN_STATUS_LIST_ENTRIES - 1), max_size=200))
def test_encode_decode_round_trip(indexes: set[int]) -> None:
    bits = StatusList()
    for i in indexes:
        bits.set(i)
    encoded = bits.encode()
    assert encoded.startswith("u") and "=" not in encoded
    assert set(encoded[1:]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    decoded = StatusList.decode(encoded)
    assert decoded.set_indexes() == sorted(indexes)
    assert decoded.to_bytes() == bits.to_bytes()
    raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    assert gzip.decompress(raw) == bits.to_bytes()  # plain GZIP any BSL verifier can read


def test_1edtech_test_vector_has_only_index_23() -> None:
    doc = load_spec("example_bitstringstatuslistcredential_1edtech_testlist.json")
    bits = StatusList.decode(doc["credentialSubject"]["encodedList"])
    assert len(bits) == 131_072
    assert bits.set_indexes() == [23]
    assert bits.to_bytes()[2] == 0x01


def test_w3c_example_list_is_all_clear() -> None:
    doc = load_spec("w3c_bsl_example3_bitstringstatuslistcredential.json")
    assert StatusList.decode(doc["credentialSubject"]["encodedList"]).set_indexes() == []


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        (StatusList().encode()[1:], "starting with 'u'"),
        (StatusList().encode() + "=", "base64url"),
        ("u" + base64.urlsafe_b64encode(b"not gzip").decode().rstrip("="), "GZIP"),
        ("u" + base64.urlsafe_b64encode(gzip.compress(bytes(1024))).decode().rstrip("="), "fewer"),
        (
            "u"
            + base64.urlsafe_b64encode(gzip.compress(bytes(16384)) + b"junk").decode().rstrip("="),
            "trailing",
        ),
    ],
    ids=["no-prefix", "padding", "not-gzip", "too-small", "trailing-data"],
)
def test_decode_refuses_malformed_lists(encoded: str, reason: str) -> None:
    with pytest.raises(StatusListError, match=reason):
        StatusList.decode(encoded)


def test_decode_caps_inflated_size() -> None:
    bomb = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(8 * 1024 * 1024))).decode().rstrip(
        "="
    )
    with pytest.raises(StatusListError, match="inflates beyond"):
        StatusList.decode(bomb, max_bytes=1024 * 1024)


# -- allocation --


def test_allocation_is_random_and_avoids_used_indexes() -> None:
    rng = random.Random(7)
    used: set[int] = set()
    for _ in range(500):
        index = allocate_random_free_index(MIN_STATUS_LIST_ENTRIES, used, rng=rng)
        assert index not in used
        used.add(index)
    assert max(used) > MIN_STATUS_LIST_ENTRIES // 2  # not handed out sequentially
    assert sorted(used) != list(range(500))


def test_allocation_finds_the_last_free_slot_and_reports_full() -> None:
    size = 1000
    used = set(range(size)) - {613}
    assert allocate_random_free_index(size, used.__contains__, rng=random.Random(1)) == 613
    with pytest.raises(StatusListFullError):
        allocate_random_free_index(size, set(range(size)), rng=random.Random(1))


# -- status-list credentials and checkers --


def _signed_list(url: str, purpose: str, set_bits: list[int], alg: str = "EdDSA") -> str:
    bits = StatusList()
    for i in set_bits:
        bits.set(i)
    doc = build_status_list_credential(
        list_url=url,
        issuer_id=ISSUER_BASE,
        purpose=purpose,
        status_list=bits,
        valid_from=NOW - timedelta(minutes=1),
        valid_until=NOW + timedelta(days=1),
    )
    assert doc["credentialSubject"] == {
        "id": f"{url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": bits.encode(),
    }
    return sign_status_list_credential(doc, signer_for(alg), now=NOW)


def _load(token: str) -> DecodedStatusList:
    return load_status_list(
        token, allowed_algorithms=ALL_ALGS, resolve_key=resolver(signer_for("EdDSA")), now=NOW
    )


@pytest.mark.parametrize("revoked", [False, True])
def test_verify_with_signed_status_lists(revoked: bool) -> None:
    signer = signer_for("EdDSA")
    token = sign_credential(make_credential(revocation_index=4242, suspension_index=77), signer)
    lists = [
        _load(_signed_list(REVOCATION_LIST, "revocation", [4242] if revoked else [1, 2, 3])),
        _load(_signed_list(SUSPENSION_LIST, "suspension", [76, 78])),
    ]
    result = verify(
        token,
        allowed_algorithms=ALL_ALGS,
        resolve_key=resolver(signer),
        now=NOW,
        check_status=make_status_checker(lists, now=NOW),
    )
    assert result.check("suspension").status == "ok"
    if revoked:
        assert not result.verified
        assert result.check("revocation").status == "failed"
        assert "bit 4242 is set" in result.check("revocation").reason
    else:
        assert result.verified and result.complete


def test_tampered_status_list_jwt_is_refused() -> None:
    token = _signed_list(REVOCATION_LIST, "revocation", [])
    head, payload, sig = token.split(".")
    flipped = payload[:40] + ("A" if payload[40] != "A" else "B") + payload[41:]
    with pytest.raises(TokenError):
        _load(f"{head}.{flipped}.{sig}")


def test_status_list_from_unknown_key_is_refused() -> None:
    token = _signed_list(REVOCATION_LIST, "revocation", [], alg="ES256")  # key not in resolver
    with pytest.raises(TokenError, match="unknown key id"):
        _load(token)


def test_purpose_mismatch_fails_the_check() -> None:
    signer = signer_for("EdDSA")
    token = sign_credential(make_credential(revocation_index=5), signer)
    # A suspension list published at the URL the revocation entry points to.
    wrong = _load(_signed_list(REVOCATION_LIST, "suspension", []))
    result = verify(
        token,
        allowed_algorithms=ALL_ALGS,
        resolve_key=resolver(signer),
        now=NOW,
        check_status=make_status_checker([wrong]),
    )
    assert result.check("revocation").status == "failed"
    assert "not revocation" in result.check("revocation").reason


def test_expired_status_list_fails_the_check() -> None:
    listed = _load(_signed_list(REVOCATION_LIST, "revocation", []))
    check = make_status_checker([listed], now=NOW + timedelta(days=2))
    from credentials import StatusCheckError

    entry = StatusEntry(status_list_credential=REVOCATION_LIST, index=1, purpose="revocation")
    with pytest.raises(StatusCheckError, match="expired"):
        check(entry)
    other = StatusEntry(status_list_credential=SUSPENSION_LIST, index=1, purpose="suspension")
    assert check(other) is None


def test_unsigned_json_list_needs_explicit_consent() -> None:
    doc = load_spec("example_bitstringstatuslistcredential_1edtech_testlist.json")
    with pytest.raises(MisuseError):
        load_status_list(doc)
    listed = load_status_list(doc, allow_unsigned=True)
    assert not listed.signed
    check = make_status_checker([listed])
    url = doc["id"]
    assert check(StatusEntry(status_list_credential=url, index=23, purpose="revocation")) is True
    assert check(StatusEntry(status_list_credential=url, index=22, purpose="revocation")) is False
