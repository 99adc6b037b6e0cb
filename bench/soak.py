"""Load soak: a bounded, steady mixed workload against 2 workers on PostgreSQL.

Run::

    CREDENCE_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/credence_soak \\
        .venv/bin/python bench/soak.py [--seconds 60] [--rate 100]

The database named there is WIPED (schema dropped, re-migrated). The mix, per second at a steady
rate: 40% permission checks, 20% completions (some issue credentials), 20% verifications of an
issued credential, 20% catalog reads. Prints throughput, p50/p99 per operation, errors (must be
0) and the resident memory of the server processes after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.db import make_engine  # noqa: E402
from tests.robustness.live import prepare, start  # noqa: E402

MIX = (("check", 0.4), ("completion", 0.2), ("verify", 0.2), ("catalog", 0.2))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def server_pids(master: int) -> list[int]:
    children = subprocess.run(
        ["pgrep", "-P", str(master)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [master, *map(int, children)]


def wipe(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


async def seed(client: httpx.AsyncClient, learners: int) -> str:
    """Learners with Foundations; returns one credential JWT to verify."""
    items = []
    for n in range(learners):
        for course, score in (("policy-101", 90), ("brand-voice-101", None)):
            items.append(
                {
                    "learner_id": f"soak-{n}",
                    "course_id": course,
                    "completed_at": "2026-10-01T09:00:00Z",
                    "score": score,
                    "external_id": f"seed-{n}-{course}",
                    "learner": {"attributes": {"region": random.choice(["EU", "US", "BR"])}},
                }
            )
    for start_at in range(0, len(items), 200):
        response = await client.post(
            "/v1/completions/batch", json={"items": items[start_at : start_at + 200]}
        )
        response.raise_for_status()
    listed = await client.get("/v1/credentials?limit=1")
    credential_id = listed.json()["items"][0]["id"]
    jwt = await client.get(
        f"/v1/credentials/{credential_id}", headers={"Accept": "application/vc+jwt"}
    )
    return jwt.text


async def run(
    url: str, key: str, seconds: float, rate: float, learners: int, jwt: str
) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {name: [] for name, _ in MIX}
    errors: dict[str, int] = {name: 0 for name, _ in MIX}
    rng = random.Random(5)
    names = [n for n, _ in MIX]
    weights = [w for _, w in MIX]
    counter = 0
    programs = [
        "post-on-brand-accounts",
        "run-paid-campaigns",
        "host-live-events",
        "respond-to-crisis",
    ]
    headers = {"Authorization": f"Bearer {key}"}
    run_id = f"{time.time_ns():x}"  # fresh idempotency keys for every run
    statuses: dict[str, dict[int, int]] = {name: {} for name, _ in MIX}

    async def one(client: httpx.AsyncClient, op: str, n: int) -> None:
        started = time.perf_counter()
        try:
            if op == "check":
                r = await client.get(
                    "/v1/permissions/check",
                    params={
                        "learner_id": f"soak-{rng.randrange(learners)}",
                        "program": rng.choice(programs),
                    },
                )
            elif op == "completion":
                r = await client.post(
                    "/v1/completions",
                    json={
                        "learner_id": f"soak-new-{run_id}-{n}",
                        "course_id": rng.choice(["policy-101", "brand-voice-101"]),
                        "completed_at": "2026-11-01T09:00:00Z",
                        "score": 95,
                        "external_id": f"soak-{run_id}-{n}",
                    },
                )
            elif op == "verify":
                r = await client.post(
                    "/v1/verify", content=jwt, headers={"Content-Type": "application/vc+jwt"}
                )
            else:
                r = await client.get("/v1/catalog")
            if r.status_code >= 400:
                errors[op] += 1
                statuses[op][r.status_code] = statuses[op].get(r.status_code, 0) + 1
        except httpx.HTTPError:
            errors[op] += 1
        latencies[op].append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, limits=limits
    ) as client:
        tasks = []
        begin = time.perf_counter()
        while (elapsed := time.perf_counter() - begin) < seconds:
            due = int(elapsed * rate)
            while counter < due:
                tasks.append(
                    asyncio.create_task(one(client, rng.choices(names, weights)[0], counter))
                )
                counter += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
    for op, codes in statuses.items():
        if codes:
            print(f"  {op} errors by status: {codes}")
    latencies["_errors"] = [float(sum(errors.values()))]
    for op, count in errors.items():
        latencies[f"_errors_{op}"] = [float(count)]
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "CREDENCE_BENCH_POSTGRES_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/credence_soak",
        ),
    )
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=100, help="requests per second")
    parser.add_argument("--learners", type=int, default=300)
    args = parser.parse_args()

    wipe(args.postgres_url)
    tmp = Path(tempfile.mkdtemp(prefix="credence-soak-"))
    env, key = prepare(args.postgres_url, tmp)
    server = start(env, key, tmp, workers=2)
    try:

        async def seeded() -> str:
            async with httpx.AsyncClient(
                base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as c:
                return await seed(c, args.learners)

        jwt = asyncio.run(seeded())
        asyncio.run(run(server.url, key, 5, args.rate, args.learners, jwt))  # warm-up
        pids = server_pids(server.process.pid)
        before = {pid: rss_kib(pid) for pid in pids}
        results = asyncio.run(run(server.url, key, args.seconds, args.rate, args.learners, jwt))
        after = {pid: rss_kib(pid) for pid in pids}
    finally:
        server.stop()
    total = sum(len(v) for k, v in results.items() if not k.startswith("_"))
    print(f"soak: {args.seconds:.0f} s at {args.rate:.0f} req/s target, 2 workers, PostgreSQL")
    print(f"throughput: {total / args.seconds:.1f} req/s ({total} requests)")
    print(f"{'operation':<12} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for op, _ in MIX:
        values = results[op]
        print(
            f"{op:<12} {len(values):>7} {pct(values, 0.5):>8.1f} {pct(values, 0.99):>8.1f} "
            f"{int(results[f'_errors_{op}'][0]):>7}"
        )
    print(f"errors: {int(results['_errors'][0])} (must be 0)")
    for pid in pids:
        growth = after.get(pid, 0) - before.get(pid, 0)
        print(
            f"rss pid {pid}: {before.get(pid, 0) / 1024:.1f} MiB -> "
            f"{after.get(pid, 0) / 1024:.1f} MiB ({growth / 1024:+.1f} MiB)"
        )
    print(
        f"(mean latency {statistics.mean(v for op, _ in MIX for v in results[op]) * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    main()
