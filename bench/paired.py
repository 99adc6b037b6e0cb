"""Two server settings side by side: the permission check's CPU per request under each, measured
in the same seconds, so that the machine's drift (tens of percent over minutes here) falls on
both alike.

Run::

    .venv/bin/python bench/paired.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_paired
        [--learners 1000000] [--windows 6] [--seconds 10] [--one-order]
        [--a CREDENCE_PERMISSION_CACHE_LEARNERS=10000] [--b CREDENCE_PERMISSION_CACHE_LEARNERS=0]
        [--b-db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_b --b-learners 10000]
        [--reuse] [--settle 30]

It WIPES the database named there and loads ``--learners`` learners as ``bench/scale.py`` does
(``bench/bulk.py``; ``--reuse`` keeps a database an earlier run loaded). Then it starts two
``credence serve --workers 1`` on it, one with ``--a``'s settings and one with ``--b``'s
(``NAME=VALUE``, repeatable), gives both the same warm-up at once (the floor, checks over 1,000
learners, then over all the learners for ``--settle`` seconds), and runs ``--windows`` windows in
which two wrk processes (``--connections`` each; each thread drawing its own learners,
``harness.wrk_seed``) drive both servers' ``GET /v1/permissions/check`` over all the learners at
once. Each window prints both servers' requests/s and CPU per check (the server's and PostgreSQL's,
from ``/proc``; PostgreSQL's is the whole database's, shared by both) and the difference of the
servers' CPU per check, then the median difference. All that is done twice, the servers started
(and driven) a first, then b first, and the end prints the mean of the two orders' medians: the
order alone moved the difference by some 17 us on this machine (the twelfth session: +12.6 us one
way, -21.8 the other, for the same pair). ``--one-order`` measures a first only.

With ``--b-db-url`` (and ``--b-learners``), b is served from a database of its own, loaded with
that many learners (b's settings are a's then, unless ``--b`` is given), and each
window also prints b's CPU per check over a's, each server's own with its database's backends'
(from ``pg_stat_activity`` and ``/proc``): the cost of a check at one data size against
another, measured in the same seconds (``bench/scale.py --curve learners`` measures the sizes
minutes apart, and its rounds moved by a third).

Sequential runs of one setting after the other moved by 50-100 us a check within minutes on
this machine; paired windows agreed within 10-30 us. This is how the eleventh session found
that the facts cache's apparent cost at a million learners was the benchmark's (both wrk
threads drew the same learners): docs/performance-history.md, "The cold check's excess
explained".
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bulk
import harness
import psycopg
import scale
from harness import free_port, fresh_database, start_server
from scale import Figure

WARM_LEARNERS = 1_000


def settings(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"a setting is NAME=VALUE, not {pair!r}")
        found[name] = value
    return found


def reuse(database: Database) -> dict[str, str]:
    """The keys for a database an earlier run loaded with ``database.learners`` learners (new
    ones: the earlier run's were printed nowhere); refuses any other database."""
    with psycopg.connect(bulk.conninfo(database.url)) as connection:
        row = connection.execute("SELECT count(*) FROM learner").fetchone()
    found = row[0] if row else 0
    if found != database.learners:
        raise SystemExit(
            f"--reuse: {database.url} holds {found:,} learners, not {database.learners:,}"
        )
    admin, checker = harness.bench_keys(database.url)
    return {"admin": admin, "checker": checker}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True, help="PostgreSQL (wiped)")
    parser.add_argument("--learners", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=6, help="per order")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32, help="per server")
    parser.add_argument("--a", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--b", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--one-order", action="store_true", help="only a started and driven first (half the time)"
    )
    parser.add_argument(
        "--b-db-url",
        help="serve b from this PostgreSQL database instead (wiped): sizes side by side",
    )
    parser.add_argument("--b-learners", type=int, help="learners in --b-db-url (--learners)")
    parser.add_argument(
        "--settle",
        type=int,
        default=30,
        help="seconds of the warm-up's checks over all the learners (the facts cache's model"
        " decides whether it keeps learners after some 100,000 checks: give it 90 at a million)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the databases as an earlier run loaded them (same learners): no wipe, no load",
    )
    args = parser.parse_args()
    cache_on, cache_off = (
        ["CREDENCE_PERMISSION_CACHE_LEARNERS=10000"],
        ["CREDENCE_PERMISSION_CACHE_LEARNERS=0"],
    )
    a_settings = args.a or cache_on
    # Two databases: the same settings on both, unless told.
    b_settings = args.b or (a_settings if args.b_db_url else cache_off)
    sides = {"a": settings(a_settings), "b": settings(b_settings)}
    for side, extra in sides.items():
        print(f"   {side}: {' '.join(f'{k}={v}' for k, v in extra.items())}")
    with tempfile.TemporaryDirectory(prefix="credence-paired-") as folder:
        work = Path(folder)
        a = Database(args.db_url, args.learners, str(work / "dev-key-a"))
        b = a
        if args.b_db_url:
            b = Database(args.b_db_url, args.b_learners or args.learners, str(work / "dev-key-b"))
        databases = {"a": a, "b": b}
        for side, database in databases.items():
            if side == "b" and b is a:
                continue
            if args.reuse:
                database.keys = reuse(database)
                continue
            fresh_database(database.url)
            database.keys, _ = scale.setup(database.url, database.dev_key, 0)
            counts, loading = bulk.timed_load(database.url, database.learners)
            print(
                f"   {side}: {database.learners:,} learners loaded in {loading / 60:.1f} min: "
                f"{counts}",
                flush=True,
            )
        orders = [["a", "b"]] if args.one_order else [["a", "b"], ["b", "a"]]
        medians, ratios = [], []
        for number, order in enumerate(orders):
            print(f"   {order[0]} started and driven first:", flush=True)
            windows = measure(args, sides, order, work / f"order-{number}", databases)
            about = "a - b, the server's CPU per check", "{:+.1f} us", "{:+.0f}"
            medians.append(median_of([difference for difference, _ in windows], *about))
            if args.b_db_url:
                about = "b / a, server and its database's CPU per check", "{:.2f}x", "{:.2f}"
                ratios.append(median_of([ratio for _, ratio in windows], *about))
        if len(medians) == 2:
            print(
                f"a - b, the mean of the two orders' medians: {statistics.mean(medians):+.1f} us"
                f" a check (the order itself was worth {abs(medians[0] - medians[1]) / 2:.1f} us)"
            )
        if len(ratios) == 2:
            print(f"b / a, the mean of the two orders' medians: {statistics.mean(ratios):.2f}x")


def median_of(values: list[float], label: str, median: str, each: str) -> float:
    """Print ``values``' median (``median`` its format) and each window's (``each``)."""
    middle = statistics.median(values)
    listed = ", ".join(each.format(value) for value in values)
    print(f"   {label}: median {median.format(middle)} ({listed})", flush=True)
    return middle


@dataclass
class Database:
    """One side's database: its URL, the learners loaded, its dev key file and API keys."""

    url: str
    learners: int
    dev_key: str
    keys: dict[str, str] = field(default_factory=dict)


def backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to ``url``'s database (this
    query's own excepted), from ``/proc``."""
    with psycopg.connect(bulk.conninfo(url), autocommit=True) as connection:
        pids = [
            pid
            for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    processes = harness._processes()
    return {pid: processes[pid][2] for pid in pids if pid in processes}


def measure(
    args: argparse.Namespace,
    sides: dict[str, dict[str, str]],
    order: list[str],
    work: Path,
    databases: dict[str, Database],
) -> list[tuple[float, float]]:
    """Both servers started in ``order`` (the first is also driven first in every window), the
    same warm-up, then ``args.windows`` windows: each window's a - b of the server's CPU per
    check and, when b has a database of its own, b's CPU per check over a's, each server's with
    its own database's backends' (``nan`` otherwise)."""
    separate = databases["a"].url != databases["b"].url
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for side in order:
            port = free_port()
            (work / side).mkdir(parents=True)
            process = start_server(
                databases[side].url,
                port,
                workers=1,
                dev_key_file=databases[side].dev_key,
                log=work / side / "server.log",
                CREDENCE_BASE_URL=scale.BASE,
                **sides[side],
            )
            servers[side] = (port, process)

        def both(kind: str, seconds: int, learners: int | None, measure: bool) -> dict[str, Figure]:
            """wrk on both servers at once (a work folder each: the Lua file is per kind)."""
            out: dict[str, Figure] = {}

            def drive(side: str) -> None:
                port, process = servers[side]
                out[side] = scale.wrk(
                    kind,
                    port,
                    args,
                    work / side,
                    key=databases[side].keys["checker"],
                    learners=learners or databases[side].learners,
                    seconds=seconds,
                    server_pid=process.pid if measure else 0,
                )

            threads = [threading.Thread(target=drive, args=(side,)) for side in order]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if len(out) != len(servers):
                raise SystemExit("a wrk run failed (see above)")
            return out

        both("floor", 10, 1, False)
        both("check", 15, WARM_LEARNERS, False)
        both("check", args.settle, None, False)
        windows = []
        for window in range(1, args.windows + 1):
            before = {side: backends_cpu(databases[side].url) for side in sides} if separate else {}
            out = both("check", args.seconds, None, True)
            a, b = out["a"], out["b"]
            postgres = {side: figure.postgres_us for side, figure in out.items()}
            if separate:  # each side's own database's backends, not the whole cluster's
                for side, figure in out.items():
                    after = backends_cpu(databases[side].url)
                    spent = sum(after[p] - before[side][p] for p in after if p in before[side])
                    postgres[side] = spent * 1e6 / (figure.rps * args.seconds)
            ratio = (b.server_us + postgres["b"]) / (a.server_us + postgres["a"])
            windows.append((a.server_us - b.server_us, ratio if separate else float("nan")))
            print(
                f"   window {window}: a {a.rps:6,.0f} req/s, {a.server_us:4.0f} + "
                f"{postgres['a']:3.0f} us; b {b.rps:6,.0f} req/s, {b.server_us:4.0f} + "
                f"{postgres['b']:3.0f} us; a - b {windows[-1][0]:+5.1f} us a check"
                + (f"; b / a {ratio:.2f}x" if separate else ""),
                flush=True,
            )
        return windows
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
