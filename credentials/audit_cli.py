"""Offline audit-log verification: ``python -m credentials audit-verify EXPORT [...]``.

The export is JSON lines, one audit event per line (``credence audit export``). The chain is
recomputed from the first event; with ``--checkpoint`` (a checkpoint JWT, or a file holding it
or the ``GET /v1/audit/checkpoint`` JSON) the export must also reach the signed head, so events
removed from the end are caught too. The checkpoint's key comes from ``--issuer`` (fetched
over https from that issuer only) or ``--jwks``, as for ``verify`` (`credentials.key_source`).
Exit codes: 0 intact, 1 tampered or checkpoint refused, 2 usage error. The service's
``credence audit verify`` calls `run_audit_verify`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from credentials._cli import run_parser
from credentials._encoding import EncodingError, json_loads_strict
from credentials.audit import AuditRecord, Checkpoint, verify_chain, verify_checkpoint
from credentials.errors import TokenError
from credentials.key_source import UsageError, key_source, parse_json, read_source
from credentials.keys import SUPPORTED_ALGORITHMS

__all__ = ["add_audit_verify_arguments", "parse_export", "run_audit_verify"]


def add_audit_verify_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``audit-verify`` arguments to ``parser``."""
    parser.add_argument("export", metavar="EXPORT", help="JSON-lines export, or - for stdin")
    parser.add_argument(
        "--checkpoint",
        metavar="JWT|FILE",
        help="signed checkpoint: the JWT, or a file with it (or with the checkpoint JSON)",
    )
    parser.add_argument(
        "--issuer",
        metavar="ID",
        help="the issuer you expect (https URL or did:web DID): the checkpoint must be signed "
        "by it, and without --jwks its key is fetched over https from its own origin or DID",
    )
    parser.add_argument(
        "--jwks",
        metavar="FILE|URL",
        help="JWKS or did:web document with the issuer's keys, saved from a source you trust",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


class _BadLine(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def parse_export(text: str) -> list[AuditRecord]:
    """Parse a JSON-lines export; raise ValueError naming the first line that is not an event."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json_loads_strict(line)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            records.append(AuditRecord.from_mapping(raw))
        except (EncodingError, ValueError) as exc:
            raise _BadLine(number, f"line {number} is not an audit event ({exc})") from None
    return records


def _is_file(source: str) -> bool:
    try:
        return Path(source).is_file()
    except (OSError, ValueError):  # e.g. a JWT longer than a file name may be
        return False


def _checkpoint_token(source: str) -> str:
    text = source
    if _is_file(source):
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {source}: {exc}") from None
    text = text.strip()
    if text.startswith("{"):
        doc = parse_json(text, source)
        token = doc.get("jwt") if isinstance(doc, dict) else None
        if not isinstance(token, str):
            raise UsageError(f"{source}: checkpoint JSON without a 'jwt' member")
        return token.strip()
    if text.count(".") != 2:
        raise UsageError(f"--checkpoint {source[:60]!r} is neither a JWT nor a readable file")
    return text


def run_audit_verify(
    export: str,
    *,
    checkpoint: str | None = None,
    jwks: str | None = None,
    issuer: str | None = None,
    as_json: bool = False,
    stdout: TextIO,
    stdin: TextIO | None = None,
) -> int:
    """Verify an export (and a checkpoint); print the outcome; return 0, 1 (raises UsageError)."""
    text = read_source(export, stdin)
    notes: list[str] = []
    signed: Checkpoint | None = None
    if checkpoint is not None:
        token = _checkpoint_token(checkpoint)
        source = key_source(jwks=jwks, issuer=issuer, token=token, notes=notes)
        try:
            signed = verify_checkpoint(
                token,
                allowed_algorithms=SUPPORTED_ALGORITHMS,
                resolve_key=source.resolve,
                expected_issuer=source.expected_issuer,
            )
        except TokenError as exc:
            return _report(
                stdout, as_json, ok=False, problems=[f"checkpoint refused: {exc}"], notes=notes
            )
    try:
        records = parse_export(text)
    except _BadLine as exc:
        return _report(stdout, as_json, ok=False, problems=[exc.reason], notes=notes)
    result = verify_chain(records, checkpoint=signed)
    summary: dict[str, Any] = {
        "events": result.count,
        "head_seq": result.head_seq,
        "head_hash": result.head_hash,
        "first_bad_seq": result.first_bad_seq,
    }
    if signed is not None:
        summary["checkpoint"] = {
            "seq": signed.seq,
            "hash": signed.hash,
            "at": signed.at,
            "issuer": signed.issuer,
            "matched": result.ok,
            "events_after": result.after_checkpoint,
        }
    else:
        notes.append("no checkpoint given: events removed from the end cannot be detected")
    return _report(stdout, as_json, ok=result.ok, problems=result.problems, notes=notes, **summary)


def _report(
    out: TextIO, as_json: bool, *, ok: bool, problems: list[str], notes: list[str], **info: Any
) -> int:
    if as_json:
        out.write(json.dumps({"ok": ok, **info, "problems": problems, "notes": notes}) + "\n")
        return 0 if ok else 1
    lines = [f"  {problem}" for problem in problems]
    if "events" in info:
        lines.append(f"  {info['events']} event(s) recomputed, head seq {info['head_seq']}")
    cp = info.get("checkpoint")
    if cp is not None and ok:
        lines.append(
            f"  matches the checkpoint signed by {cp['issuer']} at seq {cp['seq']} "
            f"({cp['events_after']} newer event(s) not covered by it)"
        )
    lines.extend(f"  note: {note}" for note in notes)
    lines.append("AUDIT LOG INTACT" if ok else "AUDIT LOG NOT INTACT")
    out.write("\n".join(lines) + "\n")
    return 0 if ok else 1


def audit_verify_args(args: argparse.Namespace, *, stdout: TextIO, stdin: TextIO | None) -> int:
    """Handler for parsed ``audit-verify`` arguments (used by ``python -m credentials``)."""
    return run_audit_verify(
        args.export,
        checkpoint=args.checkpoint,
        jwks=args.jwks,
        issuer=args.issuer,
        as_json=args.json,
        stdout=stdout,
        stdin=stdin,
    )


def audit_verify_main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Entry point with its own parser (exit code 0, 1 or 2)."""
    parser = add_audit_verify_arguments(
        argparse.ArgumentParser(prog="audit-verify", description="Verify an audit-log export.")
    )
    parser.set_defaults(handler=audit_verify_args)
    return run_parser(parser, argv, stdout, None, None)
