"""The webhook delivery worker inside a served process (``CREDENCE_WEBHOOK_IN_SERVE=true``).

The same :class:`~service.webhooks.worker.Worker` as ``credence worker``, on its own thread and
event loop: its database work is synchronous, and must not hold up the requests on the server's
loop. Every served process (``--workers N``) runs one; deliveries are leased, so several never
send one event twice at once, exactly as with several ``credence worker`` processes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from service.settings import Settings
from service.webhooks.settings import WebhookSettings
from service.webhooks.worker import Job, Worker

log = logging.getLogger("credence.webhooks")


class BackgroundWorker:
    """Start with :meth:`start`, stop (waiting for the round in progress) with :meth:`stop`."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        config: WebhookSettings,
        jobs: Sequence[Job] = (),
    ) -> None:
        self._worker = Worker(engine, settings, config, jobs=jobs)
        self._thread = threading.Thread(
            target=self._run, name="credence-webhook-worker", daemon=True
        )
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        self._started.wait(timeout=10)
        log.info("webhook worker %s started inside the server", self._worker.name)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        async with self._worker as runner:
            await runner.run(self._stop)

    def stop(self, timeout: float = 30.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)
