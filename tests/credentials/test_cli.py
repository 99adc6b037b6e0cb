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

import pytest

from credentials import (
    StatusList,
    build_status_list_credential,
    did_web_document,
    jwks_document,
    sign_credential,
    sign_status_list_credential,
)
from credentials.cli import verify_main

from .conftest import ISSUER_BASE, NOW, REVOCATION_LIST, make_credential, signer_for

PYTHON = Path(sys.executable)
NOW_ARG = "2026-11-25T10:00:00Z"


def run_cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}  # no PYTHONPATH, no venv
    return subprocess.run(
        [str(PYTHON), "-m", "credentials", *args],
        cwd=cwd,
        env=env,
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
    out = run_cli(
        "verify", str(files["token"]), "--jwks", str(files["did"]), "--now", NOW_ARG, cwd=tmp_path
    )
    assert out.returncode == 0, out.stdout + out.stderr


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


def test_remote_key_must_live_under_the_issuer(tmp_path: Path) -> None:
    """Without --jwks the kid is only fetched when it is under the issuer's own origin/DID."""
    from credentials import LocalSigner, generate_signing_key

    rogue = LocalSigner(generate_signing_key(), issuer_base="https://evil.example")
    token = sign_credential(make_credential(), rogue)  # claims issuer.example, key at evil.example
    path = tmp_path / "c.jwt"
    path.write_text(token)
    out = run_cli("verify", str(path), "--json", "--now", NOW_ARG, cwd=tmp_path)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert any("not under issuer" in note for note in doc["notes"])


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
