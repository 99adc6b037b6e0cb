"""Which learners the permission facts cache keeps: its hit rate and how often it takes a learner
in (each taking-in builds an entry to last and evicts another), for traffic spread uniformly or
skewed, with the admission window as it is and at other sizes.

Run (no database, no server; a minute)::

    .venv/bin/python bench/cache_admission.py [--capacity 1000] [--asks 300000] [--windows 5 10 20]

It drives the real :class:`~service.permissions.cache.FactsCache` with stand-in entries through
the asks a check makes (``get``, and ``put`` on a miss), for each traffic pattern: uniform over
1, 2, 4, 10 and 100 times the capacity, and Zipf-skewed (the learner of rank r asked in
proportion to 1 / (r + 1) ** s) over 20 and 100 times. For each ``--windows`` value
(``ASK_WINDOW``: the counts' window in asks per learner of capacity) it prints the share of
the second half's asks answered from the cache and the admissions per ask over the whole run,
beside what "keep from the second reading lately" (the cache's earlier admission) gives.
Uniform traffic over more learners than the cache holds gets the same hit rate from any stable
set, so there admissions are pure cost; skewed traffic rewards keeping the frequent learners.
A ``--capacity`` of ``MODEL_MIN_CAPACITY`` (4,096) or more also runs the cache's model of
itself, which stops it keeping learners where the model answers under ``WORTH_KEEPING`` of the
asks (uniform over ten times the capacity and more): the default 1,000 has none.
"""

from __future__ import annotations

import argparse
import random
import sys
from bisect import bisect
from collections import OrderedDict
from itertools import accumulate
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.permissions import cache as cache_module
from service.permissions.cache import FactsCache


class Entry:
    """Stands in for a :class:`~service.permissions.cache.LearnerFacts` (what the cache reads of
    one)."""

    revision = 1

    def share_strings(self) -> None:
        pass


class SecondReading:
    """The earlier admission, for comparison: FIFO, a learner kept when read once before among
    the last two to four times ``capacity`` learners read once."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: OrderedDict[str, Any] = OrderedDict()
        self.once: set[str] = set()
        self.once_before: set[str] = set()

    def holds(self, learner_id: str) -> bool:
        return learner_id in self.entries

    def get(self, learner_id: str, revision: int) -> Any:
        return self.entries.get(learner_id)

    def put(self, learner_id: str, entry: Any) -> None:
        new = self.entries.pop(learner_id, None) is None
        if new and learner_id not in self.once and learner_id not in self.once_before:
            self.once.add(learner_id)
            if len(self.once) >= 2 * self.capacity:
                self.once_before, self.once = self.once, set()
            return
        while len(self.entries) >= self.capacity:
            self.entries.popitem(last=False)
        self.entries[learner_id] = entry


def draws(asks: int, population: int, zipf: float, rng: random.Random) -> list[str]:
    if zipf <= 0:
        return [f"L{rng.randrange(population)}" for _ in range(asks)]
    weights = list(accumulate(1 / (rank + 1) ** zipf for rank in range(population)))
    return [f"L{bisect(weights, rng.random() * weights[-1])}" for _ in range(asks)]


def drive(cache: Any, asked: list[str]) -> tuple[float, float]:
    """The second half's hit rate and the run's admissions per ask."""
    hits = admitted = 0
    half = len(asked) // 2
    for number, learner_id in enumerate(asked):
        held = cache.holds(learner_id)
        if cache.get(learner_id, 1) is not None:
            hits += number >= half
            continue
        cache.put(learner_id, Entry())
        admitted += not held and cache.holds(learner_id)
    return hits / (len(asked) - half), admitted / len(asked)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--capacity", type=int, default=1_000)
    parser.add_argument("--asks", type=int, default=300_000)
    parser.add_argument("--windows", type=int, nargs="+", default=[5, 10, 20])
    args = parser.parse_args()
    patterns = [(times, 0.0) for times in (1, 2, 4, 10, 100)]
    patterns += [(20, 0.8), (100, 0.7), (100, 1.0)]
    print(f"capacity {args.capacity:,}, {args.asks:,} asks a pattern; hit rate / admissions an ask")
    header = "".join(f"  {'window ' + str(w):>15}" for w in args.windows)
    print(f"   {'learners':>9} {'spread':>8}  {'second reading':>15}{header}")
    default = cache_module.ASK_WINDOW
    try:
        for times, zipf in patterns:
            asked = draws(args.asks, times * args.capacity, zipf, random.Random(times))
            figures = [drive(SecondReading(args.capacity), asked)]
            for window in args.windows:
                cache_module.ASK_WINDOW = window
                cache = FactsCache(args.capacity)
                cache.for_catalog(1)
                figures.append(drive(cache, asked))
            spread = f"Zipf {zipf}" if zipf else "uniform"
            cells = "".join(f"  {hit:6.1%} / {admit:5.3f}" for hit, admit in figures)
            print(f"   {times * args.capacity:>9,} {spread:>8}{cells}")
    finally:
        cache_module.ASK_WINDOW = default
    print(f"(the cache's window: {default})")


if __name__ == "__main__":
    main()
