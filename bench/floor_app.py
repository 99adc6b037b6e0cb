"""The served app with one more route, the write path's floor: ``POST /bench/floor`` parses the
same completion body as ``POST /v1/completions`` (the same ``CompletionIn`` model, through the
same middleware stack) and answers 201, doing nothing else. The benchmarks measure a real
endpoint against it in the same run, on the same server.

Run (the benchmarks start it; it is not part of the product)::

    .venv/bin/python bench/floor_app.py --port 8123 --workers 2

with ``CREDENCE_*`` settings in the environment as for ``credence serve``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastapi import FastAPI, Response

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.app import create_served_app  # noqa: E402
from service.completions.schemas import CompletionIn  # noqa: E402

FLOOR_PATH = "/bench/floor"


def create_floor_app() -> FastAPI:
    """``credence serve``'s app (the same factory) plus the floor route."""
    app = create_served_app()

    @app.post(FLOOR_PATH, status_code=201, include_in_schema=False)
    async def floor(body: CompletionIn) -> Response:
        return Response(
            f'{{"learner_id":"{body.learner_id}"}}', status_code=201, media_type="application/json"
        )

    return app


def main() -> None:
    from service.http_limits import http_protocol
    from service.serving import serve

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    serve(  # the options ``credence serve`` passes (service/cli/main.py)
        "floor_app:create_floor_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=True,
        http=http_protocol(),
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
