"""Offline verification CLI: ``python -m credentials verify FILE|- --issuer ID|--jwks ...``.

The keys come from the issuer the person verifying names (``--issuer``) or from a key file they
saved (``--jwks``), never from wherever the token says (`credentials.key_source`). Exit codes:
0 verified, 1 not verified, 2 usage error (bad arguments, no key source, unreadable or
malformed input files, unreachable URLs or refused redirects). The service's
``credence verify`` calls `verify_main` with the same arguments.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from credentials._cli import run_parser
from credentials._encoding import EncodingError, parse_datetime
from credentials.audit_cli import add_audit_verify_arguments, audit_verify_args
from credentials.errors import CredentialsError
from credentials.jws import DEFAULT_MAX_TOKEN_BYTES, ResolveKey
from credentials.key_source import UsageError, key_source, parse_json, read_source
from credentials.keys import SUPPORTED_ALGORITHMS
from credentials.status import DecodedStatusList, load_status_list, make_status_checker
from credentials.verify import VerificationResult, check_recipient, verify, verify_document

__all__ = ["UsageError", "add_verify_arguments", "main", "run_verify", "verify_main"]


def add_verify_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``verify`` arguments to ``parser`` (for embedding in another CLI)."""
    parser.add_argument(
        "file",
        metavar="FILE",
        help="the credential to verify (a VC-JWT, or its Data Integrity form as JSON), or - for "
        "stdin",
    )
    parser.add_argument(
        "--issuer",
        metavar="ID",
        help="the issuer you expect (its https URL or did:web DID): the token must name it, "
        "and without --jwks its keys are fetched over https from its own origin or DID "
        "document only",
    )
    parser.add_argument(
        "--jwks",
        metavar="FILE|URL",
        help="JWKS or did:web DID document with the issuer's keys, saved from a source you "
        "trust; a DID document holds the token to its DID, a JWKS to --issuer when given "
        "(without --issuer the issuer is not checked, and the output says so)",
    )
    parser.add_argument(
        "--status-list",
        metavar="FILE|URL",
        action="append",
        default=[],
        help="a status-list credential (compact JWT, signature checked; or JSON, taken as "
        "given); repeat for the revocation and the suspension list",
    )
    parser.add_argument(
        "--recipient",
        metavar="EMAIL",
        help="also check that the credential was issued to this email address (its salted-hash "
        "identifier)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--allow-alg",
        action="append",
        choices=sorted(SUPPORTED_ALGORITHMS),
        help="allowed algorithm (repeatable); default: EdDSA, ES256 and RS256",
    )
    parser.add_argument("--now", metavar="RFC3339", help="verify as of this time (default: now)")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_TOKEN_BYTES,
        help=f"largest token accepted (default {DEFAULT_MAX_TOKEN_BYTES})",
    )
    return parser


def _load_lists(
    sources: Sequence[str], algorithms: set[str], resolve: ResolveKey, now: datetime
) -> list[DecodedStatusList]:
    lists = []
    for source in sources:
        text = read_source(source).strip()
        try:
            if text.startswith("{"):
                lists.append(load_status_list(parse_json(text, source), allow_unsigned=True))
            else:
                lists.append(
                    load_status_list(
                        text, allowed_algorithms=algorithms, resolve_key=resolve, now=now
                    )
                )
        except CredentialsError as exc:
            raise UsageError(f"status list {source} is not usable: {exc}") from None
    return lists


def run_verify(args: argparse.Namespace, *, stdout: TextIO, stdin: TextIO | None = None) -> int:
    """Run ``verify`` for parsed arguments; return the exit code (raises nothing for usage)."""
    token = read_source(args.file, stdin).strip()
    try:
        now = parse_datetime(args.now) if args.now else datetime.now(UTC)
    except EncodingError:
        raise UsageError(f"--now {args.now!r} is not an RFC 3339 date-time with a zone") from None
    algorithms = set(args.allow_alg or SUPPORTED_ALGORITHMS)
    notes: list[str] = []
    source = key_source(jwks=args.jwks, issuer=args.issuer, token=token, notes=notes)
    lists = _load_lists(args.status_list, algorithms, source.resolve, now)
    unsigned = [item.url for item in lists if not item.signed]
    notes.extend(f"status list {url} was given as JSON and taken as is" for url in unsigned)
    checker = make_status_checker(lists, now=now) if lists else None
    if token.startswith("{"):  # the Data Integrity form: a JSON-LD credential with its proof
        if len(token.encode()) > args.max_bytes:
            raise UsageError(f"{args.file} is larger than --max-bytes ({args.max_bytes})")
        result = verify_document(
            parse_json(token, args.file),
            resolve_key=source.resolve,
            now=now,
            check_status=checker,
            expected_issuer=source.expected_issuer,
        )
    else:
        result = verify(
            token,
            allowed_algorithms=algorithms,
            resolve_key=source.resolve,
            now=now,
            check_status=checker,
            max_token_bytes=args.max_bytes,
            expected_issuer=source.expected_issuer,
        )
    if args.recipient:
        result = check_recipient(result, args.recipient)
    _print(result, notes, as_json=args.json, out=stdout)
    return 0 if result.verified else 1


def _print(result: VerificationResult, notes: list[str], *, as_json: bool, out: TextIO) -> None:
    if as_json:
        doc = result.to_json()
        doc["notes"] = notes
        out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    cred = result.credential or {}
    subject = cred.get("credentialSubject") if isinstance(cred, dict) else None
    achievement = subject.get("achievement") if isinstance(subject, dict) else None
    issuer = cred.get("issuer")
    lines = [f"credential   {cred.get('id', '(unreadable)')}"]
    if isinstance(issuer, dict):
        lines.append(f"issuer       {issuer.get('name', '')} ({issuer.get('id', '')})")
    if isinstance(subject, dict) and "id" in subject:
        lines.append(f"subject      {subject['id']}")
    if isinstance(achievement, dict):
        lines.append(f"achievement  {achievement.get('name', '')} ({achievement.get('id', '')})")
    lines.append("")
    labels = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}
    lines.extend(f"  {labels[c.status]:<8} {c.name:<11} {c.reason}" for c in result.checks)
    lines.extend(f"  note: {note}" for note in notes)
    lines.append("")
    lines.append("VERIFIED" if result.verified else "NOT VERIFIED")
    out.write("\n".join(lines) + "\n")


def verify_main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "credence verify",
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Entry point of the ``verify`` command; returns the exit code (0, 1 or 2)."""
    parser = add_verify_arguments(
        argparse.ArgumentParser(prog=prog, description="Verify an Open Badges 3.0 VC-JWT offline.")
    )
    parser.set_defaults(handler=run_verify)
    return run_parser(parser, argv, stdout, stderr, stdin)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m credentials``: dispatch subcommands (``verify``, ``audit-verify``)."""
    parser = argparse.ArgumentParser(prog="python -m credentials")
    commands = parser.add_subparsers(dest="command", required=True)
    verify_parser = commands.add_parser("verify", help="verify an OB 3.0 VC-JWT offline")
    add_verify_arguments(verify_parser).set_defaults(handler=run_verify)
    audit_parser = commands.add_parser(
        "audit-verify", help="verify an audit-log export (and a signed checkpoint) offline"
    )
    add_audit_verify_arguments(audit_parser).set_defaults(handler=audit_verify_args)
    return run_parser(parser, argv, None, None, None)
