"""Single-completion throughput as server processes are added: the write path's scaling curve.

Run::

    .venv/bin/python bench/scale_out.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--processes 1 2 4] [--clients 8] [--seconds 10]

For each process count it wipes the database (schema dropped), migrates it, starts ``credence
serve --workers N`` and posts single completions (``POST /v1/completions``, three courses per
learner, every third issues Social Media Foundations) from ``--clients`` threads, then prints
completions/s and the ratio to the one-process figure of the same run. On one machine the
curve ends where its cores do; with writers of different learners no longer serialised it
should grow with processes until then, not stay flat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402  (bench/harness.py, beside this script)

from tests.robustness.live import prepare, start  # noqa: E402


def measure(url: str, processes: int, clients: int, seconds: float) -> float:
    harness.fresh_database(url)
    with tempfile.TemporaryDirectory() as folder:
        env, key = prepare(url, Path(folder))
        server = start(env, key, Path(folder), workers=processes)
        try:
            started = time.monotonic()
            posted = harness.post_singles(server.url, key, clients=clients, seconds=seconds)
            return posted / (time.monotonic() - started)
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True, help="PostgreSQL (wiped)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    first = None
    for count in args.processes:
        rate = measure(args.db_url, count, args.clients, args.seconds)
        first = first or rate
        print(f"{count} process(es): {rate:7.0f} completions/s  = {rate / first:.2f}x one process")


if __name__ == "__main__":
    main()
