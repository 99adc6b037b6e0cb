"""``credence audit export`` + ``credence audit verify``: an untouched export verifies against
the signed checkpoint; an edited, deleted, inserted or reordered event is detected and named,
and so are events cut from the end and a history rewritten with fresh hashes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from credentials import chain_hash, event_body
from credentials.cli import main as credentials_main
from tests.verification.conftest import Demo, save


class Audit:
    """An export, the checkpoint taken before it, and the JWKS, as files."""

    def __init__(self, demo: Demo, cli: Any, tmp_path: Path) -> None:
        self.cli = cli
        self.tmp = tmp_path
        demo.earn("ana")
        demo.earn("ben")
        assert demo.client.post("/v1/keys/rotate", headers=demo.admin).status_code == 200
        self.checkpoint = demo.client.get("/v1/audit/checkpoint", headers=demo.admin).json()
        demo.earn("cy")  # events after the checkpoint: in the export, not covered by it
        self.jwks = save(tmp_path / "jwks.json", demo.client.get("/.well-known/jwks.json").text)
        self.export = tmp_path / "audit.jsonl"
        result = cli("audit", "export", "--output", str(self.export))
        assert result.exit_code == 0, result.output
        self.lines = self.export.read_text().splitlines()
        assert len(self.lines) > self.checkpoint["seq"] >= 10

    def verify(self, lines: list[str], *extra: str) -> Any:
        path = save(self.tmp / "tampered.jsonl", "\n".join(lines) + "\n")
        return self.cli(
            "audit",
            "verify",
            path,
            "--checkpoint",
            self.checkpoint["jwt"],
            "--jwks",
            self.jwks,
            *extra,
        )


@pytest.fixture
def audit(demo: Demo, cli: Any, tmp_path: Path) -> Audit:
    return Audit(demo, cli, tmp_path)


def _event(line: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(line)
    return event


def test_an_untouched_export_verifies_against_the_signed_checkpoint(audit: Audit) -> None:
    result = audit.verify(audit.lines)
    assert result.exit_code == 0, result.output
    assert "AUDIT LOG INTACT" in result.output
    newer = len(audit.lines) - audit.checkpoint["seq"]
    assert f"at seq {audit.checkpoint['seq']} ({newer} newer event(s)" in result.output

    as_json = json.loads(audit.verify(audit.lines, "--json").stdout)
    assert as_json["ok"] is True and as_json["checkpoint"]["matched"] is True
    assert as_json["events"] == len(audit.lines) and as_json["first_bad_seq"] is None


def test_the_checkpoint_may_be_given_as_the_saved_endpoint_response(audit: Audit) -> None:
    saved = save(audit.tmp / "checkpoint.json", json.dumps(audit.checkpoint))
    result = audit.cli(
        "audit", "verify", str(audit.export), "--checkpoint", saved, "--jwks", audit.jwks
    )
    assert result.exit_code == 0, result.output


def _edit(lines: list[str]) -> list[str]:
    event = _event(lines[4])
    event["data"] = {**event["data"], "note": "quietly changed"}
    return [*lines[:4], json.dumps(event), *lines[5:]]


def _edit_actor(lines: list[str]) -> list[str]:
    event = _event(lines[4])
    event["actor"] = "someone-else"
    return [*lines[:4], json.dumps(event), *lines[5:]]


def _rewrite(lines: list[str]) -> list[str]:
    """Edit event 5 and recompute every hash after it: a consistent, forged history."""
    out = lines[:4]
    prev = _event(lines[3])["hash"]
    for index, line in enumerate(lines[4:]):
        event = _event(line)
        if index == 0:
            event["actor"] = "someone-else"
        body = event_body(
            **{k: event[k] for k in ("seq", "at", "actor", "action", "subject", "data")}
        )
        event["prev_hash"], event["hash"] = prev, chain_hash(prev, body)
        prev = event["hash"]
        out.append(json.dumps(event))
    return out


def _forge_insert(lines: list[str]) -> list[str]:
    """A new event 6 that links to event 5 and carries a correct hash of its own."""
    before = _event(lines[4])
    forged = event_body(6, before["at"], "cli:root", "credential.revoked", "credential:x", {})
    forged_line = json.dumps(
        {**forged, "prev_hash": before["hash"], "hash": chain_hash(before["hash"], forged)}
    )
    return [*lines[:5], forged_line, *lines[5:]]


TAMPERING: list[tuple[str, Callable[[list[str]], list[str]], int, str]] = [
    ("edit data", _edit, 5, "event 5 (record 5): content does not match its hash (edited)"),
    ("edit actor", _edit_actor, 5, "event 5 (record 5): content does not match its hash"),
    ("delete", lambda ls: ls[:2] + ls[3:], 4, "event 4 (record 3): expected seq 3"),
    (
        "insert a copy",
        lambda ls: [*ls[:3], ls[2], *ls[3:]],
        3,
        "event 3 (record 4): expected seq 4",
    ),
    ("insert a forged event", _forge_insert, 6, "event 6 (record 7): expected seq 7"),
    (
        "reorder",
        lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]],
        4,
        "event 4 (record 3): expected seq 3",
    ),
    ("swap the last two", lambda ls: [*ls[:-2], ls[-1], ls[-2]], -1, "expected seq"),
    ("rewrite with fresh hashes", _rewrite, 0, "differs from the signed checkpoint"),
]


@pytest.mark.parametrize(("name", "tamper", "bad_seq", "message"), TAMPERING)
def test_tampering_is_detected_and_the_event_named(
    audit: Audit, name: str, tamper: Callable[[list[str]], list[str]], bad_seq: int, message: str
) -> None:
    result = audit.verify(tamper(list(audit.lines)))
    assert result.exit_code == 1, result.output
    assert "AUDIT LOG NOT INTACT" in result.output
    assert message in result.output
    report = json.loads(audit.verify(tamper(list(audit.lines)), "--json").stdout)
    expected = {
        -1: len(audit.lines),  # the last event, now first out of place
        0: audit.checkpoint["seq"],  # only the checkpoint can tell: named at its seq
    }.get(bad_seq, bad_seq)
    assert report["ok"] is False and report["first_bad_seq"] == expected


def test_events_cut_from_the_end_are_caught_only_by_the_checkpoint(audit: Audit) -> None:
    cut = audit.lines[: audit.checkpoint["seq"] - 2]
    path = save(audit.tmp / "cut.jsonl", "\n".join(cut) + "\n")
    unchecked = audit.cli("audit", "verify", path)
    assert unchecked.exit_code == 0  # a shorter chain is still a valid chain...
    assert "no checkpoint given" in unchecked.output
    result = audit.verify(cut)  # ...but not the one the issuer signed
    assert result.exit_code == 1
    seq = audit.checkpoint["seq"]
    assert f"events {seq - 1}..{seq} are missing" in result.output


def test_a_forged_or_foreign_checkpoint_is_refused(audit: Audit) -> None:
    head, payload, signature = audit.checkpoint["jwt"].split(".")
    forged = f"{head}.{payload[:-4]}AAAA.{signature}"
    result = audit.cli(
        "audit", "verify", str(audit.export), "--checkpoint", forged, "--jwks", audit.jwks
    )
    assert result.exit_code == 1
    assert "checkpoint refused" in result.output
    empty = save(audit.tmp / "empty-jwks.json", '{"keys": []}')
    result = audit.cli(
        "audit",
        "verify",
        str(audit.export),
        "--checkpoint",
        audit.checkpoint["jwt"],
        "--jwks",
        empty,
    )
    assert result.exit_code == 1 and "unknown key id" in result.output


def test_the_checkpoint_is_held_to_the_expected_issuer(audit: Audit) -> None:
    """--issuer: a checkpoint signed by another issuer is refused; without --jwks or --issuer
    the checkpoint's own issuer claim is not trusted to say where its key is."""
    ok = audit.verify(audit.lines, "--issuer", "https://credence.test")
    assert ok.exit_code == 0, ok.output
    other = audit.verify(audit.lines, "--issuer", "https://other.test")
    assert other.exit_code == 1
    assert "not by the expected issuer 'https://other.test'" in other.output
    keyless = audit.cli(
        "audit", "verify", str(audit.export), "--checkpoint", audit.checkpoint["jwt"]
    )
    assert keyless.exit_code == 2
    assert "no key source" in keyless.output
    assert "this token names issuer https://credence.test" in keyless.output


def test_a_line_that_is_not_an_event_is_named(audit: Audit) -> None:
    result = audit.verify([*audit.lines[:3], "{not json", *audit.lines[3:]])
    assert result.exit_code == 1 and "line 4 is not an audit event" in result.output


def test_usage_errors_exit_2(audit: Audit) -> None:
    assert audit.cli("audit", "verify", str(audit.tmp / "missing.jsonl")).exit_code == 2
    bad = audit.cli("audit", "verify", str(audit.export), "--checkpoint", "not-a-jwt")
    assert bad.exit_code == 2


def test_the_library_cli_verifies_the_same_export_offline(
    audit: Audit, capsys: pytest.CaptureFixture[str]
) -> None:
    code = credentials_main(
        [
            "audit-verify",
            str(audit.export),
            "--checkpoint",
            audit.checkpoint["jwt"],
            "--jwks",
            audit.jwks,
        ]
    )
    assert code == 0, capsys.readouterr()
    assert "AUDIT LOG INTACT" in capsys.readouterr().out
