"""Production refuses development secrets; settings come from CREDENCE_* variables."""

from __future__ import annotations

import base64
import json
import logging
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


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


WEAK_KEYS = {
    "all-zero": (b"\0" * 32, "every byte is the same"),
    "all-ff": (b"\xff" * 32, "every byte is the same"),
    "pattern": (b"\x01\x02\x03\x04" * 8, "only 4 distinct byte values"),
    "few-values": (bytes([i % 15 for i in range(7, 39)]), "only 15 distinct byte values"),
    "counting": (bytes(range(32)), "counting sequence"),
    "counting-down": (bytes(range(255, 223, -1)), "counting sequence"),
    "passphrase": (b"correct horse battery staple 42!", "printable text"),
}


@pytest.mark.parametrize("name", list(WEAK_KEYS))
def test_production_refuses_a_low_entropy_key_encryption_key(name: str) -> None:
    raw, reason = WEAK_KEYS[name]
    production = {"env": "production", "base_url": "https://certs.example.com"}
    with pytest.raises(ValidationError) as caught:
        Settings(**production, key_encryption_key=_b64(raw))
    assert "low-entropy key-encryption key" in str(caught.value)
    assert reason in str(caught.value)
    assert _b64(raw) not in str(caught.value)
    assert Settings(key_encryption_key=_b64(raw)).kek_bytes == raw  # development: allowed
    assert Settings(**production, key_encryption_key=REAL_KEK).env == "production"


def test_settings_show_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    password = "pg-pass-" + os.urandom(6).hex()
    settings = Settings(
        key_encryption_key=REAL_KEK,
        database_url=f"postgresql+psycopg://credence:{password}@db.internal:5432/credence",
    )
    assert settings.kek_bytes == base64.b64decode(REAL_KEK)  # the value is still there...
    assert password in settings.database_url.get_secret_value()
    with caplog.at_level(logging.INFO):
        logging.getLogger("credence.test").info("settings %s %r", settings, settings)
        logging.getLogger("credence.test").info("dump %s", settings.model_dump())
    shown = "\n".join(
        [
            repr(settings),
            str(settings),
            str(settings.model_dump()),
            settings.model_dump_json(),
            json.dumps(settings.model_dump(mode="json")),
            caplog.text,
        ]
    )
    for secret in (REAL_KEK, password, base64.b64decode(REAL_KEK).hex()):
        assert secret not in shown  # ...but never printed
    assert "**********" in repr(settings)


def test_a_malformed_key_is_not_echoed_in_the_error() -> None:
    not_base64 = "not base64 but a secret " + os.urandom(4).hex()
    with pytest.raises(ValidationError) as caught:
        Settings(key_encryption_key=not_base64)
    assert "must be base64" in str(caught.value)
    assert not_base64 not in str(caught.value)


def test_serve_refuses_to_start_with_a_low_entropy_key(tmp_path) -> None:  # type: ignore[no-untyped-def]
    zero = _b64(b"\0" * 32)
    env = {
        "CREDENCE_ENV": "production",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CREDENCE_BASE_URL": "https://certs.example.com",
        "CREDENCE_KEY_ENCRYPTION_KEY": zero,
    }
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "low-entropy key-encryption key (every byte is the same)" in result.stderr
    assert zero not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_served_process_keeps_the_connection_pool_the_settings_name(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Operators size pools against PostgreSQL's max_connections: processes x (pool +
    overflow) must fit, so the served app's engine takes both from the settings."""
    from fastapi.testclient import TestClient

    from service.app import create_app

    settings = Settings(
        database_url=database.url,
        database_pool_size=3,
        database_max_overflow=1,
        dev_key_file=str(tmp_path / "key"),
        log_level="WARNING",
    )
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/readyz").status_code == 200
        pool = app.state.engine.pool
        assert (pool.size(), pool._max_overflow) == (3, 1)
