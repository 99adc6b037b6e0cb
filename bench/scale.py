"""Scaling curves on PostgreSQL: throughput as server processes are added, cost as data grows.

Run::

    .venv/bin/python bench/scale.py --curve processes --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--processes 1 2 4] [--connections 16] [--seconds 10]
    .venv/bin/python bench/scale.py --curve learners --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--learners 10000 100000 1000000] [--rounds 3] [--seconds 10] [--connections 64]
        [--clients 16]

``--curve processes`` WIPES the database named there (schema dropped, re-migrated) for every
point; ``--curve learners`` loads each size into its own database, named after it with the size
appended (``credence_scale_10000``, ...), and WIPES those.

``--curve processes``: for each count N, N ``credence serve`` processes (one worker each, a port
each, as on N machines) share one fresh database (given 3,000 learners' completions first, then
``ANALYZE``, as a running deployment has rows and statistics), and N wrk processes (one thread
each, 16 connections in all) post single completions to them at once (``POST /v1/completions``,
three courses per learner, every third issues Social Media Foundations). It prints
completions/s, the ratio to one process in the same run, and where the CPU went (the servers,
PostgreSQL, wrk and the whole machine, in cores, from ``/proc``): on one machine the curve ends
where its cores do, and a bound in the database shows as PostgreSQL's share saturating.

``--curve learners``: for each size, in its own database, it applies the demo catalog, earns
Foundations for ``--tokens`` new learners through the API (real signed credentials to verify),
bulk-loads the learners with three years of history (``bench/dataset.py`` by COPY,
``bench/bulk.py``: about six credentials, seven status events, twelve status-list slots, three
completions and ten audit events each), prints every hot statement's EXPLAIN (ANALYZE,
BUFFERS) and an uncached check's cost step by step (``bench/hot.py``), and how big the indexes
that check reads are against PostgreSQL's ``shared_buffers`` (pages not in those buffers are
copied in from the operating system's cache on every cold check: the database's CPU). With
``--prewarm`` it first loads those indexes and the learner table into ``shared_buffers``
(``pg_prewarm``, when they fit: raise ``shared_buffers`` for it, docs/operators.md), as they
stand on a server that has answered checks for a while; without it, a measured run of seconds
touches most of their pages for the first time. Then, in each of ``--rounds`` rounds, for
every size in turn (the order reversed every other round), it starts ``credence serve
--workers 2`` and drives it with wrk for ``--seconds`` each:

* floor: ``GET /healthz`` (the app's cheapest endpoint), in the same run;
* check, warm: ``GET /v1/permissions/check`` over 1,000 learners, all in each process's facts
  cache (10,000 learners; seen in a warm-up run first);
* check, uniform: over all the learners (after a warm-up run three times as long), each wrk
  thread drawing its own random learners (``harness.wrk_seed``): at 10,000 learners the cache
  holds everyone, at 1,000,000 it answers 1% and the rest take the cold path;
* check, uncached: the same on a server with ``CREDENCE_PERMISSION_CACHE_LEARNERS=0`` (every
  check takes the cold path: the database's share alone);
* verify: ``POST /v1/verify`` of the real credentials in rotation;
* completion: single ``POST /v1/completions`` from ``--clients`` threads (new learners).

It prints a table per size and round (requests/s, p50, p99, the ratio to the floor and to the
first size's figures in that round, and the CPU each request cost the servers and PostgreSQL,
from ``/proc``) and the curve at the end: the median over rounds of each
figure and of each round's floor-normalised cost ratio, with every round's ratio listed (the
machine is shared and drifts by tens of percent over minutes: read ratios measured minutes
apart, not absolute figures). Aim (issue 19): the check spread over all
learners and verify at 1,000,000 learners within 1.3x of their 10,000-learner cost.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bulk  # noqa: E402  (bench/bulk.py, beside this script)
import harness  # noqa: E402
import hot  # noqa: E402
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from harness import free_port, fresh_database, start_server  # noqa: E402
from issuance import items_for  # noqa: E402
from sqlalchemy import text  # noqa: E402

from service.app import create_app  # noqa: E402
from service.db import make_engine  # noqa: E402
from tests.robustness.live import prepare, start  # noqa: E402

DEMO = ROOT / "service" / "catalog" / "demo" / "social-media-program.yaml"
BASE = "https://credence.bench"
WARM_LEARNERS = 1_000


# ----------------------------------------------------------------------------- processes


@dataclass
class ProcessesPoint:
    processes: int
    rate: float  # completions/s, all processes together
    p99_ms: float  # the worst process's
    errors: int
    stored: int
    cores: dict[str, float]


#: Learners given three completions each (one credential) before a point is measured: the
#: tables then have rows and statistics, as a running deployment's have.
PRELOAD_LEARNERS = 3_000


def preload(base: str, key: str, learners: int) -> None:
    items = items_for("pre", learners)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        for start_at in range(0, len(items), 999):
            batch = {"items": items[start_at : start_at + 999]}
            client.post("/v1/completions/batch", json=batch).raise_for_status()


def processes_point(url: str, processes: int, connections: int, seconds: int) -> ProcessesPoint:
    """``processes`` ``credence serve`` processes (one worker each, a port each, as on separate
    machines) on one fresh database, each driven by its own wrk (one thread, its share of
    ``connections``) posting single completions for ``seconds``, all at once."""
    fresh_database(url)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        env, key = prepare(url, work)
        servers = []
        try:
            for _ in range(processes):
                servers.append(start(env, key, work))
            preload(servers[0].url, key, PRELOAD_LEARNERS)
            harness.analyze(url)  # the steady state: statistics that know the rows
            share = max(1, connections // processes)
            results: list[tuple[float, float, float, int]] = [(0.0, 0.0, 0.0, 0)] * processes

            def drive(index: int) -> None:
                port = int(servers[index].url.rsplit(":", 1)[1])
                script = harness.single_lua(f"p{index}", "/v1/completions", key)
                lua = work / f"single-{index}.lua"
                results[index] = harness.run_wrk(script, port, seconds, share, lua, threads=1)

            meter = harness.CpuMeter([server.process.pid for server in servers])
            threads = [threading.Thread(target=drive, args=(i,)) for i in range(processes)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            cores = meter.stop()
        finally:
            for server in servers:
                server.stop()
        engine = make_engine(url)
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM completion")).scalar_one()
        engine.dispose()
    return ProcessesPoint(
        processes,
        sum(r[0] for r in results),
        max(r[2] for r in results),
        sum(r[3] for r in results),
        stored,
        cores,
    )


def processes_curve(args: argparse.Namespace) -> None:
    print(
        f"single completions, {args.connections} wrk connections in all, {args.seconds} s a point; "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}"
    )
    first = None
    for count in args.processes:
        point = processes_point(args.db_url, count, args.connections, args.seconds)
        first = first or point.rate
        print(
            f"{count} process(es): {point.rate:7.0f} completions/s = {point.rate / first:.2f}x one "
            f"process; p99 {point.p99_ms:.0f} ms; errors {point.errors}; {point.stored:,} stored"
        )
        print(f"    {harness.cpu_line(point.cores)}")
    print(f"load average {os.getloadavg()[0]:.1f}")


# ----------------------------------------------------------------------------- learners


@dataclass
class Figure:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    server_us: float = float("nan")  # server CPU per request (both workers), microseconds
    postgres_us: float = float("nan")  # PostgreSQL's CPU per request


def setup(url: str, dev_key_file: str, tokens: int) -> tuple[dict[str, str], list[str]]:
    """Keys (``admin``, ``checker``), the demo catalog, and ``tokens`` real credentials earned
    through the API by learners V0, V1, ... (their VC-JWTs)."""
    settings = harness.bench_settings(url, dev_key_file)
    admin, checker = harness.bench_keys(url)
    engine = make_engine(url)
    headers = {"Authorization": f"Bearer {admin}"}
    at = "2026-01-05T10:00:00Z"
    issued: list[str] = []
    with TestClient(create_app(settings, engine=engine)) as client:
        client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**headers, "Content-Type": "application/yaml"},
        ).raise_for_status()
        for n in range(tokens):
            credential = None
            for course in ("policy-101", "brand-voice-101"):
                body = {"learner_id": f"V{n}", "course_id": course, "completed_at": at}
                answer = client.post("/v1/completions", json={**body, "score": 90}, headers=headers)
                answer.raise_for_status()
                credential = credential or next(iter(answer.json()["issued"]), None)
            assert credential is not None
            issued.append(
                client.get(
                    f"/v1/credentials/{credential['id']}",
                    headers={**headers, "Accept": "application/vc+jwt"},
                ).text
            )
    engine.dispose()
    return {"admin": admin, "checker": checker}, issued


LUA = """
%(seeding)s
local programs = {%(programs)s}
local tokens = {%(tokens)s}
local key = "%(key)s"
local kind = "%(kind)s"
local learners = %(learners)d
local n = 0
request = function()
  if kind == "check" then
    local path = "/v1/permissions/check?learner_id=L" .. math.random(0, learners - 1)
      .. "&program=" .. programs[math.random(#programs)]
    return wrk.format("GET", path, {["Authorization"] = "Bearer " .. key})
  elseif kind == "verify" then
    n = n + 1
    return wrk.format("POST", "/v1/verify", {["Content-Type"] = "application/vc+jwt"},
      tokens[(n %% #tokens) + 1])
  end
  return wrk.format("GET", "/healthz")
end
"""


def wrk(
    kind: str,
    port: int,
    args: argparse.Namespace,
    work: Path,
    *,
    key: str = "",
    learners: int = 1,
    tokens: tuple[str, ...] = (),
    seconds: int | None = None,
    server_pid: int = 0,
) -> Figure:
    """wrk for ``seconds`` (``--seconds``) on ``port``; with ``server_pid`` (the server process, its
    workers counted with it), the server's and PostgreSQL's CPU per request too."""
    meter = harness.CpuMeter([server_pid]) if server_pid else None
    script = LUA % {
        "seeding": harness.wrk_seed(port),
        "programs": ", ".join(f'"{p}"' for p in hot.PROGRAMS),
        "tokens": ", ".join(json.dumps(t) for t in tokens),
        "key": key,
        "kind": kind,
        "learners": learners,
    }
    rps, p50, p99, errors = harness.run_wrk(
        script, port, seconds or args.seconds, args.connections, work / f"{kind}.lua"
    )
    if meter is None or not rps:
        return Figure(rps, p50, p99, errors)
    cores = meter.stop()
    per = 1e6 / rps
    return Figure(rps, p50, p99, errors, cores["server"] * per, cores["postgres"] * per)


def completions(port: int, key: str, args: argparse.Namespace, prefix: str) -> Figure:
    """Single completions from ``args.clients`` threads; a thread whose answer is not a 201
    stops (``harness.post_singles``), counted here as an error and its first answer shown."""
    latencies: list[float] = []
    failures: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda failure: failures.append(failure.exc_value)
    started = time.monotonic()
    try:
        posted = harness.post_singles(
            f"http://127.0.0.1:{port}",
            key,
            clients=args.clients,
            seconds=args.seconds,
            prefix=prefix,
            latencies=latencies,
        )
    finally:
        threading.excepthook = previous
    took = time.monotonic() - started
    if failures:
        print(f"   {len(failures)} completion client(s) stopped, the first on: {failures[0]}")
    latencies.sort()
    return Figure(
        posted / took,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        len(failures),
    )


@dataclass
class Loaded:
    """One size's database, loaded: its URL, keys, real credentials and what was loaded."""

    learners: int
    url: str
    keys: dict[str, str]
    tokens: list[str]
    dev_key: str
    about: str


def size_url(url: str, learners: int) -> str:
    """The database a size is loaded into: ``--db-url``'s name with the size appended."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    return target.set(database=f"{target.database}_{learners}").render_as_string(
        hide_password=False
    )


def load_size(url: str, learners: int, args: argparse.Namespace, work: Path) -> Loaded:
    """Load ``learners`` into a fresh database (``size_url``); print its plans and the cold
    check's steps and how the hot indexes compare with ``shared_buffers``."""
    dev_key = str(work / f"dev-key-{learners}")
    fresh_database(url)
    keys, tokens = setup(url, dev_key, args.tokens)
    counts, loading = bulk.timed_load(url, learners)
    about = (
        f"{learners:,} learners: {', '.join(f'{n:,} {t}' for t, n in counts.items())}; "
        f"loaded in {loading / 60:.1f} min; {len(tokens)} real VC-JWTs of "
        f"{len(tokens[0]):,} bytes to verify"
    )
    print(f"\n== {about}", flush=True)
    if args.prewarm:
        print(f"   {prewarm(url)}", flush=True)
    if not args.no_explain:
        settings = {"base_url": BASE, "log_level": "WARNING", "dev_key_file": dev_key}
        plans = hot.capture(url, settings, keys, learners, tokens[0])
        hot.show_plans(plans)
        print(f"\n   {hot_set(url, next(iter(plans.values())))}")
        cost = hot.cold_check_cost(url, keys["checker"], learners)
        print("\n   one uncached check, step by step (median of 300, one at a time):")
        for step, ms in cost.items():
            print(f"      {step:<20} {ms:6.3f} ms")
    return Loaded(learners, url, keys, tokens, dev_key, about)


#: PostgreSQL's ``shared_buffers``, in bytes.
SHARED_BUFFERS = text(
    "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"
)

#: What an uncached check reads (its plan is printed per size): the facts statement's indexes
#: and the learner table (each learner's facts revision).
CHECK_RELATIONS = (
    "ix_credential_learner_level",
    "ix_completion_learner_course",
    "ix_learner_attribute_change_lookup",
    "ix_credential_status_event_credential_id",
    "pk_learner",
    "learner",
)


def prewarm(url: str) -> str:
    """Load :data:`CHECK_RELATIONS` into PostgreSQL's ``shared_buffers`` (``pg_prewarm``), as
    they stand on a server that has been answering checks for a while, if they fit; a line
    saying what was done. Without it, a measured run of seconds touches most of their pages for
    the first time, each copied in from the operating system's cache."""
    engine = make_engine(url)
    with engine.begin() as connection:
        sizes = dict(
            connection.execute(
                text(
                    "SELECT relname, pg_relation_size(oid) FROM pg_class "
                    "WHERE relname = ANY(:names)"
                ),
                {"names": list(CHECK_RELATIONS)},
            ).all()
        )
        buffers = connection.execute(SHARED_BUFFERS).scalar_one()
        total = sum(sizes.values())
        if total > buffers * 0.9:
            done = "NOT prewarmed: they do not fit in"
        else:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
            for name in sizes:
                connection.execute(text("SELECT pg_prewarm(:name)"), {"name": name})
            done = "prewarmed into"
    engine.dispose()
    return (
        f"the uncached check's relations ({total / 2**20:,.0f} MB): {done} "
        f"shared_buffers = {buffers / 2**20:,.0f} MB"
    )


def hot_set(url: str, plans: list[str]) -> str:
    """A line on the indexes the uncached check's plan (``plans``) reads, against the server's
    ``shared_buffers``: pages of them that are not in PostgreSQL's own buffers are copied in
    from the operating system's cache (``read=`` in the plan), which costs the database CPU."""
    indexes = sorted({name for plan in plans for name in re.findall(r"Scan using (\w+)", plan)})
    engine = make_engine(url)
    with engine.connect() as connection:
        hot_bytes = connection.execute(
            text(
                "SELECT COALESCE(sum(pg_relation_size(c.oid)), 0) FROM pg_class c "
                "WHERE c.relname = ANY(:names)"
            ),
            {"names": indexes},
        ).scalar_one()
        buffers = connection.execute(SHARED_BUFFERS).scalar_one()
    engine.dispose()
    fits = "fit in" if hot_bytes <= buffers else "do NOT fit in"
    return (
        f"the uncached check's indexes ({', '.join(indexes)}): {hot_bytes / 2**20:,.0f} MB; "
        f"they {fits} shared_buffers = {buffers / 2**20:,.0f} MB"
    )


def measure_size(
    loaded: Loaded, args: argparse.Namespace, work: Path, run: int
) -> dict[str, Figure]:
    """One round's figures for a loaded size, by row name (``run``: the round, so that each
    round's completions go to new learners)."""
    url, learners, keys, tokens = loaded.url, loaded.learners, loaded.keys, loaded.tokens
    figures: dict[str, Figure] = {}
    for cache in ("default", "0"):
        port = free_port()
        extra = {"CREDENCE_BASE_URL": BASE}
        if cache == "0":
            extra["CREDENCE_PERMISSION_CACHE_LEARNERS"] = "0"
        server = start_server(
            url, port, workers=2, dev_key_file=loaded.dev_key, log=work / "server.log", **extra
        )
        try:
            check = {"key": keys["checker"]}
            measured = {"server_pid": server.pid}  # the measured runs: CPU per request too
            if cache == "0":
                wrk("check", port, args, work, **check, learners=learners, seconds=2)
                figures["check, uncached (cache off)"] = wrk(
                    "check", port, args, work, **check, learners=learners, **measured
                )
                continue
            wrk("floor", port, args, work, seconds=2)
            figures["floor GET /healthz"] = wrk("floor", port, args, work, **measured)
            wrk("check", port, args, work, **check, learners=WARM_LEARNERS, seconds=5)
            figures[f"check, warm ({WARM_LEARNERS:,} learners)"] = wrk(
                "check", port, args, work, **check, learners=WARM_LEARNERS, **measured
            )
            # Long enough that at 10,000 learners each process has seen nearly all of them.
            wrk("check", port, args, work, **check, learners=learners, seconds=3 * args.seconds)
            figures["check, uniform (all learners)"] = wrk(
                "check", port, args, work, **check, learners=learners, **measured
            )
            wrk("verify", port, args, work, tokens=tuple(tokens), seconds=2)
            figures["verify"] = wrk("verify", port, args, work, tokens=tuple(tokens), **measured)
            figures[f"completion ({args.clients} clients)"] = completions(
                port, keys["admin"], args, prefix=f"n{learners}-r{run}-"
            )
        finally:
            server.terminate()
            server.wait(timeout=20)
    return figures


def show(about: str, figures: dict[str, Figure], first: dict[str, Figure] | None) -> None:
    """The size's table: each figure, its ratios to the floor and to the first size's."""
    floor = figures["floor GET /healthz"]
    print(f"\n   {about}")
    print(f"   load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(
        f"   {'':<32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'/floor':>7} {'p99/fl':>7} "
        f"{'req/s':>9} {'p99':>7} {'cost':>8}  <- these three: / the first size's; "
        "then CPU per request, us: server, PostgreSQL"
    )
    for name, figure in figures.items():
        ratio = figure.rps / floor.rps
        p99_ratio = figure.p99_ms / floor.p99_ms if floor.p99_ms else float("nan")
        versus = ""
        if first is not None and name in first:
            was = first[name]
            cost = cost_ratio(name, figures, first)
            versus = f"{figure.rps / was.rps:9.2f} {figure.p99_ms / was.p99_ms:7.2f} {cost:8.2f}"
        errors = f"  errors {figure.errors}" if figure.errors else ""
        cpu = ""
        if not math.isnan(figure.server_us):
            cpu = f"  cpu {figure.server_us:5.0f} {figure.postgres_us:4.0f}"
        print(
            f"   {name:<32} {figure.rps:8,.0f} {figure.p50_ms:8.2f} {figure.p99_ms:8.2f} "
            f"{ratio:7.2f} {p99_ratio:7.2f} {versus or ' ' * 26}{cpu}{errors}"
        )


def cost_ratio(name: str, figures: dict[str, Figure], first: dict[str, Figure]) -> float:
    """How much more a request of row ``name`` costs in ``figures`` than in ``first``, each
    measured against its own run's floor."""
    floor, was_floor = figures["floor GET /healthz"], first["floor GET /healthz"]
    return (first[name].rps / was_floor.rps) / (figures[name].rps / floor.rps)


def learners_curve(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    print(
        f"{os.cpu_count()} CPUs; credence serve --workers 2; wrk -t2 -c{args.connections}; "
        f"{args.seconds} s per figure; {args.rounds} round(s); "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    # rounds[r][size]: figures by row. Every size is loaded first, into its own database; then
    # each round measures every size, in turn (the order reversed every other round), so that
    # the machine's drift over minutes falls on all sizes alike and each round's ratios compare
    # figures taken minutes apart, not a quarter of an hour.
    rounds: list[dict[int, dict[str, Figure]]] = []
    with tempfile.TemporaryDirectory(prefix="credence-scale-") as tmp:
        work = Path(tmp)
        loaded = [load_size(size_url(args.db_url, n), n, args, work) for n in args.learners]
        for run in range(args.rounds):
            order = loaded if run % 2 == 0 else loaded[::-1]
            figures = {size.learners: measure_size(size, args, work, run) for size in order}
            rounds.append(figures)
            print(f"\n== round {run + 1} of {args.rounds}", flush=True)
            first = figures[loaded[0].learners]
            for size in loaded:
                versus = first if size is not loaded[0] else None
                show(size.about, figures[size.learners], versus)
    if len(loaded) < 2:
        return
    sizes = [size.learners for size in loaded]
    names = list(rounds[0][sizes[0]])
    print(
        "\n== the curve: requests/s (median over rounds); in brackets the cost against the "
        "first size, floor-normalised within each round, median over rounds"
    )
    print(f"   {'':<32}" + "".join(f"{n:>22,}" for n in sizes))
    for name in names:
        cells = []
        for n in sizes:
            rps = statistics.median(r[n][name].rps for r in rounds)
            cost = statistics.median(cost_ratio(name, r[n], r[sizes[0]]) for r in rounds)
            cells.append(f"{rps:>12,.0f} [{cost:5.2f}x]")
        print(f"   {name:<32}" + "".join(f"{c:>22}" for c in cells))
    print("\n   server and PostgreSQL CPU per request, us (median over rounds):")
    for name in names:
        cells = []
        for n in sizes:
            server = statistics.median(r[n][name].server_us for r in rounds)
            postgres = statistics.median(r[n][name].postgres_us for r in rounds)
            cells.append("—" if math.isnan(server) else f"{server:>9,.0f} + {postgres:>4,.0f}")
        print(f"   {name:<32}" + "".join(f"{c:>22}" for c in cells))
    print("\n   each round's cost at the last size against the first:")
    for name in names:
        each = ", ".join(f"{cost_ratio(name, r[sizes[-1]], r[sizes[0]]):.2f}x" for r in rounds)
        print(f"   {name:<32} {each}")
    print(f"   load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--curve", choices=["processes", "learners"], required=True)
    parser.add_argument("--db-url", required=True, help="PostgreSQL (wiped)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, help="learners: completion threads (16)")
    parser.add_argument("--learners", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--connections", type=int, help="wrk connections (processes: 16 in all; learners: 64)"
    )
    parser.add_argument("--tokens", type=int, default=200, help="real credentials to verify")
    parser.add_argument("--no-explain", action="store_true", help="skip plans and step costs")
    parser.add_argument(
        "--prewarm",
        action="store_true",
        help="learners: load the uncached check's indexes into shared_buffers first",
    )
    parser.add_argument("--rounds", type=int, default=3, help="learners: measuring rounds")
    args = parser.parse_args()
    if not args.db_url.startswith("postgresql"):
        raise SystemExit("--db-url must name a PostgreSQL database")
    if args.curve == "processes":
        args.connections = args.connections or 16
        processes_curve(args)
    else:
        args.clients = args.clients or 16
        args.connections = args.connections or 64
        learners_curve(args)


if __name__ == "__main__":
    main()
