"""Benchmark: POST /v1/verify throughput against the library's raw verify rate, same run.

Run::

    .venv/bin/python bench/verify.py                     # SQLite (a temporary file)
    .venv/bin/python bench/verify.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_bench

A PostgreSQL database named there is WIPED (schema dropped and re-migrated). Options:
``--seconds`` per measurement (default 10), ``--credentials`` (200), ``--connections`` (32),
``--workers`` (2).

It migrates a fresh database, applies the demo catalog and earns Foundations for
``--credentials`` learners through the API (in process), revoking none, so every token is a
genuine, active credential. Then, in the same run:

* library: `credentials.verify` in this process, one thread, on the same tokens with every check
  (keys from the served JWKS, status bits from the served, signature-checked status lists held
  in memory) -- the raw rate;
* floor: ``GET /healthz`` on ``credence serve --workers N`` (the app's cheapest endpoint);
* endpoint: ``POST /v1/verify`` (``application/vc+jwt``) on the same server, tokens in rotation,
  driven by wrk (``apt-get install -y wrk``).

It prints verifications per second, p50/p99 latency and the ratio endpoint / library. Aim: the
endpoint on 2 workers sustains >= 40% of the library's single-thread rate. wrk shares the 2 cores
with the server, so the ratio is conservative.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import harness  # bench/harness.py, beside this script
import httpx
from fastapi.testclient import TestClient
from harness import free_port, fresh_database, start_server
from sqlmodel import Session

from credentials import load_status_list, make_status_checker, verify
from service.api_clients.service import create_client
from service.app import create_app
from service.db import make_engine
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "service" / "catalog" / "demo" / "social-media-program.yaml"
BASE = "https://credence.bench"
ALGS = {"EdDSA", "ES256", "RS256"}


def issue(url: str, count: int, dev_key_file: str) -> tuple[list[str], dict[str, Any], list[str]]:
    """Earn Foundations for ``count`` learners; return (tokens, JWKS, status-list JWTs)."""
    settings = Settings(
        database_url=url, base_url=BASE, log_level="WARNING", dev_key_file=dev_key_file
    )
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = create_client(session, name="bench", scopes=["admin"], actor="bench")
        session.commit()
    admin = {"Authorization": f"Bearer {key}"}
    at = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    tokens: list[str] = []
    with TestClient(create_app(settings, engine=engine)) as client:
        client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**admin, "Content-Type": "application/yaml"},
        ).raise_for_status()
        for n in range(count):
            items = [
                {"learner_id": f"L{n}", "course_id": "policy-101", "completed_at": at, "score": 90},
                {"learner_id": f"L{n}", "course_id": "brand-voice-101", "completed_at": at},
            ]
            issued = []
            for item in items:
                response = client.post("/v1/completions", json=item, headers=admin)
                response.raise_for_status()
                issued += response.json()["issued"]
            credential_id = issued[0]["id"]
            token = client.get(
                f"/v1/credentials/{credential_id}",
                headers={**admin, "Accept": "application/vc+jwt"},
            ).text
            tokens.append(token)
        jwks = client.get("/.well-known/jwks.json").json()
        lists = [client.get(f"/v1/status-lists/{n}").text for n in (1, 2)]
    engine.dispose()
    return tokens, jwks, lists


def library_rate(
    tokens: list[str], jwks: dict[str, Any], list_jwts: list[str], seconds: float
) -> float:
    keys = {k["kid"]: k for k in jwks["keys"]}

    def resolve(kid: str) -> dict[str, Any] | None:
        return keys.get(kid)  # the JWKS names each key by the header kid

    now = datetime.now(UTC)
    lists = [
        load_status_list(t, allowed_algorithms=ALGS, resolve_key=resolve, now=now)
        for t in list_jwts
    ]
    checker = make_status_checker(lists, now=now)
    for token in tokens:
        result = verify(
            token, allowed_algorithms=ALGS, resolve_key=resolve, now=now, check_status=checker
        )
        # every check runs but suspension's, whose entry is published only with
        # CREDENCE_SUSPENSION_STATUS_ENTRY
        skipped = [c.name for c in result.checks if c.status == "skipped"]
        assert result.verified and skipped in ([], ["suspension"]), result.checks
    best = 0.0
    for _ in range(3):
        done, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            for token in tokens:
                verify(
                    token,
                    allowed_algorithms=ALGS,
                    resolve_key=resolve,
                    now=now,
                    check_status=checker,
                )
            done += len(tokens)
        best = max(best, done / elapsed)
    return best


LUA = """
local tokens = {%(tokens)s}
local kind = "%(kind)s"
local n = 0
request = function()
  if kind == "verify" then
    n = n + 1
    return wrk.format("POST", "/v1/verify", {["Content-Type"] = "application/vc+jwt"},
      tokens[(n %% #tokens) + 1])
  end
  return wrk.format("GET", "/healthz")
end
"""


def run_wrk(
    kind: str, port: int, tokens: list[str], seconds: int, connections: int, work: Path
) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) for ``kind`` (``verify`` or ``floor``)."""
    script = LUA % {"tokens": ", ".join(json.dumps(t) for t in tokens), "kind": kind}
    return harness.run_wrk(script, port, seconds, connections, work / f"{kind}.lua")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--credentials", type=int, default=200)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    with tempfile.TemporaryDirectory(prefix="credence-bench-verify-") as tmp:
        work = Path(tmp)
        url = args.database_url or f"sqlite:///{work / 'bench.db'}"
        dev_key = str(work / "dev-key")
        fresh_database(url)
        tokens, jwks, lists = issue(url, args.credentials, dev_key)
        raw = library_rate(tokens, jwks, lists, args.seconds)
        port = free_port()
        server = start_server(
            url,
            port,
            workers=args.workers,
            dev_key_file=dev_key,
            log=work / "server.log",
            CREDENCE_BASE_URL=BASE,
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
                for token in tokens:
                    body = client.post(
                        "/v1/verify", content=token, headers={"Content-Type": "application/vc+jwt"}
                    ).json()
                    assert body["verified"], body
            run_wrk("verify", port, tokens, 2, args.connections, work)  # warm up
            floor = run_wrk("floor", port, tokens, args.seconds, args.connections, work)
            endpoint = run_wrk("verify", port, tokens, args.seconds, args.connections, work)
        finally:
            server.terminate()
            server.wait(timeout=20)
    kind = url.split(":", 1)[0].split("+", 1)[0]
    print(
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}); {kind}; "
        f"{len(tokens)} tokens of ~{len(tokens[0])} bytes; uvicorn --workers {args.workers}; "
        f"wrk -t2 -c{args.connections}; {args.seconds}s each"
    )
    print(f"library verify (1 thread, in process) {raw:9.0f} /s")
    print(
        f"floor GET /healthz                   {floor[0]:9.0f} req/s  "
        f"p50 {floor[1]:.1f} ms  p99 {floor[2]:.1f} ms  errors {floor[3]}"
    )
    print(
        f"POST /v1/verify                      {endpoint[0]:9.0f} req/s  "
        f"p50 {endpoint[1]:.1f} ms  p99 {endpoint[2]:.1f} ms  errors {endpoint[3]}"
    )
    ratio = endpoint[0] / raw
    verdict = "meets" if ratio >= 0.4 else "MISSES"
    print(f"endpoint / library = {ratio:.2f}  ({verdict} the >= 0.40 aim)")
    print(f"endpoint / floor   = {endpoint[0] / floor[0]:.2f}")


if __name__ == "__main__":
    main()
