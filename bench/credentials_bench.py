"""Benchmark: credential signing/verification vs raw `cryptography`, measured in the same run.

Run: ``.venv/bin/python bench/credentials_bench.py [--quick]``

For each algorithm it times, interleaved over several rounds (best round kept, to shrug off
noise from other processes):

* raw sign / raw verify: `cryptography` on the same signing input, key objects preloaded;
* library sign: `sign_credential` (lint + JSON + base64url + sign);
* library verify: `verify` with every check (format, signature, claims, validity, status via an
  in-memory checker, schema lint).

It prints operations per second and the ratio library cost / raw cost. No assertions: the aim
(EdDSA library verify <= 2x raw verify) is for a human to read.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding

from credentials import (
    Achievement,
    Evidence,
    IssuerProfile,
    LocalSigner,
    StatusEntry,
    build_credential,
    generate_signing_key,
    sign_credential,
    verify,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
BASE = "https://certs.credence.example"


def sample_credential(*, small: bool = False) -> dict[str, Any]:
    """A realistic credential: ~3.2 KB as a token (three evidence items, two status entries);
    ``small`` gives the ~2 KB variant (one evidence item, one status entry, short texts)."""
    if small:
        return build_credential(
            issuer=IssuerProfile(id=BASE, name="Acme Brand Academy", url=BASE),
            achievement=Achievement(
                id=f"{BASE}/v1/levels/social-media/basic",
                name="Social media — basic",
                description="May post on brand accounts.",
                criteria_narrative="Complete **brand-voice-101** with a score of at least 80.",
                version="1",
            ),
            subject_id="urn:uuid:0f2b4d8e-8a8c-4c55-9d59-1f0c2c7c9b11",
            evidence=[Evidence(id="urn:uuid:6a1f5d7e-2a0e-4a43-9c47-0d3f1d2b3c40", name="Course")],
            valid_from=NOW - timedelta(days=3),
            valid_until=NOW + timedelta(days=730),
            status=[
                StatusEntry(
                    status_list_credential=f"{BASE}/v1/status-lists/r1",
                    index=91_811,
                    purpose="revocation",
                )
            ],
        )
    return build_credential(
        issuer=IssuerProfile(id=BASE, name="Acme Brand Academy", url=BASE),
        achievement=Achievement(
            id=f"{BASE}/v1/levels/social-media/advanced",
            name="Social media — advanced",
            description="May run paid campaigns and answer a crisis on brand accounts.",
            criteria_narrative=(
                "Complete all of: **brand-voice-101** (score ≥ 80), **crisis-comms-201** "
                "(score ≥ 75); pick 2 of: paid-social-basics, community-management, "
                "analytics-for-social; hold *Social media — basic*."
            ),
            version="4",
        ),
        subject_id="urn:uuid:0f2b4d8e-8a8c-4c55-9d59-1f0c2c7c9b11",
        evidence=[
            Evidence(id=f"urn:uuid:6a1f5d7e-2a0e-4a43-9c47-0d3f1d2b3c4{i}", name=name)
            for i, name in enumerate(["Brand voice 101", "Crisis comms 201", "Paid social"])
        ],
        valid_from=NOW - timedelta(days=3),
        valid_until=NOW + timedelta(days=730),
        status=[
            StatusEntry(
                status_list_credential=f"{BASE}/v1/status-lists/r1",
                index=91_811,
                purpose="revocation",
            ),
            StatusEntry(
                status_list_credential=f"{BASE}/v1/status-lists/s1",
                index=4_097,
                purpose="suspension",
            ),
        ],
    )


def raw_pair(alg: str, key: Any) -> tuple[Callable[[bytes], bytes], Callable[[bytes, bytes], None]]:
    pub = key.public_key()
    if alg == "EdDSA":
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        return key.sign, lambda sig, data: pub.verify(sig, data)
    if alg == "ES256":
        algo = ec.ECDSA(hashes.SHA256())
        return (lambda data: key.sign(data, algo)), (lambda sig, data: pub.verify(sig, data, algo))
    pkcs = padding.PKCS1v15()
    return (
        lambda data: key.sign(data, pkcs, hashes.SHA256()),
        lambda sig, data: pub.verify(sig, data, pkcs, hashes.SHA256()),
    )


def best_seconds_per_op(
    funcs: dict[str, Callable[[], object]], ops: int, rounds: int
) -> dict[str, float]:
    """Interleave the functions round by round; keep each one's best round."""
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(rounds):
        for name, fn in funcs.items():
            start = time.perf_counter()
            for _ in range(ops):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / ops)
    return best


def bench(alg: str, ops: int, rounds: int, *, small: bool = False) -> dict[str, float]:
    """Time raw and library sign/verify for one algorithm; seconds per operation."""
    key = generate_signing_key(alg)  # type: ignore[arg-type]
    signer = LocalSigner(key, issuer_base=BASE)
    doc = sample_credential(small=small)
    token = sign_credential(doc, signer, now=NOW)
    head, payload, _ = token.split(".")
    signing_input = f"{head}.{payload}".encode()
    raw_sign, raw_verify = raw_pair(alg, key)
    raw_sig = raw_sign(signing_input)
    keys = {signer.kid: signer.public_jwk}
    status = {91_811: False, 4_097: False}

    def lib_verify() -> None:
        result = verify(
            token,
            allowed_algorithms=("EdDSA", "ES256", "RS256"),
            resolve_key=keys.get,
            now=NOW,
            check_status=lambda entry: status[entry.index],
        )
        assert result.verified

    times = best_seconds_per_op(
        {
            "raw_sign": lambda: raw_sign(signing_input),
            "lib_sign": lambda: sign_credential(doc, signer, now=NOW),
            "raw_verify": lambda: raw_verify(raw_sig, signing_input),
            "lib_verify": lib_verify,
        },
        ops,
        rounds,
    )
    times["token_bytes"] = len(token)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations (smoke run)")
    args = parser.parse_args(argv)
    ops, rounds = (30, 3) if args.quick else (60, 30)
    print(f"credentials bench: {ops} ops x {rounds} interleaved rounds, best round per row\n")
    header = (
        f"{'alg':<6} {'token':>6} | {'raw sign/s':>10} {'lib sign/s':>10} {'ratio':>6} | "
        f"{'raw verify/s':>12} {'lib verify/s':>12} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for alg, small in (("EdDSA", False), ("ES256", False), ("RS256", False), ("EdDSA", True)):
        t = bench(alg, ops if alg != "RS256" else max(ops // 4, 10), rounds, small=small)
        print(
            f"{alg:<6} {int(t['token_bytes']):>5}B | "
            f"{1 / t['raw_sign']:>10,.0f} {1 / t['lib_sign']:>10,.0f} "
            f"{t['lib_sign'] / t['raw_sign']:>5.2f}x | "
            f"{1 / t['raw_verify']:>12,.0f} {1 / t['lib_verify']:>12,.0f} "
            f"{t['lib_verify'] / t['raw_verify']:>5.2f}x"
        )
    print("\nratio = library cost per operation / raw cryptography cost (aim: EdDSA verify <= 2x)")
    bench_data_integrity(max(ops // 6, 5), max(rounds // 3, 3))
    return 0


def bench_data_integrity(ops: int, rounds: int) -> None:
    """The Data Integrity form (eddsa-rdfc-2022: JSON-LD expansion and RDFC-1.0
    canonicalization, then Ed25519) against the VC-JWT form of the same credential, same run."""
    from credentials import verify_document
    from credentials.data_integrity import secure_credential

    key = generate_signing_key("EdDSA")
    signer = LocalSigner(key, issuer_base=BASE)
    doc = sample_credential()
    token = sign_credential(doc, signer, now=NOW)
    method = f"{BASE}/keys/{signer.public_jwk['kid']}"
    secured = secure_credential(doc, signer, verification_method=method, created=NOW)
    status = {91_811: False, 4_097: False}
    jwk = signer.public_jwk

    def jwt_verify() -> None:
        assert verify(
            token, allowed_algorithms=("EdDSA",), resolve_key=lambda _: jwk, now=NOW
        ).verified

    def di_verify() -> None:
        result = verify_document(
            secured,
            resolve_key=lambda url: jwk if url == method else None,
            now=NOW,
            check_status=lambda entry: status[entry.index],
        )
        assert result.verified

    times = best_seconds_per_op(
        {
            "jwt_sign": lambda: sign_credential(doc, signer, now=NOW),
            "di_sign": lambda: secure_credential(
                doc, signer, verification_method=method, created=NOW
            ),
            "jwt_verify": jwt_verify,
            "di_verify": di_verify,
        },
        ops,
        rounds,
    )
    print("\nData Integrity (eddsa-rdfc-2022) vs VC-JWT (EdDSA), same credential, same run:")
    for step in ("sign", "verify"):
        jwt_s, di_s = times[f"jwt_{step}"], times[f"di_{step}"]
        print(
            f"  {step:<6} VC-JWT {1 / jwt_s:>8,.0f}/s   Data Integrity {1 / di_s:>6,.0f}/s "
            f"({di_s * 1000:.1f} ms each)   Data Integrity / VC-JWT cost = {di_s / jwt_s:.0f}x"
        )


if __name__ == "__main__":
    raise SystemExit(main())
