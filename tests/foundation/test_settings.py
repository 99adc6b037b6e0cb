"""Production refuses development secrets; settings come from CREDENCE_* variables."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from service.settings import Settings

REAL_KEK = base64.b64encode(os.urandom(32)).decode()


def test_production_refuses_the_development_key_encryption_key(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CREDENCE_ENV", "production")
    monkeypatch.setenv("CREDENCE_BASE_URL", "https://certs.example.com")
    with pytest.raises(ValidationError, match="development key-encryption key"):
        Settings()
    monkeypatch.setenv("CREDENCE_KEY_ENCRYPTION_KEY", REAL_KEK)
    assert Settings().env == "production"


def test_production_needs_https_and_kek_must_be_32_bytes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match="https"):
        Settings(env="production", key_encryption_key=REAL_KEK, base_url="http://x.example")
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(key_encryption_key=base64.b64encode(b"short").decode())


def test_serve_refuses_to_start_in_production_with_development_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "CREDENCE_ENV": "production",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CREDENCE_BASE_URL": "https://certs.example.com",
    }
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "development key-encryption key" in result.stderr
