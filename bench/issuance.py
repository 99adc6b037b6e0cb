"""Benchmark: completion ingestion and issuance through a real server, against the library's raw
signing rate measured in the same run.

Run: ``.venv/bin/python bench/issuance.py [--db sqlite|postgresql|both] [--pg-url URL]
[--learners N] [--single N]``

For each database it migrates a fresh database (``python -m service.cli db upgrade``), starts
``python -m service.cli serve`` (one uvicorn worker), applies the demo catalog and posts, over
real HTTP:

* **batch**: ``POST /v1/completions/batch`` with 999 items per request, three completions per
  learner (policy-101 with 90, brand-voice-101, disclosure-101), so every third completion
  issues a Social Media Foundations credential (signed, two status slots, audit event);
* **single**: ``POST /v1/completions`` one at a time from 4 client threads, same mix.

It prints completions/s and credentials/s, and the ratio of credentials/s to the raw
``sign_credential`` rate (the ceiling if signing were the only cost). The aim: batch ingestion
>= 2,000 completions/s on a 2-core machine. The PostgreSQL URL is reset (schema dropped).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from credentials import (
    Achievement,
    Evidence,
    IssuerProfile,
    LocalSigner,
    StatusEntry,
    build_credential,
    generate_signing_key,
    sign_credential,
)
from service.api_clients.service import create_client
from service.db import make_engine

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
COURSES = ("policy-101", "brand-voice-101", "disclosure-101")  # the 2nd one issues


def raw_sign_rate(seconds: float = 1.0) -> float:
    """``sign_credential`` per second on a prepared, realistic credential (EdDSA)."""
    base = "https://credence.bench"
    now = datetime.now(UTC)
    doc = build_credential(
        issuer=IssuerProfile(id=base, name="Bench Issuer", url=base),
        achievement=Achievement(
            id=f"{base}/v1/tracks/social-media/levels/foundations",
            name="Social Media Foundations",
            description="Knows the policy and the brand voice.",
            criteria_narrative="- Completed **Social media policy essentials** (80+)\n"
            "- Completed **Our brand voice**",
            version="1",
            tags=("social-media",),
        ),
        subject_id="urn:uuid:0f2b4d8e-8a8c-4c55-9d59-1f0c2c7c9b11",
        evidence=[
            Evidence(id=f"urn:uuid:6a1f5d7e-2a0e-4a43-9c47-0d3f1d2b3c4{n}", name=f"Course {n}")
            for n in range(2)
        ],
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
        awarded_date=now - timedelta(days=1),
        status=[
            StatusEntry(
                status_list_credential=f"{base}/v1/status-lists/1", index=1234, purpose="revocation"
            ),
            StatusEntry(
                status_list_credential=f"{base}/v1/status-lists/2", index=4321, purpose="suspension"
            ),
        ],
        name="Social Media Foundations",
    )
    signer = LocalSigner(generate_signing_key("EdDSA"), issuer_base=base)
    best = 0.0
    for _ in range(3):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 3:
            sign_credential(doc, signer, now=now)
            count += 1
        best = max(best, count / elapsed)
    return best


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A migrated database and one ``credence serve`` process on it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.env = {
            **os.environ,
            "CREDENCE_DATABASE_URL": url,
            "CREDENCE_BASE_URL": "https://credence.bench",
            "CREDENCE_LOG_LEVEL": "WARNING",
        }
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        if self.url.startswith("postgresql"):
            engine = make_engine(self.url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        cli = [sys.executable, "-m", "service.cli"]
        subprocess.run([*cli, "db", "upgrade"], env=self.env, cwd=REPO, check=True)
        engine = make_engine(self.url)
        from sqlmodel import Session

        with Session(engine) as session:
            _, self.key = create_client(session, name="bench", scopes=["admin"], actor="bench")
            session.commit()
        engine.dispose()
        self.process = subprocess.Popen(
            [*cli, "serve", "--port", str(self.port)],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        self.client = httpx.Client(
            base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=600
        )
        applied = self.client.put(
            "/v1/catalog", content=DEMO.read_bytes(), headers={"Content-Type": "application/yaml"}
        )
        applied.raise_for_status()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)


def items_for(prefix: str, learners: int) -> list[dict[str, Any]]:
    at = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for n in range(learners):
        for course in COURSES:
            item: dict[str, Any] = {
                "learner_id": f"{prefix}-{n}",
                "course_id": course,
                "completed_at": at,
                "external_id": f"{prefix}-{n}-{course}",
            }
            if course == "policy-101":
                item["score"] = 90
            out.append(item)
    return out


def bench_batch(server: Server, learners: int) -> tuple[float, float]:
    items = items_for("b", learners)
    batches = [items[i : i + 999] for i in range(0, len(items), 999)]
    stored = issued = 0
    start = time.perf_counter()
    for batch in batches:
        response = server.client.post("/v1/completions/batch", json={"items": batch})
        response.raise_for_status()
        body = response.json()
        stored += body["stored"]
        issued += sum(len(i["issued"]) for i in body["items"])
    elapsed = time.perf_counter() - start
    assert stored == len(items), (stored, len(items))
    assert issued == learners, (issued, learners)
    return stored / elapsed, issued / elapsed


def bench_single(server: Server, count: int) -> tuple[float, float]:
    learners = max(1, count // 3)
    items = items_for("s", learners)
    # keep each learner's completions in order: one learner per task
    per_learner = [items[i : i + 3] for i in range(0, len(items), 3)]
    headers = {"Authorization": f"Bearer {server.key}"}

    def run(chunk: list[list[dict[str, Any]]]) -> int:
        issued = 0
        with httpx.Client(base_url=server.base, headers=headers, timeout=120) as client:
            for learner in chunk:
                for item in learner:
                    response = client.post("/v1/completions", json=item)
                    response.raise_for_status()
                    issued += len(response.json()["issued"])
        return issued

    threads = 4
    chunks = [per_learner[i::threads] for i in range(threads)]
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        issued = sum(pool.map(run, chunks))
    elapsed = time.perf_counter() - start
    assert issued == learners
    return len(items) / elapsed, issued / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "CREDENCE_BENCH_POSTGRES_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/credence_iss",
        ),
    )
    parser.add_argument("--learners", type=int, default=3000, help="batch: 3 completions each")
    parser.add_argument("--single", type=int, default=1500, help="single-request completions")
    args = parser.parse_args()

    print("load average (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    sign = raw_sign_rate()
    print(f"library sign_credential (EdDSA): {sign:,.0f} credentials/s (floor, same run)")
    urls = []
    tmp = tempfile.mkdtemp(prefix="credence-bench-")
    if args.db in ("sqlite", "both"):
        urls.append(("sqlite", f"sqlite:///{tmp}/bench.db"))
    if args.db in ("postgresql", "both"):
        urls.append(("postgresql", args.pg_url))
    for name, url in urls:
        with Server(url) as server:
            b_comp, b_cred = bench_batch(server, args.learners)
            s_comp, s_cred = bench_single(server, args.single)
        print(f"\n{name}:")
        print(
            f"  batch  : {b_comp:8,.0f} completions/s  {b_cred:7,.0f} credentials/s  "
            f"credentials/s = {b_cred / sign:.1%} of raw signing"
        )
        print(
            f"  single : {s_comp:8,.0f} completions/s  {s_cred:7,.0f} credentials/s  "
            f"credentials/s = {s_cred / sign:.1%} of raw signing; batch/single = "
            f"{b_comp / s_comp:.1f}x"
        )
        verdict = "meets" if b_comp >= 2000 else "below"
        print(f"  aim    : batch >= 2,000 completions/s -> {verdict}")
        print("  load average (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
