"""Several workers at once (their own connections and transactions, as separate processes
would have) relay, scan and send the same queue: every earner gets each message once."""

from __future__ import annotations

import threading
from collections import Counter

from tests.earners.conftest import Clock, drain, earn_foundations, learner


def test_concurrent_workers_send_each_message_once(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    ids = []
    mail = mail.model_copy(update={"batch_size": 2})  # many small claims: more contention
    for i in range(16):
        learner(api, admin_headers, f"w{i}", email=f"w{i}@example.com")
        ids.append(earn_foundations(api, admin_headers, f"w{i}")["id"])
    clock = Clock()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def work() -> None:
        try:
            start.wait()
            drain(database, settings, config, mail, clock)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    sent = Counter(m["X-Credence-Credential"] for m in mailbox.messages)
    assert sent == Counter(ids)  # each credential's award once, none twice
