"""Garbage-collector tuning for a served process (``credence serve``), never for an app built
in tests or tools: it changes the whole process, so only the serve entry point
(:func:`service.app.create_served_app`) calls it, once its app has started."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Tune the collector for a long-lived server process, after start-up.

    A served process keeps its start-up objects (modules, routes, schemas) for life: move them
    out of the collector's sight, so a full collection walks only what requests made (without
    this, each one paused the process for ~40 ms). And collect less often than CPython's default
    (every 700 allocations): a request allocates thousands of short-lived objects (asyncio
    futures, driver rows) that die without help; on PostgreSQL the default cost permission
    checks ~15% of their throughput and most of their tail latency (bench/permissions.py).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)
