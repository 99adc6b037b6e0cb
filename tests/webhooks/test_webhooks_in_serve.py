"""``CREDENCE_WEBHOOK_IN_SERVE=true``: the delivery worker runs inside each served process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.robustness.live import prepare, start
from tests.webhooks.conftest import Receiver, earn_foundations, payloads, subscribe


@pytest.mark.slow
def test_a_served_process_delivers_webhooks_itself(
    live_db: str, tmp_path: Path, receiver: Receiver
) -> None:
    env, key = prepare(live_db, tmp_path)
    env |= {
        "CREDENCE_WEBHOOK_IN_SERVE": "true",
        "CREDENCE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "CREDENCE_WEBHOOK_POLL_INTERVAL": "0.2",
    }
    server = start(env, key, tmp_path, workers=2)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            subscribe(client, headers, receiver, events=["credential.issued"])
            issued = [earn_foundations(client, headers, f"ana{i}") for i in range(3)]
            assert receiver.wait_for(3, timeout=60), server.log.read_text()[-2000:]
    finally:
        server.stop()  # SIGTERM: the workers stop with the server
    assert server.process.returncode == 0
    delivered = sorted(p["data"]["credential"] for p in payloads(receiver))
    assert delivered == sorted(c["id"] for c in issued)  # each once, none twice
    assert not receiver.bad_signatures
