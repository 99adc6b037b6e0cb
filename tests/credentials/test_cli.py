"""Offline CLI: ``python -m credentials verify`` from a clean environment, exit codes 0/1/2."""

from __future__ import annotations

import http.server
import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from credentials import (
    IssuerProfile,
    LocalSigner,
    StatusList,
    build_status_list_credential,
    did_web_document,
    generate_signing_key,
    jwks_document,
    public_jwk,
    sign_credential,
    sign_status_list_credential,
)
from credentials.cli import verify_main

from .conftest import ISSUER_BASE, NOW, REVOCATION_LIST, make_credential, signer_for
from .servers import Certificate, make_certificate, serve

PYTHON = Path(sys.executable)
NOW_ARG = "2026-11-25T10:00:00Z"


def run_cli(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}  # no PYTHONPATH, venv
    return subprocess.run(
        [str(PYTHON), "-m", "credentials", *args],
        cwd=cwd,
        env=clean | (env or {}),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    signer = signer_for("EdDSA")
    token = sign_credential(make_credential(revocation_index=9), signer, now=NOW)
    paths = {
        "token": tmp_path / "credential.jwt",
        "jwks": tmp_path / "jwks.json",
        "other_jwks": tmp_path / "other.json",
        "did": tmp_path / "did.json",
    }
    paths["token"].write_text(token + "\n")
    paths["jwks"].write_text(json.dumps(jwks_document([signer.public_jwk])))
    paths["other_jwks"].write_text(json.dumps(jwks_document([signer_for("ES256").public_jwk])))
    paths["did"].write_text(
        json.dumps(did_web_document("did:web:issuer.example", [signer.public_jwk]))
    )
    return paths


def _status_list_file(tmp_path: Path, revoked: list[int]) -> Path:
    bits = StatusList()
    for i in revoked:
        bits.set(i)
    doc = build_status_list_credential(
        list_url=REVOCATION_LIST,
        issuer_id=ISSUER_BASE,
        purpose="revocation",
        status_list=bits,
        valid_from=NOW - timedelta(hours=1),
    )
    path = tmp_path / "revocation.jwt"
    path.write_text(sign_status_list_credential(doc, signer_for("EdDSA")))
    return path


def test_verified_credential_exits_0(files: dict[str, Path], tmp_path: Path) -> None:
    out = run_cli(
        "verify", str(files["token"]), "--jwks", str(files["jwks"]), "--now", NOW_ARG, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith("VERIFIED")
    for name in ("format", "signature", "claims", "validity", "revocation", "suspension", "schema"):
        assert name in out.stdout
    assert "Social media — basic" in out.stdout


def test_json_output(files: dict[str, Path], tmp_path: Path) -> None:
    out = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["jwks"]),
        "--json",
        "--now",
        NOW_ARG,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["verified"] is True
    assert [c["name"] for c in doc["checks"]][:2] == ["format", "signature"]
    assert doc["credential"]["type"] == ["VerifiableCredential", "OpenBadgeCredential"]


def test_stdin_input(files: dict[str, Path], tmp_path: Path) -> None:
    token = files["token"].read_text()
    out = run_cli(
        "verify", "-", "--jwks", str(files["jwks"]), "--now", NOW_ARG, cwd=tmp_path, stdin=token
    )
    assert out.returncode == 0, out.stderr


def test_did_document_as_key_source(files: dict[str, Path], tmp_path: Path) -> None:
    """A DID document says whose keys it holds: the token must name that DID as its issuer."""
    did = "did:web:issuer.example"
    key = generate_signing_key()
    did_doc = tmp_path / "issuer-did.json"
    did_doc.write_text(json.dumps(did_web_document(did, [LocalSigner(key, kid="k").public_jwk])))
    own = tmp_path / "did-issued.jwt"
    own.write_text(
        sign_credential(
            make_credential(issuer=IssuerProfile(id=did, name="A")),
            LocalSigner(key, issuer_base=did),
            now=NOW,
        )
    )
    out = run_cli("verify", str(own), "--jwks", str(did_doc), "--now", NOW_ARG, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"expected issuer {did}" in out.stdout
    # Same key, but the token claims an https issuer the DID document does not speak for.
    other = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["did"]),
        "--json",
        "--now",
        NOW_ARG,
        cwd=tmp_path,
    )
    assert other.returncode == 1, other.stdout + other.stderr
    claims = json.loads(other.stdout)["checks"][2]
    assert claims["status"] == "failed"
    assert f"not by the expected issuer '{did}'" in claims["reason"]
    mismatch = run_cli(
        "verify",
        str(own),
        "--jwks",
        str(did_doc),
        "--issuer",
        "did:web:other.example",
        cwd=tmp_path,
    )
    assert mismatch.returncode == 2
    assert "is the DID document of did:web:issuer.example, not of did:web:other.example" in (
        mismatch.stderr
    )


def test_tampered_credential_exits_1(files: dict[str, Path], tmp_path: Path) -> None:
    head, payload, sig = files["token"].read_text().strip().split(".")
    i = len(payload) // 3
    files["token"].write_text(
        f"{head}.{payload[:i]}{'A' if payload[i] != 'A' else 'B'}{payload[i + 1 :]}.{sig}"
    )
    out = run_cli(
        "verify", str(files["token"]), "--jwks", str(files["jwks"]), "--now", NOW_ARG, cwd=tmp_path
    )
    assert out.returncode == 1
    assert "NOT VERIFIED" in out.stdout


def test_wrong_keys_exit_1(files: dict[str, Path], tmp_path: Path) -> None:
    out = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["other_jwks"]),
        "--json",
        "--now",
        NOW_ARG,
        cwd=tmp_path,
    )
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert "unknown key id" in doc["checks"][1]["reason"]


def test_expired_at_given_time_exits_1(files: dict[str, Path], tmp_path: Path) -> None:
    out = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["jwks"]),
        "--now",
        "2031-01-01T00:00:00Z",
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert "expired" in out.stdout


def test_revoked_by_status_list_file_exits_1(files: dict[str, Path], tmp_path: Path) -> None:
    clear = _status_list_file(tmp_path, [1, 2])
    ok = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["jwks"]),
        "--status-list",
        str(clear),
        "--now",
        NOW_ARG,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    revoked = _status_list_file(tmp_path, [9])
    out = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["jwks"]),
        "--status-list",
        str(revoked),
        "--json",
        "--now",
        NOW_ARG,
        cwd=tmp_path,
    )
    assert out.returncode == 1
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["revocation"]["status"] == "failed"


def test_unsigned_json_status_list_is_noted(files: dict[str, Path], tmp_path: Path) -> None:
    bits = StatusList()
    doc = build_status_list_credential(
        list_url=REVOCATION_LIST,
        issuer_id=ISSUER_BASE,
        purpose="revocation",
        status_list=bits,
        valid_from=NOW,
    )
    path = tmp_path / "list.json"
    path.write_text(json.dumps(doc))
    out = run_cli(
        "verify",
        str(files["token"]),
        "--jwks",
        str(files["jwks"]),
        "--status-list",
        str(path),
        "--now",
        NOW_ARG,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "taken as is" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["verify"],
        ["verify", "missing.jwt", "--jwks", "{jwks}"],
        ["verify", "{token}", "--jwks", "missing.json"],
        ["verify", "{token}", "--jwks", "{token}"],
        ["verify", "{token}", "--jwks", "{jwks}", "--now", "yesterday"],
        ["verify", "{token}", "--jwks", "{jwks}", "--allow-alg", "HS256"],
        ["verify", "{token}", "--jwks", "{jwks}", "--status-list", "{token}"],
        ["verify", "{token}", "--bogus"],
        ["frobnicate"],
    ],
    ids=[
        "no-file",
        "missing-token",
        "missing-jwks",
        "jwks-not-json",
        "bad-now",
        "hmac-alg",
        "bad-status-list",
        "unknown-option",
        "unknown-command",
    ],
)
def test_usage_errors_exit_2(args: list[str], files: dict[str, Path], tmp_path: Path) -> None:
    argv = [a.format(token=files["token"], jwks=files["jwks"]) for a in args]
    out = run_cli(*argv, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr


def test_without_a_key_source_nothing_is_fetched(tmp_path: Path) -> None:
    """Neither --jwks nor --issuer: the token alone cannot say where its key may come from."""
    token = sign_credential(make_credential(), signer_for("EdDSA"))
    path = tmp_path / "c.jwt"
    path.write_text(token)
    out = run_cli("verify", str(path), "--now", NOW_ARG, cwd=tmp_path)
    assert out.returncode == 2
    assert "no key source: pass --issuer ISSUER" in out.stderr
    assert f"this token names issuer {ISSUER_BASE}" in out.stderr
    assert out.stdout == ""


def test_keys_are_fetched_only_from_under_the_expected_issuer(tmp_path: Path) -> None:
    """--issuer: a kid elsewhere (here the forger's own origin) is not fetched at all."""
    rogue = LocalSigner(generate_signing_key(), issuer_base="https://evil.example")
    token = sign_credential(make_credential(), rogue)  # claims issuer.example, key at evil.example
    path = tmp_path / "c.jwt"
    path.write_text(token)
    out = run_cli(
        "verify", str(path), "--issuer", ISSUER_BASE, "--json", "--now", NOW_ARG, cwd=tmp_path
    )
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["checks"][1]["status"] == "failed"
    assert doc["notes"] == [
        f"kid {rogue.kid} is not under issuer {ISSUER_BASE}'s origin; not fetched"
    ]


@pytest.mark.parametrize("issuer_option", [[], ["--issuer", "http://127.0.0.1:8000"]])
def test_an_http_issuer_is_refused_for_the_real_reason(
    issuer_option: list[str], tmp_path: Path
) -> None:
    """Issue 18: an http issuer's keys are not fetched because only https is, and it says so."""
    http_issuer = "http://127.0.0.1:8000"
    signer = LocalSigner(generate_signing_key(), issuer_base=http_issuer)
    token = sign_credential(make_credential(issuer=IssuerProfile(id=http_issuer, name="D")), signer)
    path = tmp_path / "c.jwt"
    path.write_text(token)
    out = run_cli("verify", str(path), *issuer_option, "--now", NOW_ARG, cwd=tmp_path)
    assert out.returncode == 2
    assert f"issuer {http_issuer} is plain http, and keys are only fetched over https" in (
        out.stderr
    )
    assert f"--jwks FILE --issuer {http_issuer}" in out.stderr
    assert "not under" not in out.stderr


def test_jwks_with_issuer_holds_the_token_to_it(files: dict[str, Path], tmp_path: Path) -> None:
    base = ["verify", str(files["token"]), "--jwks", str(files["jwks"]), "--json"]
    same = run_cli(*base, "--issuer", ISSUER_BASE, "--now", NOW_ARG, cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    assert json.loads(same.stdout)["notes"] == []
    other = run_cli(*base, "--issuer", "https://other.example", "--now", NOW_ARG, cwd=tmp_path)
    assert other.returncode == 1
    claims = json.loads(other.stdout)["checks"][2]
    assert claims["status"] == "failed"
    assert "not by the expected issuer 'https://other.example'" in claims["reason"]
    unchecked = run_cli(*base, "--now", NOW_ARG, cwd=tmp_path)
    assert unchecked.returncode == 0
    assert json.loads(unchecked.stdout)["notes"] == [
        "issuer not checked: --jwks without --issuer takes these keys as those of the issuer "
        f"the token names ({ISSUER_BASE}); add --issuer to hold the token to one"
    ]


@pytest.mark.parametrize("issuer", ["issuer.example", "ftp://issuer.example", "did:key:z6Mk"])
def test_a_malformed_issuer_is_a_usage_error(
    issuer: str, files: dict[str, Path], tmp_path: Path
) -> None:
    out = run_cli("verify", str(files["token"]), "--issuer", issuer, cwd=tmp_path)
    assert out.returncode == 2
    assert f"--issuer {issuer!r}" in out.stderr


@pytest.fixture
def tls(tmp_path: Path) -> Certificate:
    return make_certificate(tmp_path)


def _issued_by(origin: str, tmp_path: Path, name: str) -> tuple[Path, str, bytes]:
    """A credential issued by ``origin``, the path of its header kid (``/keys/<thumbprint>``)
    and the one JWK that origin serves there."""
    signer = LocalSigner(generate_signing_key(), issuer_base=origin)
    credential = make_credential(issuer=IssuerProfile(id=origin, name=name, url=origin))
    path = tmp_path / f"{name}.jwt"
    path.write_text(sign_credential(credential, signer))
    key_path = urlsplit(signer.kid).path
    return path, key_path, json.dumps({**signer.public_jwk, "kid": signer.kid}).encode()


def test_issuer_keys_fetched_over_https_and_a_look_alike_refused(
    tls: Certificate, tmp_path: Path
) -> None:
    """Real HTTPS issuers on this machine (a certificate the subprocess trusts, as a public CA's
    would be): the expected issuer verifies; a forger with a valid certificate of its own does
    not, however the verifier is called; a downgrade redirect of the issuer's keys stops it."""
    env = {"SSL_CERT_FILE": str(tls.cert)}
    with serve(tls) as issuer, serve(tls) as forger, serve() as plain:
        forger_origin = f"https://localhost:{forger.port}"
        real, real_key_path, real_key = _issued_by(issuer.origin, tmp_path, "real")
        forged, forged_key_path, forged_key = _issued_by(forger_origin, tmp_path, "forged")
        issuer.body(real_key_path, real_key)
        forger.body(forged_key_path, forged_key)
        ok = run_cli("verify", str(real), "--issuer", issuer.origin, cwd=tmp_path, env=env)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert issuer.requests == [real_key_path]  # the header kid, dereferenced
        # a credential of the earlier kid form (<origin>/.well-known/jwks.json#<thumbprint>)
        # still verifies against today's JWKS, whose kids are the key URLs
        old_key = generate_signing_key()
        thumb = public_jwk(old_key)["kid"]
        old_signer = LocalSigner(old_key, kid=f"{issuer.origin}/.well-known/jwks.json#{thumb}")
        old = tmp_path / "old.jwt"
        old.write_text(
            sign_credential(
                make_credential(issuer=IssuerProfile(id=issuer.origin, name="real")), old_signer
            )
        )
        today = jwks_document([{**public_jwk(old_key), "kid": f"{issuer.origin}/keys/{thumb}"}])
        issuer.body("/.well-known/jwks.json", json.dumps(today).encode())
        legacy = run_cli("verify", str(old), "--issuer", issuer.origin, cwd=tmp_path, env=env)
        assert legacy.returncode == 0, legacy.stdout + legacy.stderr
        refused = run_cli("verify", str(forged), cwd=tmp_path, env=env)
        assert refused.returncode == 2
        assert "no key source" in refused.stderr
        held = run_cli(
            "verify", str(forged), "--issuer", issuer.origin, "--json", cwd=tmp_path, env=env
        )
        assert held.returncode == 1, held.stdout + held.stderr
        assert "not under issuer" in json.loads(held.stdout)["notes"][0]
        assert forger.requests == []  # the forger's server was never asked for anything
        plain.body("/key.json", forged_key)
        issuer.redirect(real_key_path, f"http://127.0.0.1:{plain.port}/key.json")
        downgraded = run_cli("verify", str(real), "--issuer", issuer.origin, cwd=tmp_path, env=env)
        assert downgraded.returncode == 2
        assert "redirect from https down to http" in downgraded.stderr
        assert plain.requests == []


@pytest.fixture
def served_jwks() -> Iterator[str]:
    body = json.dumps(jwks_document([signer_for("EdDSA").public_jwk])).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def test_in_process_verify_main_with_jwks_url(files: dict[str, Path], served_jwks: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = verify_main(
        [str(files["token"]), "--jwks", served_jwks, "--now", NOW_ARG], stdout=out, stderr=err
    )
    assert code == 0, out.getvalue() + err.getvalue()
    assert "VERIFIED" in out.getvalue()


def test_unreachable_url_is_a_usage_error(files: dict[str, Path]) -> None:
    err = io.StringIO()
    code = verify_main(
        [str(files["token"]), "--jwks", "http://127.0.0.1:9/jwks.json"],
        stdout=io.StringIO(),
        stderr=err,
    )
    assert code == 2
    assert "cannot fetch" in err.getvalue()


def test_help_from_a_clean_shell(tmp_path: Path) -> None:
    out = run_cli("verify", "--help", cwd=tmp_path)
    assert out.returncode == 0
    assert "--status-list" in out.stdout
