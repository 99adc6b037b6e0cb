"""``credence serve --workers N``: N worker processes, each listening on a socket of its own.

uvicorn's own ``--workers`` shares one listening socket among its workers, and the worker that
wakes first for a connection accepts every connection waiting (asyncio accepts up to the backlog
in one go). A client that opens its pool of keep-alive connections at once (an LMS's, a load
balancer's, a benchmark's) then often lands wholly on one worker while the others idle: measured
with ``bench/issuance.py``, all 16 of wrk's connections on one of two workers, one worker busy
at 1.1 cores and the other idle. Here each worker binds its own socket to the address with
``SO_REUSEPORT``, and the kernel spreads new connections over the workers' sockets (by a hash of
each connection's addresses), whatever the workers are doing when they arrive.

The parent supervises, as uvicorn's does: it reserves the address first (a bound socket that
does not listen, so it is handed no connections), so that a taken port fails at once with a
clear message; it starts the workers, logs "All N workers are serving" once each listens,
replaces one that dies after it has served, stops everything when a worker cannot start (its
configuration would fail the same way again), and stops the workers gracefully (SIGTERM,
uvicorn's shutdown) on SIGINT or SIGTERM. A worker whose supervisor is killed outright stops
itself within a second or so, rather than serving the address alone.

Without ``SO_REUSEPORT`` (not Linux or BSD), or with one worker, this is plain ``uvicorn.run``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as EventType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("uvicorn.error")

#: How often a worker checks that its supervisor is still there.
ORPHAN_CHECK_SECONDS = 1.0

#: Seconds a stopping worker is given to finish its requests before it is killed.
STOP_PATIENCE_SECONDS = 30.0

#: What the supervisor logs once every worker listens (after "All N "): a script that starts a
#: server and wants its connections spread over all the workers waits for it.
ALL_SERVING = "workers are serving"

_spawn = multiprocessing.get_context("spawn")


def serve(app: str, *, host: str, port: int, workers: int, **options: Any) -> None:
    """Serve the ASGI ``app`` (an import string; ``options`` are uvicorn's) with ``workers``
    processes, each on its own ``SO_REUSEPORT`` socket (see the module)."""
    if workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(app, host=host, port=port, workers=workers, **options)
        return
    config = uvicorn.Config(app, host=host, port=port, workers=workers, **options)
    config.configure_logging()
    try:
        _probe(host, port)  # taken by anyone, this server's own kind included: say so
        reserved = _reuseport_socket(host, port)
    except OSError as exc:
        logger.error("Cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    with reserved:
        sys.exit(_Supervisor(config, workers).run())


def _probe(host: str, port: int) -> None:
    """Bind the address without ``SO_REUSEPORT`` (raises if anything listens there: a second
    server with ``SO_REUSEPORT`` would otherwise quietly share the first one's connections)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


def _reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _stop_when_orphaned(parent: int) -> None:
    """Stop this worker (gracefully) once its supervisor is gone, killed without a chance to
    stop it: a worker left behind would keep serving the address on its own."""
    while os.getppid() == parent:
        time.sleep(ORPHAN_CHECK_SECONDS)
    logger.warning("The supervisor (process %s) is gone: stopping worker %s", parent, os.getpid())
    os.kill(os.getpid(), signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the supervisor when it listens."""

    def __init__(self, config: uvicorn.Config, serving: EventType) -> None:
        super().__init__(config)
        self.serving = serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.serving.set()


def _worker(config: uvicorn.Config, serving: EventType) -> None:
    """A worker process: its own socket on the address, then uvicorn's server on it."""
    config.configure_logging()
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
    try:
        sock = _reuseport_socket(config.host, config.port)
    except OSError as exc:
        logger.error("Cannot listen on %s:%d: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    server = _Server(config, serving)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


@dataclass
class _Worker:
    process: BaseProcess
    serving: EventType  # set once its server listens

    @classmethod
    def start(cls, config: uvicorn.Config) -> _Worker:
        serving = _spawn.Event()
        process = _spawn.Process(target=_worker, args=(config, serving))
        process.start()
        return cls(process, serving)


class _Supervisor:
    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self.config = config
        self.count = workers
        self.workers: list[_Worker] = []
        self.stop = threading.Event()
        self.failed = False

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM (exit status 0) or a worker fails to start (3)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stop.set())
        logger.info(
            "Serving on %s://%s:%d with %d worker processes, each on its own socket "
            "(Press CTRL+C to quit)",
            "https" if self.config.is_ssl else "http",
            self.config.host,
            self.config.port,
            self.count,
        )
        self.workers = [_Worker.start(self.config) for _ in range(self.count)]
        announced = False
        while not self.stop.wait(0.5 if announced else 0.1):
            self._replace_dead()
            if not announced and all(worker.serving.is_set() for worker in self.workers):
                announced = True  # from now on, connections spread over every worker
                logger.info("All %d %s", self.count, ALL_SERVING)
        self._stop_all()
        return STARTUP_FAILURE if self.failed else 0

    def _replace_dead(self) -> None:
        for index, worker in enumerate(self.workers):
            process = worker.process
            if process.is_alive() or self.stop.is_set():
                continue
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("Worker %s could not start: stopping", process.pid)
                self.failed = True
                self.stop.set()
                return
            logger.warning(
                "Worker %s died (exit %s): starting another", process.pid, process.exitcode
            )
            self.workers[index] = _Worker.start(self.config)

    def _stop_all(self) -> None:
        processes = [worker.process for worker in self.workers]
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes its requests, then exits
        for process in processes:
            process.join(STOP_PATIENCE_SECONDS)
            if process.is_alive():
                logger.warning("Worker %s did not stop in time: killing it", process.pid)
                process.kill()
                process.join()
