"""What one completion row costs PostgreSQL to insert as the data grows, and how much of it is the
random placement of its primary key (a random UUID) in the table's indexes.

Run, on a database loaded by ``bench/scale.py --curve learners`` or ``bench/paired.py`` (nothing
is kept: every block of inserts is rolled back)::

    .venv/bin/python bench/insert_growth.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale_1000000
        [--inserts 1000] [--rounds 3]

Each round runs two blocks of ``--inserts`` single-row ``INSERT INTO completion`` statements for
learners drawn at random (inside PostgreSQL, in one ``DO`` block each, so no client round trips
are in the figure), one with random UUIDs as ids (what the service writes) and one with
time-ordered ids (as UUIDv7 would be), in alternating order, each after a ``CHECKPOINT`` (so
both start with every page's first change since the checkpoint writing a full-page image to
the WAL, as a deployment's do), each rolled back. It prints microseconds and WAL bytes per
insert for each, and the sizes of the table's indexes against ``shared_buffers``. The
completion's other indexes lead with the learner (random by nature) or the time (appended).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bulk import conninfo  # bench/bulk.py, beside this script

IDS = {
    "random UUID ids": "gen_random_uuid()::text",
    "time-ordered ids": (
        "lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000000)::bigint), 16, '0')"
        " || substr(md5(random()::text), 1, 20)"
    ),
}

BLOCK = """
DO $$
DECLARE n int;
BEGIN
  FOR n IN 1..{inserts} LOOP
    INSERT INTO completion (id, learner_id, course_id, completed_at, score, passed, source,
                            external_id, request_hash, received_at, issued)
    VALUES ({id}, 'L' || floor(random() * {learners})::int, '{course}', now(), 90, true,
            'bench-insert-growth', NULL, md5(random()::text), now(), '[]');
  END LOOP;
END $$
"""


def block(connection: psycopg.Connection[Any], sql: str, inserts: int) -> tuple[float, float]:
    """One rolled-back block after a checkpoint: us and WAL bytes per insert."""
    connection.execute("CHECKPOINT")
    with connection.transaction(force_rollback=True):
        before = connection.execute("SELECT pg_current_wal_lsn()").fetchone()
        started = time.perf_counter()
        connection.execute(sql)
        elapsed = time.perf_counter() - started
        wal = connection.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (before[0] if before else 0,)
        ).fetchone()
    return elapsed * 1e6 / inserts, float(wal[0] if wal else 0) / inserts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", required=True, help="PostgreSQL, loaded (nothing is kept)")
    parser.add_argument("--inserts", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with psycopg.connect(conninfo(args.db_url), autocommit=True) as connection:
        learners = connection.execute("SELECT count(*) FROM learner").fetchone()
        completions = connection.execute("SELECT count(*) FROM completion").fetchone()
        course = connection.execute("SELECT min(id) FROM course").fetchone()
        if not learners or not learners[0] or not course or course[0] is None:
            raise SystemExit("load the database first (bench/scale.py or bench/paired.py)")
        buffers = connection.execute("SHOW shared_buffers").fetchone()
        print(
            f"{learners[0]:,} learners, {completions[0] if completions else 0:,} completions; "
            f"shared_buffers = {buffers[0] if buffers else '?'}; the completion's indexes:"
        )
        for name, size in connection.execute(
            "SELECT indexrelid::regclass::text, pg_size_pretty(pg_relation_size(indexrelid))"
            " FROM pg_index WHERE indrelid = 'completion'::regclass ORDER BY 1"
        ):
            print(f"   {name:<36} {size}")
        figures: dict[str, list[tuple[float, float]]] = {kind: [] for kind in IDS}
        for number in range(args.rounds):
            kinds = list(IDS) if number % 2 == 0 else list(reversed(IDS))
            for kind in kinds:
                sql = BLOCK.format(
                    inserts=args.inserts, id=IDS[kind], learners=learners[0], course=course[0]
                )
                figures[kind].append(block(connection, sql, args.inserts))
                us, wal = figures[kind][-1]
                print(f"   round {number + 1}, {kind:<17} {us:7.1f} us, {wal:7,.0f} WAL bytes")
        for kind, rounds in figures.items():
            us = statistics.median(u for u, _ in rounds)
            wal = statistics.median(w for _, w in rounds)
            print(f"{kind:<17} median {us:7.1f} us and {wal:7,.0f} WAL bytes an insert")


if __name__ == "__main__":
    main()
