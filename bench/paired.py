"""Two server settings side by side: the permission check's CPU per request under each, measured
in the same seconds, so that the machine's drift (tens of percent over minutes here) falls on
both alike.

Run::

    .venv/bin/python bench/paired.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_paired
        [--learners 1000000] [--windows 6] [--seconds 10] [--one-order]
        [--a CREDENCE_PERMISSION_CACHE_LEARNERS=10000] [--b CREDENCE_PERMISSION_CACHE_LEARNERS=0]

It WIPES the database named there and loads ``--learners`` learners as ``bench/scale.py`` does
(``bench/bulk.py``). Then it starts two ``credence serve --workers 1`` on it, one with ``--a``'s
settings and one with ``--b``'s (``NAME=VALUE``, repeatable), gives both the same warm-up at
once (the floor, checks over 1,000 learners, then over all the learners), and runs
``--windows`` windows in which two wrk processes (``--connections`` each; each thread drawing
its own learners, ``harness.wrk_seed``) drive both servers' ``GET /v1/permissions/check`` over
all the learners at once. Each window prints both servers' requests/s and CPU per check (the
server's and PostgreSQL's, from ``/proc``; PostgreSQL's is the whole database's, shared by
both) and the difference of the servers' CPU per check, then the median difference. All that is
done twice, the servers started (and driven) a first, then b first, and the end prints the mean
of the two orders' medians: the order alone moved the difference by some 17 us on this machine
(the twelfth session: +12.6 us one way, -21.8 the other, for the same pair). ``--one-order``
measures a first only.

Sequential runs of one setting after the other moved by 50-100 us a check within minutes on
this machine; paired windows agreed within 10-30 us. This is how the eleventh session found
that the facts cache's apparent cost at a million learners was the benchmark's (both wrk
threads drew the same learners): docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bulk
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
    args = parser.parse_args()
    sides = {
        "a": settings(args.a or ["CREDENCE_PERMISSION_CACHE_LEARNERS=10000"]),
        "b": settings(args.b or ["CREDENCE_PERMISSION_CACHE_LEARNERS=0"]),
    }
    for side, extra in sides.items():
        print(f"   {side}: {' '.join(f'{k}={v}' for k, v in extra.items())}")
    with tempfile.TemporaryDirectory(prefix="credence-paired-") as folder:
        work = Path(folder)
        dev_key = str(work / "dev-key")
        fresh_database(args.db_url)
        keys, _ = scale.setup(args.db_url, dev_key, 0)
        counts, loading = bulk.timed_load(args.db_url, args.learners)
        print(f"{args.learners:,} learners loaded in {loading / 60:.1f} min: {counts}", flush=True)
        orders = [["a", "b"]] if args.one_order else [["a", "b"], ["b", "a"]]
        medians = []
        for number, order in enumerate(orders):
            print(f"   {order[0]} started and driven first:", flush=True)
            differences = measure(args, sides, order, work / f"order-{number}", dev_key, keys)
            medians.append(statistics.median(differences))
            print(
                f"   a - b, the server's CPU per check: median {medians[-1]:+.1f} us"
                f" ({', '.join(f'{d:+.0f}' for d in differences)})",
                flush=True,
            )
        if len(medians) == 2:
            print(
                f"a - b, the mean of the two orders' medians: {statistics.mean(medians):+.1f} us"
                f" a check (the order itself was worth {abs(medians[0] - medians[1]) / 2:.1f} us)"
            )


def measure(
    args: argparse.Namespace,
    sides: dict[str, dict[str, str]],
    order: list[str],
    work: Path,
    dev_key: str,
    keys: dict[str, str],
) -> list[float]:
    """Both servers started in ``order`` (the first is also driven first in every window), the
    same warm-up, then ``args.windows`` windows: each window's a - b of the server's CPU per
    check."""
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for side in order:
            port = free_port()
            (work / side).mkdir(parents=True)
            process = start_server(
                args.db_url,
                port,
                workers=1,
                dev_key_file=dev_key,
                log=work / side / "server.log",
                CREDENCE_BASE_URL=scale.BASE,
                **sides[side],
            )
            servers[side] = (port, process)

        def both(kind: str, seconds: int, learners: int, measure: bool) -> dict[str, Figure]:
            """wrk on both servers at once (a work folder each: the Lua file is per kind)."""
            out: dict[str, Figure] = {}

            def drive(side: str) -> None:
                port, process = servers[side]
                out[side] = scale.wrk(
                    kind,
                    port,
                    args,
                    work / side,
                    key=keys["checker"],
                    learners=learners,
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
        both("check", 30, args.learners, False)
        differences = []
        for window in range(1, args.windows + 1):
            out = both("check", args.seconds, args.learners, True)
            a, b = out["a"], out["b"]
            differences.append(a.server_us - b.server_us)
            print(
                f"   window {window}: a {a.rps:6,.0f} req/s, {a.server_us:4.0f} + "
                f"{a.postgres_us:3.0f} us; b {b.rps:6,.0f} req/s, {b.server_us:4.0f} + "
                f"{b.postgres_us:3.0f} us; a - b {differences[-1]:+5.1f} us a check",
                flush=True,
            )
        return differences
    finally:
        for _, process in servers.values():
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main()
