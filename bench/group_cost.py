"""What one group of single completions costs the server's CPU, in process, without HTTP.

Run::

    .venv/bin/python bench/group_cost.py [--db-url postgresql+psycopg://postgres@127.0.0.1:5432/credence_grp]
        [--group 8] [--rounds 4] [--groups 150] [--warm 100] [--profile]

The database named there is WIPED (a temporary SQLite file when no URL is given). It applies the
demo catalog, then records groups of ``--group`` single completions (new learners, three courses
each, every third completion issuing Social Media Foundations, as ``bench/issuance.py`` posts
them) the way the combiner does: one session and transaction per group through
:func:`record_batch`, flushed and committed. It prints the process CPU per group and per
completion, the best of ``--rounds`` rounds of ``--groups`` groups (this shared machine's noise
only ever adds time), and the statements one group runs. ``--profile`` prints cProfile's top
frames (its overhead inflates small Python functions; read it for the shape, not the figures).

Run it before and after a change to the write path (alternating, on the same database kind):
it isolates the group's own cost from HTTP and from the combiner's scheduling, which
``bench/issuance.py`` measures end to end. ``--group 999 --groups 5 --warm 3`` measures the
batch endpoint's recording the same way (a batch is recorded by the same function).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import harness  # noqa: E402  (bench/harness.py, beside this script)
from fastapi.testclient import TestClient  # noqa: E402
from issuance import items_for  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlmodel import Session  # noqa: E402

from service.app import create_app  # noqa: E402
from service.completions.batch import record_batch  # noqa: E402
from service.completions.schemas import CompletionIn  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.issuance.context import Issuer  # noqa: E402

DEMO = ROOT / "service" / "catalog" / "demo" / "social-media-program.yaml"


def record_groups(engine: object, issuer: Issuer, groups: list[list[CompletionIn]]) -> None:
    for group in groups:
        with Session(engine, expire_on_commit=False) as session:  # type: ignore[call-overload]
            record_batch(session, issuer, group, source="bench", actor="bench")
            session.flush()
            session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", help="PostgreSQL (wiped); a temporary SQLite file if absent")
    parser.add_argument("--group", type=int, default=8, help="completions per group (8)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--groups", type=int, default=150, help="groups per round (150)")
    parser.add_argument("--warm", type=int, default=100, help="groups before measuring (100)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="credence-group-") as tmp:
        url = args.db_url or f"sqlite:///{tmp}/bench.db"
        harness.fresh_database(url)
        admin, _ = harness.bench_keys(url)
        engine = make_engine(url)
        app = create_app(harness.bench_settings(url, f"{tmp}/dev-key"), engine=engine)
        with TestClient(app) as client:  # the app's lifespan: keys, caches
            client.put(
                "/v1/catalog",
                content=DEMO.read_bytes(),
                headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/yaml"},
            ).raise_for_status()
            issuer: Issuer = app.state.issuer
            warm = args.warm
            wanted = (warm + 1 + args.rounds * args.groups) * args.group
            items = [CompletionIn.model_validate(i) for i in items_for("g", wanted // 3 + 1)]
            groups = [items[i : i + args.group] for i in range(0, wanted, args.group)]
            record_groups(engine, issuer, groups[:warm])  # connections, caches, prepared plans

            statements: list[str] = []
            listener = lambda *a: statements.append(a[2].split("\n")[0])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            record_groups(engine, issuer, groups[warm : warm + 1])
            event.remove(engine, "before_cursor_execute", listener)

            profile = cProfile.Profile() if args.profile else None
            best = float("inf")
            start = warm + 1
            for n in range(args.rounds):
                chunk = groups[start + n * args.groups : start + (n + 1) * args.groups]
                began = time.process_time()
                if profile is not None:
                    profile.enable()
                record_groups(engine, issuer, chunk)
                if profile is not None:
                    profile.disable()
                best = min(best, time.process_time() - began)
        engine.dispose()
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    per_group = best / args.groups * 1000
    print(
        f"{kind}: a group of {args.group} single completions costs {per_group:.2f} ms of CPU "
        f"({per_group / args.group:.3f} ms a completion); best of {args.rounds} rounds of "
        f"{args.groups} groups"
    )
    print(f"one group's statements ({len(statements)}):")
    for statement in statements:
        print(f"   {statement[:110]}")
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
