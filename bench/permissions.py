"""Benchmark: the permission check against a constant endpoint of the same app, same run.

Run::

    .venv/bin/python bench/permissions.py                      # SQLite only
    CREDENCE_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/credence_bench \\
        .venv/bin/python bench/permissions.py                  # SQLite and PostgreSQL

The PostgreSQL database named there is WIPED (schema dropped and re-migrated). Options:
``--seconds`` per measurement (default 10), ``--learners`` (10,000), ``--connections`` (64),
``--skip-sqlite``, ``--postgres-url``.

For each database it migrates a fresh schema, applies the demo catalog, bulk-inserts a realistic
data set with Core (``bench/dataset.py``: per learner three years of history, about six
credentials with status events, superseded renewals, revocations, suspensions, status-list slots,
attribute history, completions and audit events), starts
``credence serve --workers 2`` and drives it with wrk (``apt-get install -y wrk``; without wrk an
httpx-based load generator is used, which is itself CPU-bound and understates every figure).

It measures, each for ``--seconds``:

* check-cold: the check right after start, while each process reads every learner for the
  first time (its facts cache filling; reported, not compared), then a second such run
  ("warming") by the end of which each process has seen nearly every learner;
* floor: ``GET /healthz`` (``async def``, returns a constant: the app's cheapest endpoint);
* check: ``GET /v1/permissions/check`` for a random learner and program kind;
* batch: ``POST /v1/permissions/check`` with 100 random checks.

and prints requests/s, p50/p99 latency and the ratios. Aims: check >= 0.5x the floor's
requests/s with p99 < 3x the floor's p99; one batch of 100 costs less than 10 single checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dataset  # noqa: E402  (bench/dataset.py, beside this script)
import harness  # noqa: E402  (bench/harness.py, beside this script)
from harness import free_port, fresh_database, start_server  # noqa: E402

from service.app import create_app  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.models import metadata  # noqa: E402
from service.settings import Settings  # noqa: E402

DEMO = ROOT / "service" / "catalog" / "demo" / "social-media-program.yaml"
PROGRAMS = ["post-on-brand-accounts", "run-paid-campaigns", "host-live-events", "respond-to-crisis"]
# Stored inline by SQLite (as a real VC-JWT of ~3.2 KB would be); see dataset.STORED_JWT.
FAKE_JWT = "eyJhbGciOiJFZERTQSIsImtpZCI6ImRldiIsInR5cCI6IkpXVCJ9." + "x" * 1400 + ".sig"


# ----------------------------------------------------------------------------- data set


def apply_catalog(url: str, dev_key_file: str) -> str:
    """Apply the demo catalog through the API (in-process); returns a permissions:check key."""
    settings = Settings(database_url=url, log_level="WARNING", dev_key_file=dev_key_file)
    admin, checker = harness.bench_keys(url)
    engine = make_engine(url)
    with TestClient(create_app(settings, engine=engine)) as client:
        response = client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/yaml"},
        )
        response.raise_for_status()
    engine.dispose()
    return checker


def seed(url: str, learners: int) -> dict[str, int]:
    """Bulk-insert learners with three years of history (``bench/dataset.py``) with Core."""
    tables = metadata.tables
    counts = dict.fromkeys(dataset.COLUMNS, 0)
    engine = make_engine(url)
    with engine.begin() as connection:
        start = dataset.start_of(connection)
        batches: dict[str, list[dict[str, Any]]] = {name: [] for name in dataset.COLUMNS}
        pending = 0

        def flush() -> None:
            # Parents first: a row's learner, credential or list came earlier in the data set.
            for name, batch in batches.items():
                if batch:
                    connection.execute(tables[name].insert(), batch)
                    counts[name] += len(batch)
                    batch.clear()

        for name, values in dataset.rows(dataset.Learners(learners), start, jwt=FAKE_JWT):
            batches[name].append(dict(zip(dataset.COLUMNS[name], values, strict=True)))
            pending += 1
            if pending >= 20_000:
                flush()
                pending = 0
        flush()
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return counts


# ----------------------------------------------------------------------------- load


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def batch_bodies(learners: int, count: int = 20, size: int = 100) -> list[str]:
    rng = random.Random(7)
    return [
        json.dumps(
            {
                "checks": [
                    {"learner_id": f"L{rng.randrange(learners)}", "program": rng.choice(PROGRAMS)}
                    for _ in range(size)
                ]
            }
        )
        for _ in range(count)
    ]


LUA = """
%(seeding)s
local programs = {%(programs)s}
local bodies = {%(bodies)s}
local key = "%(key)s"
local kind = "%(kind)s"
local learners = %(learners)d
request = function()
  if kind == "check" then
    local path = "/v1/permissions/check?learner_id=L" .. math.random(0, learners - 1)
      .. "&program=" .. programs[math.random(#programs)]
    return wrk.format("GET", path, {["Authorization"] = "Bearer " .. key})
  elseif kind == "batch" then
    return wrk.format("POST", "/v1/permissions/check",
      {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"},
      bodies[math.random(#bodies)])
  end
  return wrk.format("GET", "/healthz")
end
"""


def run_wrk(
    kind: str, port: int, key: str, learners: int, seconds: int, connections: int, work: Path
) -> Result:
    bodies = ", ".join(json.dumps(b) for b in batch_bodies(learners)) if kind == "batch" else ""
    script = LUA % {
        "seeding": harness.wrk_seed(port),
        "programs": ", ".join(f'"{p}"' for p in PROGRAMS),
        "bodies": bodies,
        "key": key,
        "kind": kind,
        "learners": learners,
    }
    rps, p50, p99, errors = harness.run_wrk(
        script, port, seconds, connections, work / f"{kind}.lua"
    )
    return Result(kind, rps, p50, p99, errors)


def run_httpx(
    kind: str, port: int, key: str, learners: int, seconds: int, connections: int
) -> Result:
    """Fallback load generator (no wrk): asyncio + httpx, closed loop, ``connections`` workers."""
    bodies = batch_bodies(learners)
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, until: float) -> None:
        nonlocal errors
        rng = random.Random()
        headers = {"Authorization": f"Bearer {key}"}
        while time.perf_counter() < until:
            started = time.perf_counter()
            if kind == "check":
                params = {
                    "learner_id": f"L{rng.randrange(learners)}",
                    "program": rng.choice(PROGRAMS),
                }
                response = await client.get("/v1/permissions/check", params=params, headers=headers)
            elif kind == "batch":
                response = await client.post(
                    "/v1/permissions/check",
                    content=rng.choice(bodies),
                    headers={**headers, "Content-Type": "application/json"},
                )
            else:
                response = await client.get("/healthz")
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    async def main() -> float:
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            started = time.perf_counter()
            until = started + seconds
            await asyncio.gather(*(worker(client, until) for _ in range(connections)))
            return time.perf_counter() - started

    duration = asyncio.run(main())
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(kind, len(latencies) / duration, quantiles[49] * 1e3, quantiles[98] * 1e3, errors)


# ----------------------------------------------------------------------------- report


def bench_backend(label: str, url: str, args: argparse.Namespace, work: Path) -> list[Result]:
    print(f"\n== {label}: preparing {url}", flush=True)
    started = time.perf_counter()
    fresh_database(url)
    dev_key_file = str(work / f"{label}-dev-key")
    key = apply_catalog(url, dev_key_file)
    counts = seed(url, args.learners)
    print(
        "   seeded in {:.1f} s: {}".format(
            time.perf_counter() - started, ", ".join(f"{k} {v:,}" for k, v in counts.items())
        ),
        flush=True,
    )
    port = free_port()
    process = start_server(
        url, port, workers=2, dev_key_file=dev_key_file, log=work / f"{label}-server.log"
    )
    try:
        probe = httpx.get(
            f"http://127.0.0.1:{port}/v1/permissions/check",
            params={"learner_id": "L1", "program": "run-paid-campaigns"},
            headers={"Authorization": f"Bearer {key}"},
        )
        probe.raise_for_status()
        use_wrk = shutil.which("wrk") is not None

        def measure(kind: str, seconds: int) -> Result:
            if use_wrk:
                return run_wrk(kind, port, key, args.learners, seconds, args.connections, work)
            return run_httpx(kind, port, key, args.learners, seconds, args.connections)

        def show(label: str, result: Result) -> None:
            print(
                f"   {label:<10} {result.rps:>9,.0f} req/s   p50 {result.p50_ms:7.2f} ms   "
                f"p99 {result.p99_ms:7.2f} ms   errors {result.errors}",
                flush=True,
            )

        # First the checks on a cold process: every learner's facts are read and parsed on
        # first sight (then kept while the learner's facts revision stands).
        show("check-cold", measure("check", args.seconds))
        show("warming", measure("check", args.seconds))  # nearly every learner seen by now
        results = []
        for kind in ("floor", "check", "batch"):
            measure(kind, 1)  # warm-up: connections, prepared statements
            result = measure(kind, args.seconds)
            results.append(result)
            show(kind, result)
        return results
    finally:
        process.terminate()
        process.wait(timeout=20)


def summarise(label: str, results: list[Result]) -> None:
    floor, single, batch = results
    rps_ratio = single.rps / floor.rps
    p99_ratio = single.p99_ms / floor.p99_ms if floor.p99_ms else float("inf")
    batch_cost = single.rps / batch.rps  # one batch of 100 costs this many single checks
    print(f"\n   {label} summary")
    print(
        f"   check / floor requests/s: {rps_ratio:.2f}  (aim >= 0.50)  "
        f"{'OK' if rps_ratio >= 0.5 else 'MISSED'}"
    )
    print(
        f"   check / floor p99:        {p99_ratio:.2f}  (aim < 3)      "
        f"{'OK' if p99_ratio < 3 else 'MISSED'}"
    )
    print(
        f"   batch of 100 costs {batch_cost:.1f} single checks (aim < 10)  "
        f"{'OK' if batch_cost < 10 else 'MISSED'}; {batch.rps * 100:,.0f} checks/s in batches"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CREDENCE_BENCH_POSTGRES_URL"),
        help="PostgreSQL to WIPE and use (default $CREDENCE_BENCH_POSTGRES_URL; none: skip)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(
            "wrk not found: install it with `apt-get install -y wrk` (Debian/Ubuntu) for real "
            "figures; falling back to an httpx load generator, which is itself CPU-bound."
        )
    print(
        f"{os.cpu_count()} CPUs; uvicorn --workers 2; {args.connections} connections; "
        f"{args.seconds} s per measurement; {args.learners:,} learners"
    )
    backends: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="credence-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_sqlite:
            backends.append(("sqlite", f"sqlite:///{work / 'bench.db'}"))
        if args.postgres_url:
            backends.append(("postgresql", args.postgres_url))
        else:
            print("No --postgres-url / CREDENCE_BENCH_POSTGRES_URL: PostgreSQL skipped.")
        summaries = [(label, bench_backend(label, url, args, work)) for label, url in backends]
        for label, results in summaries:
            summarise(label, results)


if __name__ == "__main__":
    main()
