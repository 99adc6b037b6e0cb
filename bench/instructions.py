"""The permission check's cold and warm paths counted in instructions, not timed: a change of a
few microseconds shows through this shared machine's noise (which moves timed figures by tens
of percent over minutes).

Run::

    .venv/bin/python bench/instructions.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--learners 10000] [--requests 1500] [--concurrency 16]

It WIPES the database named there, loads ``--learners`` learners as ``bench/scale.py`` does
(``bench/bulk.py``), and serves it with ``credence serve --workers 1`` under valgrind's
callgrind, which counts the instructions the serving process executes (Python, uvicorn, the
database driver, the kernel's share excluded). A client in this script sends, with
``--concurrency`` requests in flight (so PostgreSQL's reads are coalesced, as under load), a
warm-up and then ``--requests`` counted requests of each kind; the counters are zeroed before
and dumped after each counted run (``callgrind_control``):

* floor: ``GET /healthz``;
* check, warm: ``GET /v1/permissions/check`` over 1,000 learners, each asked about three
  times before (so the facts cache holds them all, each with its standing between
  breakpoints);
* check, cold: the same over learners never asked about before, each once: the path nearly
  every check takes with a million learners (each process's cache holds 10,000);
* check, refused: a key that is not valid (401): what every request pays before a decision.

It prints the instructions per request, the cold check against the warm one, and PostgreSQL's
CPU per request in each run (from ``/proc``; timed, so noisy, and not comparable with an
unmeasured server's: a slow client batches more checks per statement). The aim of issue 19
(the check at a million learners within 1.3x of its cost at 10,000) is a cold check within
1.3x of a warm one, the database's share included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bulk
import harness
import hot
import httpx
from harness import free_port, fresh_database
from scale import setup

ROOT = Path(__file__).resolve().parent.parent
WARM = 1_000  # learners in the warm run, L0 .. L999


def start(url: str, port: int, dev_key: str, work: Path) -> subprocess.Popen[bytes]:
    """``credence serve --workers 1`` under callgrind, once it answers (a few minutes)."""
    environment = {
        **os.environ,
        "CREDENCE_DATABASE_URL": url,
        "CREDENCE_LOG_LEVEL": "WARNING",
        "CREDENCE_DEV_KEY_FILE": dev_key,
    }
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={work}/callgrind.out",
        sys.executable,
        "-m",
        "service.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = work / "server.log"
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(1)
    process.kill()
    raise SystemExit(f"server did not start; see {log}:\n{log.read_text()[-2000:]}")


async def send(port: int, requests: list[tuple[str, str]], key: str, concurrency: int) -> int:
    """Every request in ``requests`` (``(path, expected outcome)``), ``concurrency`` at a time;
    returns how many answered other than expected."""
    pending = list(reversed(requests))
    wrong = 0

    async def one_client(client: httpx.AsyncClient) -> None:
        nonlocal wrong
        while pending:
            path, expected = pending.pop()
            answer = await client.get(path, headers={"Authorization": f"Bearer {key}"})
            if str(answer.status_code) != expected:
                wrong += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=600
    ) as client:
        await asyncio.gather(*(one_client(client) for _ in range(concurrency)))
    return wrong


def counted(
    pid: int, work: Path, run: list[tuple[str, str]], key: str, args: argparse.Namespace
) -> tuple[float, float]:
    """Instructions per request of ``run`` in the server, and PostgreSQL's CPU (us) per
    request."""
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)
    meter = harness.CpuMeter([pid])
    started = time.monotonic()
    wrong = asyncio.run(send(args.port, run, key, args.concurrency))
    elapsed = time.monotonic() - started
    postgres = meter.stop()["postgres"] * elapsed
    before = set(work.glob("callgrind.out*"))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
    dump = _new_dump(work, before)
    if wrong:
        raise SystemExit(f"{wrong} of {len(run)} requests were not answered as expected")
    return _instructions(dump) / len(run), postgres * 1e6 / len(run)


def _new_dump(work: Path, before: set[Path]) -> Path:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = set(work.glob("callgrind.out*")) - before
        if found:
            dump = max(found, key=lambda p: p.stat().st_mtime)
            if "totals:" in dump.read_text(errors="replace"):
                return dump
        time.sleep(0.5)
    raise SystemExit("callgrind wrote no dump")


def _instructions(dump: Path) -> int:
    match = re.search(r"^(?:totals|summary): (\d+)", dump.read_text(errors="replace"), re.M)
    if match is None:
        raise SystemExit(f"no totals in {dump}")
    return int(match.group(1))


def check(learner: int, rng: random.Random) -> str:
    program = rng.choice(hot.PROGRAMS)
    return f"/v1/permissions/check?learner_id=L{learner}&program={program}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True, help="PostgreSQL (wiped)")
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--keep", action="store_true", help="keep callgrind's dumps (for callgrind_annotate)"
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (Debian's package valgrind)")
    if args.learners < WARM + 2 * args.requests:
        raise SystemExit(f"--learners must be at least {WARM + 2 * args.requests:,}")
    work = Path(tempfile.mkdtemp(prefix="credence-instructions-"))
    dev_key = str(work / "dev-key")
    fresh_database(args.db_url)
    keys, _ = setup(args.db_url, dev_key, 0)
    counts, _ = bulk.timed_load(args.db_url, args.learners)
    print(f"{args.learners:,} learners: {', '.join(f'{n:,} {t}' for t, n in counts.items())}")
    args.port = free_port()
    server = start(args.db_url, args.port, dev_key, work)
    rng = random.Random(19)
    checker = keys["checker"]
    try:
        runs: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]], str]] = {}
        warm = [(check(rng.randrange(WARM), rng), "200") for _ in range(args.requests)]
        # Three times each: kept from the second ask, and from the third each learner's
        # standing holds between breakpoints (the first is worked out for its moment alone).
        seen = [(check(n, rng), "200") for n in range(WARM)] * 3
        unseen = list(range(WARM, args.learners))
        rng.shuffle(unseen)
        cold = [(check(n, rng), "200") for n in unseen[: args.requests]]
        cold_warmup = [(check(n, rng), "200") for n in unseen[args.requests : 2 * args.requests]]
        healthz = [("/healthz", "200")] * args.requests
        refused = [(check(rng.randrange(WARM), rng), "401")] * args.requests
        runs["floor GET /healthz"] = (healthz[:200], healthz, checker)
        runs["check, warm"] = (seen, warm, checker)
        runs["check, cold"] = (cold_warmup[:200], cold, checker)
        runs["check, refused (401)"] = (refused[:200], refused, checker[:-4] + "AAAA")
        figures: dict[str, tuple[float, float]] = {}
        for name, (warmup, run, key) in runs.items():
            asyncio.run(send(args.port, warmup, key, args.concurrency))
            figures[name] = counted(server.pid, work, run, key, args)
            per, postgres = figures[name]
            print(f"   {name:<24} {per:>12,.0f} instructions  PostgreSQL {postgres:6.1f} us")
    finally:
        server.terminate()
        server.wait(timeout=120)
    cold_per, cold_pg = figures["check, cold"]
    warm_per, warm_pg = figures["check, warm"]
    print(
        f"\n   cold / warm: {cold_per / warm_per:.2f}x the server's instructions "
        f"({cold_per - warm_per:,.0f} more per check); PostgreSQL {cold_pg:.0f} against "
        f"{warm_pg:.0f} us per check"
    )
    print(f"   load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.keep:
        print(f"   callgrind's dumps, one per run in the order above: {work}/callgrind.out.*")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
