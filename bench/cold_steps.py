"""The cold permission check's Python, step by step, counted in instructions (callgrind): what
each step of deciding for a learner the cache does not hold costs, steadily enough to weigh a
change of a few thousand instructions (timed figures on this shared machine move by tens of
percent).

Run, after ``bench/instructions.py`` (or ``bench/scale.py``) has loaded the database::

    .venv/bin/python bench/cold_steps.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--learners 2000] [--batch 16] [--read tables]

It reads the facts statements a serving process would send for ``--learners`` learners picked
at random, ``--batch`` learners a statement (as coalesced under load), with binary results, and
each learner's check as ``bench/instructions.py`` asks it (a program kind at random, now): the
statement that reads each learner's ``learner_facts`` row (current rows only, as
``bench/bulk.py`` leaves them: a check reads a learner without one on its facts lane, which
builds it), or with ``--read tables`` the statement that reads the facts from the tables (what
a check did before those rows, and does when they cannot be written). Then it runs itself
under valgrind's callgrind once per step, each run doing every step up to that one over all the
learners, and prints the difference between consecutive runs per check:

* read: the statement's rows read (``read_summarized``: each learner's facts text as it comes, or
  ``read_rows``: ``LearnerRows``);
* facts: ``LearnerFacts`` made from them (``learner_facts``);
* standing: the holdings and attributes at the moment asked about;
* decision: the program kind's decision, up to the missing list (its outcome);
* missing: the rest of ``decide_all``: a denial's missing levels and courses from the earning
  engine, and its reasons.

The database's own cost is not here (see ``bench/instructions.py`` and ``bench/hot.py``).

It also counts, over the same learners' facts as a denial hands them to the earning engine,
``evaluate_to_fixpoint`` per learner: the engine's work for every completion recorded (the
write path), which shares the engine's code with a denial's missing list.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hot import PROGRAMS
from prometheus_client import CollectorRegistry, Counter

from service.db import make_engine, utcnow
from service.issuance.compiled import CatalogCache
from service.issuance.engine import evaluate_to_fixpoint
from service.permissions.cache import learner_facts
from service.permissions.coalescing import _connect
from service.permissions.repository import FactsRows, Statements, read_rows, read_summarized
from service.permissions.service import Check, Permissions, decide_all

STEPS = ["base", "read", "facts", "standing", "decision", "missing"]
ENGINE = ["engine-base", "engine"]  # evaluate_to_fixpoint, over facts made beforehand


def capture(url: str, learners: int, batch: int, path: Path, read: str) -> int:
    """The rows, the catalog view and the checks, pickled to ``path``; the count of learners
    known."""
    engine = make_engine(url)
    registry = CollectorRegistry()
    decisions = Counter("bench_decisions", "-", ["program", "outcome"], registry=registry)
    permissions = Permissions(engine, catalog=CatalogCache(), decisions=decisions, cache_learners=0)
    sql = Statements("postgresql")
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    rng = random.Random(19)
    with engine.connect() as connection:
        total = connection.exec_driver_sql("SELECT count(*) FROM learner").scalar_one()
    picked = [f"L{n}" for n in rng.sample(range(total), learners)]

    async def fetch() -> list[list[Any]]:
        connection = await _connect(conninfo)
        chunks = []
        for start in range(0, len(picked), batch):
            ids = picked[start : start + batch]
            if read == "tables":
                statement, params = sql.with_facts, (ids, ids, ids, "none", ids)
            else:
                statement, params = sql.with_summaries_many, (ids, ["none"], [])
            cursor = await connection.execute(statement, params, binary=True)
            chunks.append(await cursor.fetchall())
        await connection.close()
        return chunks

    chunks = asyncio.run(fetch())
    if read == "rows":
        current = sum(1 for chunk in chunks for row in chunk if row[0] == "s")
        if current < len(picked):
            raise SystemExit(
                f"{len(picked) - current} of the {len(picked)} learners have no current"
                " learner_facts row: run `credence db build-facts` first"
            )
    column = 12 if read == "tables" else 6  # the catalog revision's
    revision = next(int(row[column]) for chunk in chunks for row in chunk if row[0] == "r")
    view = permissions.catalog(revision)
    at = utcnow()
    checks = [(learner, rng.choice(PROGRAMS)) for learner in picked]
    captured = {"chunks": chunks, "view": view, "checks": checks, "at": at, "read": read}
    path.write_bytes(pickle.dumps(captured))
    engine.dispose()
    return len(picked)


def run_step(step: str, path: Path) -> None:
    """Every step up to ``step`` over the captured learners (run under callgrind)."""
    data = pickle.loads(path.read_bytes())
    if step in ENGINE:
        run_engine(step, data)
        return
    upto = STEPS.index(step)
    view = data["view"]
    compiled = view.compiled
    at: datetime = data["at"]
    programs = dict(data["checks"])
    # A statement's learners at a time, dropped after (as in the server: the garbage collector
    # then sees what a serving process's collector sees).
    for chunk in data["chunks"] if upto else ():
        learners = read_chunk(data["read"], chunk)
        if upto == 1:
            continue
        facts = {
            learner_id: learner_facts(rows, view.level_names, compiled.rules)
            for learner_id, rows in learners.items()
        }
        if upto == 2:
            continue
        if upto == 5:
            decide_all(view, facts, [Check(i, programs[i], at) for i in facts])
            continue
        for learner_id, entry in facts.items():
            standing = entry.standing(at, compiled.prerequisites, view.level_names)
            if upto == 4:
                program = programs[learner_id]
                standing.outcome(program, compiled.programs[program].expr)


def read_chunk(read: str, chunk: list[Any]) -> Mapping[str, FactsRows]:
    """One statement's learners, read as the service reads them (UTC already)."""
    return read_rows(chunk, None)[2] if read == "tables" else read_summarized(chunk)[3]


def run_engine(step: str, data: dict[str, Any]) -> None:
    """``evaluate_to_fixpoint`` for every captured learner at the captured moment (only the
    facts made, for ``engine-base``), the garbage collector off (what is counted is the
    engine's own work)."""
    view = data["view"]
    rules = view.compiled.rules
    at: datetime = data["at"]
    facts = [
        learner_facts(rows, view.level_names, rules).earning_facts(at)
        for chunk in data["chunks"]
        for rows in read_chunk(data["read"], chunk).values()
    ]
    gc.disable()
    if step == "engine":
        for completions, credentials in facts:
            evaluate_to_fixpoint(rules, completions, credentials, at)


def counted(step: str, path: Path, work: Path) -> int:
    out = work / f"callgrind.{step}"
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            __file__,
            "--step",
            step,
            "--data",
            str(path),
        ],
        check=True,
        capture_output=True,
        env=environment,
    )
    match = re.search(r"^(?:totals|summary): (\d+)", out.read_text(errors="replace"), re.M)
    if match is None:
        raise SystemExit(f"no totals in {out}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", help="PostgreSQL loaded by bench/instructions.py (read)")
    parser.add_argument("--learners", type=int, default=2_000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--read", choices=["rows", "tables"], default="rows", help="learner_facts rows or tables"
    )
    parser.add_argument("--step", choices=STEPS + ENGINE, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step is not None:
        run_step(args.step, args.data)
        return
    if args.db_url is None:
        parser.error("--db-url is required")
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind (Debian's package valgrind)")
    work = Path(tempfile.mkdtemp(prefix="credence-cold-steps-"))
    data = work / "captured.pickle"
    learners = capture(args.db_url, args.learners, args.batch, data, args.read)
    steps = STEPS + ENGINE
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        totals = dict(zip(steps, pool.map(lambda s: counted(s, data, work), steps), strict=True))
    print(
        f"instructions per cold check, {learners:,} learners, {args.batch} a statement, "
        f"read from the {'learner_facts rows' if args.read == 'rows' else 'tables'}"
    )
    previous = totals["base"]
    whole = 0.0
    for step in STEPS[1:]:
        per = (totals[step] - previous) / learners
        whole += per
        previous = totals[step]
        print(f"   {step:<10} {per:>10,.0f}")
    print(f"   {'all':<10} {whole:>10,.0f}")
    fixpoint = (totals["engine"] - totals["engine-base"]) / learners
    print(
        f"the earning engine's evaluate_to_fixpoint per learner (every completion runs it): "
        f"{fixpoint:,.0f}"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
