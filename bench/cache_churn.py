"""The permission facts cache's own cost when checks spread over far more learners than it holds:
the in-process path of a check (read the rows, build the learner's facts, keep them or not,
decide), with the cache at its default capacity against the cache off, in one run.

Run, after ``bench/instructions.py`` (or ``bench/scale.py``) has loaded the database::

    .venv/bin/python bench/cache_churn.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_scale
        [--checks 600000] [--population 1000000] [--zipf 0.9]

It captures 2,000 learners' facts rows as a serving process reads them (``bench/cold_steps.py``),
then, in a fresh process per setting, asks ``--checks`` checks of learners drawn uniformly from
``--population`` ids (or, with ``--zipf``, some far more often than others), each id standing
for one captured learner's rows, always the same (so a million learners need not be loaded),
with the served process's garbage-collector settings
(:func:`service.ops.heap.freeze_startup_heap`). It prints CPU time per check for each setting,
their ratio, the share of checks the cache answered, and the collector's passes. No HTTP and
no database: what the served figures have beyond this is the server's (``bench/paired.py``
measures both settings served, side by side). At the default capacity the cache runs its model
of itself (:class:`~service.permissions.cache.FactsCache`): asks its model would mostly miss
(uniform over ten or more times the capacity) make it let go after the model's first window,
some 100,000 checks, and keep nothing after, so such a run measures mostly a cache kept off.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import random
import subprocess
import sys
import tempfile
import time
from bisect import bisect
from itertools import accumulate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cold_steps import capture

from service.ops.heap import freeze_startup_heap
from service.permissions.cache import FactsCache, LearnerFacts
from service.permissions.repository import read_rows
from service.permissions.service import Check, decide_all
from service.settings import Settings


def draws(checks: int, population: int, zipf: float, rng: random.Random) -> list[int]:
    """The learners asked about, by number: uniform over ``population``, or with ``zipf`` > 0
    the learner of rank r drawn in proportion to 1 / (r + 1) ** zipf (some learners asked
    about far more often than others, as publishing tools' checks are)."""
    if zipf <= 0:
        return [rng.randrange(population) for _ in range(checks)]
    weights = list(accumulate(1 / (rank + 1) ** zipf for rank in range(population)))
    total = weights[-1]
    return [bisect(weights, rng.random() * total) for _ in range(checks)]


def run(data_path: Path, capacity: int, checks: int, population: int, zipf: float) -> None:
    """One setting, in this process: prints ``capacity us-per-check kept collections hits``."""
    data = pickle.loads(data_path.read_bytes())
    view = data["view"]
    compiled = view.compiled
    at = data["at"]
    by_learner: dict[str, list[Any]] = {}
    for chunk in data["chunks"]:
        for row in chunk:
            if row[0] in "cmal":
                by_learner.setdefault(row[1], []).append(row)
    pool = list(by_learner.values())
    programs = sorted(compiled.programs)
    rng = random.Random(1)
    cache = FactsCache(capacity)
    cache.for_catalog(view.revision)
    asked = draws(checks, population, zipf, rng)
    # Each id stands for one captured learner, always the same, and is asked for at that
    # learner's facts revision (as a server asks for the revision its snapshot read).
    revisions = [next(int(row[12]) for row in rows if row[0] == "l") for rows in pool]
    hits = 0
    freeze_startup_heap()
    before = [s["collections"] for s in gc.get_stats()]
    started = time.process_time()
    for number in asked:
        learner_id = f"X{number}"
        entry = cache.get(learner_id, revisions[number % len(pool)])
        if entry is not None:
            hits += 1
        else:
            rows = [(row[0], learner_id, *row[2:]) for row in pool[number % len(pool)]]
            entry = LearnerFacts(
                read_rows(rows, None)[2][learner_id], view.level_names, compiled.rules
            )
            cache.put(learner_id, entry)
        decide_all(view, {learner_id: entry}, [Check(learner_id, rng.choice(programs), at)])
    per_check = (time.process_time() - started) / checks * 1e6
    passes = [s["collections"] - b for s, b in zip(gc.get_stats(), before, strict=True)]
    print(capacity, f"{per_check:.2f}", len(cache), ",".join(map(str, passes)), hits / checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", help="PostgreSQL loaded by bench/instructions.py (read)")
    parser.add_argument("--checks", type=int, default=600_000)
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument(
        "--zipf",
        type=float,
        default=0.0,
        help="skew the asks (Zipf exponent, e.g. 0.9); 0: uniform",
    )
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)  # a capacity, in a child
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        run(args.data, args.run, args.checks, args.population, args.zipf)
        return
    if args.db_url is None:
        parser.error("--db-url is required")
    data = Path(tempfile.mkdtemp(prefix="credence-cache-churn-")) / "captured.pickle"
    capture(args.db_url, 2_000, 16, data, "tables")  # read_rows below: the tables
    default = Settings.model_fields["permission_cache_learners"].default
    figures: dict[int, tuple[float, str, str, float]] = {}
    for capacity in (default, 0):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--run",
                str(capacity),
                "--data",
                str(data),
                "--checks",
                str(args.checks),
                "--population",
                str(args.population),
                "--zipf",
                str(args.zipf),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        figures[capacity] = (float(out[1]), out[2], out[3], float(out[4]))
    spread = f"Zipf {args.zipf}" if args.zipf > 0 else "uniformly"
    print(
        f"{args.checks:,} checks over {args.population:,} learners ({spread}), in process (no HTTP)"
    )
    for capacity, (per_check, kept, passes, hit_rate) in figures.items():
        label = f"cache of {capacity:,} learners" if capacity else "cache off"
        print(
            f"   {label:<26} {per_check:7.2f} us a check  kept {kept:>6}  hits {hit_rate:6.1%}"
            f"  collections {passes}"
        )
    print(f"   cache on / off: {figures[default][0] / figures[0][0]:.3f}x")


if __name__ == "__main__":
    main()
