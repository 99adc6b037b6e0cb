"""What the HTTP benchmarks share: a fresh database, a served Credence, and wrk's figures.

Imported by the scripts beside it (``bench/permissions.py``, ``bench/verify.py``, ...), which run
from the repository root as ``.venv/bin/python bench/<name>.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.db import make_engine  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.serving import ALL_SERVING  # noqa: E402
from service.settings import Settings  # noqa: E402

# A wrk Lua ``done`` hook printing one line that :func:`run_wrk` reads (append to a script).
WRK_DONE = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %f %f %f %d\\n", summary.requests,
    summary.duration / 1e6, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
"""


def wrk_seed(seed: int) -> str:
    """Lua that seeds each wrk thread's ``math.random`` apart (``seed`` sets this run apart from
    others started in the same second). wrk runs the script in one Lua state per thread: seeded
    alike at the top of the script, every thread draws the same sequence, so a "uniform" check
    asks about each learner once per thread, back to back, which the facts cache (then keeping a
    learner from its second reading) kept and evicted at a churning rate no real traffic has."""
    return f"""
local seeded_threads = 0
setup = function(thread)
  seeded_threads = seeded_threads + 1
  thread:set("thread_number", seeded_threads)
end
init = function(args)
  math.randomseed(os.time() * 1000 + {seed % 1000} + 7919 * thread_number)
end
"""


def fresh_database(url: str) -> None:
    """Migrate ``url`` from nothing (a PostgreSQL database's schema is dropped first, a SQLite
    file removed)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    if url.startswith("postgresql"):
        create_database_if_missing(url)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)


def create_database_if_missing(url: str) -> None:
    """Create the PostgreSQL database named in ``url`` (from the server's ``postgres`` database),
    so that a bench runs on a fresh machine without a set-up step."""
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).first()
            if exists is None:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def analyze(url: str) -> None:
    """Refresh the planner's statistics (``ANALYZE``), as autovacuum does within a minute or so
    of a table's growth: a bench that has just filled a fresh database measures the steady
    state, not the first minute, in which PostgreSQL may keep a plan made for an empty table
    (a generic plan of a prepared statement stays until the statistics change: seen as a
    sequential scan of ``completion`` per group of single completions, 5-8 ms at 6,000 rows)."""
    engine = make_engine(url)
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()


def bench_settings(url: str, dev_key_file: str) -> Settings:
    """The settings an in-process bench runs the app with (the credentials' issuer URL is the
    benches' own: nothing is served there)."""
    return Settings(
        database_url=url,
        base_url="https://credence.bench",
        log_level="WARNING",
        dev_key_file=dev_key_file,
    )


def bench_keys(url: str) -> tuple[str, str]:
    """Two API keys on the database at ``url``: (admin, permissions:check)."""
    from sqlmodel import Session

    from service.api_clients.service import create_client

    engine = make_engine(url)
    with Session(engine) as session:
        _, admin = create_client(session, name="bench-admin", scopes=["admin"], actor="bench")
        _, checker = create_client(
            session, name="bench-publisher", scopes=["permissions:check"], actor="bench"
        )
        session.commit()
    engine.dispose()
    return admin, checker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    url: str,
    port: int,
    *,
    workers: int,
    dev_key_file: str,
    log: Path,
    floor: bool = False,
    **env: str,
) -> subprocess.Popen[bytes]:
    """``credence serve`` on ``port`` (``env``: extra ``CREDENCE_*`` settings), once ready; with
    ``floor``, the same app plus the floor route (``bench/floor_app.py``)."""
    environment = {
        **os.environ,
        "CREDENCE_DATABASE_URL": url,
        "CREDENCE_LOG_LEVEL": "WARNING",
        "CREDENCE_DEV_KEY_FILE": dev_key_file,
        **env,
    }
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    if floor:
        command = [sys.executable, str(ROOT / "bench" / "floor_app.py"), "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            # and every worker listens: connections spread over all of them (service/serving.py)
            if ready and (workers == 1 or f"All {workers} {ALL_SERVING}" in log.read_text()):
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"server did not start; see {log}:\n{log.read_text()[-2000:]}")


# One wrk thread's stream of single completions: each learner's three courses, ``SPREAD``
# learners apart (a learner's completions arrive in order, not back to back on parallel
# connections); the second course issues Social Media Foundations.
SINGLE_LUA = """
local courses = {"policy-101", "brand-voice-101", "disclosure-101"}
local spread = 64
local counter = 0
local threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  local n = counter
  counter = counter + 1
  local within = n % (3 * spread)
  local learner = (n - within) / 3 + within % spread
  local course = courses[math.floor(within / spread) + 1]
  local score = ""
  if course == "policy-101" then score = ',"score":90' end
  local body = string.format(
    '{"learner_id":"%s-%d-%d","course_id":"%s","completed_at":"%s"%s}',
    "@PREFIX@", tid, learner, course, "@AT@", score)
  return wrk.format("POST", "@PATH@", {
    ["Authorization"] = "Bearer @KEY@", ["Content-Type"] = "application/json"}, body)
end
"""


def single_lua(prefix: str, path: str, key: str) -> str:
    """:data:`SINGLE_LUA` for learners named ``prefix-...``, posting to ``path`` with ``key``
    (completed two days ago)."""
    from datetime import UTC, datetime, timedelta

    at = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        SINGLE_LUA.replace("@PREFIX@", prefix)
        .replace("@AT@", at)
        .replace("@PATH@", path)
        .replace("@KEY@", key)
    )


def run_wrk(
    script: str, port: int, seconds: int, connections: int, lua: Path, *, threads: int = 2
) -> tuple[float, float, float, int]:
    """Run wrk with the Lua ``script`` (``WRK_DONE`` is appended) against the server on
    ``port``; returns (requests/s, p50 ms, p99 ms, errors)."""
    lua.write_text(script + WRK_DONE)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    output = subprocess.run(
        [*command, "-s", str(lua), f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    match = re.search(r"RESULT (\d+) ([\d.]+) ([\d.]+) ([\d.]+) (\d+)", output)
    if match is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    requests, duration, p50, p99, errors = match.groups()
    return int(requests) / float(duration), float(p50), float(p99), int(errors)


#: Single completions as an LMS posts them: three courses per learner, the second of which
#: issues Social Media Foundations (with policy-101's score).
SINGLE_COURSES = ("policy-101", "brand-voice-101", "disclosure-101")


def post_singles(
    base: str,
    key: str,
    *,
    clients: int,
    seconds: float,
    prefix: str = "s",
    latencies: list[float] | None = None,
) -> int:
    """``POST /v1/completions`` one at a time from ``clients`` threads for ``seconds`` (every
    answer must be 201); how many were posted (each one's seconds appended to ``latencies``)."""
    import threading
    from datetime import UTC, datetime, timedelta

    at = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    done = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def work(n: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            i = 0
            while time.monotonic() < stop:
                for course in SINGLE_COURSES:
                    body = {
                        "learner_id": f"{prefix}{n}-{i}",
                        "course_id": course,
                        "completed_at": at,
                        "score": 90,
                    }
                    started = time.monotonic()
                    answer = client.post("/v1/completions", json=body)
                    took = time.monotonic() - started
                    assert answer.status_code == 201, answer.text
                    with lock:
                        done[0] += 1
                        if latencies is not None:
                            latencies.append(took)
                i += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done[0]


def _processes() -> dict[int, tuple[str, int, float]]:
    """Every process now: pid -> (command name, parent pid, CPU seconds used so far by it and by
    its children that ended)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # its own CPU and its ended children's (PostgreSQL's postmaster reaps its backends)
        spent = sum(int(fields[i]) for i in (11, 12, 13, 14)) / tick
        found[int(entry.name)] = (name, int(fields[1]), spent)
    return found


def _machine() -> tuple[int, int]:
    """(busy, all) jiffies of every CPU since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


def _reaped_children() -> float:
    """CPU seconds of this script's children that have ended and been waited for."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """Where the CPU went over an interval (Linux ``/proc``): the servers (the processes under
    ``servers``' pids), PostgreSQL's processes, wrk (this script's children, running or ended),
    and the whole machine, in cores (CPU seconds per second). A process that ends within the
    interval counts through its parent (PostgreSQL's backends through the postmaster), with its
    whole life's CPU: a close reading, not an exact one."""

    def __init__(self, servers: list[int]) -> None:
        self.servers = set(servers)
        self.children = _reaped_children()
        self.start = _processes()
        self.machine = _machine()
        self.started = time.monotonic()

    def stop(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.started
        now = _processes()
        busy, total = _machine()
        used = {"server": 0.0, "postgres": 0.0, "wrk": 0.0}
        for pid, (name, _, seconds) in now.items():
            before = self.start.get(pid)
            spent = seconds - (before[2] if before and before[0] == name else 0.0)
            group = "server" if self._under_servers(pid, now) else name
            if group in used:
                used[group] += spent
        used["wrk"] += _reaped_children() - self.children  # wrk ran as this script's child
        cores = {group: spent / elapsed for group, spent in used.items()}
        cpus = os.cpu_count() or 1
        cores["machine"] = cpus * (busy - self.machine[0]) / max(1, total - self.machine[1])
        cores["cpus"] = cpus
        return cores

    def _under_servers(self, pid: int, processes: dict[int, tuple[str, int, float]]) -> bool:
        seen = 0
        while pid in processes and seen < 64:
            if pid in self.servers:
                return True
            pid, seen = processes[pid][1], seen + 1
        return False


def cpu_line(cores: dict[str, float]) -> str:
    """A :class:`CpuMeter` reading as one line."""
    return (
        f"CPU (cores of {cores['cpus']:.0f}): servers {cores['server']:.2f}, "
        f"PostgreSQL {cores['postgres']:.2f}, wrk {cores['wrk']:.2f}, "
        f"machine busy {cores['machine']:.2f}"
    )
