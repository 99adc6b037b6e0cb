"""Offline verification CLI: ``python -m credentials verify FILE|- [--jwks ...] [...]``.

Exit codes: 0 verified, 1 not verified, 2 usage error (bad arguments, unreadable or
malformed input files, unreachable URLs). The service's ``credence verify`` calls
`verify_main` with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from credentials._encoding import EncodingError, b64url_decode, json_loads_strict, parse_datetime
from credentials.did import did_web_url
from credentials.errors import CredentialsError
from credentials.jws import DEFAULT_MAX_TOKEN_BYTES, ResolveKey
from credentials.keys import SUPPORTED_ALGORITHMS
from credentials.status import DecodedStatusList, load_status_list, make_status_checker
from credentials.verify import VerificationResult, verify

__all__ = ["add_verify_arguments", "main", "run_verify", "verify_main"]

FETCH_TIMEOUT_SECONDS = 10.0
FETCH_MAX_BYTES = 2 * 1024 * 1024


class UsageError(Exception):
    """Internal: the command cannot run (exit code 2)."""


def add_verify_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``verify`` arguments to ``parser`` (for embedding in another CLI)."""
    parser.add_argument("file", metavar="FILE", help="the VC-JWT to verify, or - for stdin")
    parser.add_argument(
        "--jwks",
        metavar="FILE|URL",
        help="JWKS or did:web DID document with the issuer's keys; without it the key is "
        "fetched from the token's kid, which must live under the issuer's own URL or DID",
    )
    parser.add_argument(
        "--status-list",
        metavar="FILE|URL",
        action="append",
        default=[],
        help="a status-list credential (compact JWT, signature checked; or JSON, taken as "
        "given); repeat for the revocation and the suspension list",
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


def _read(source: str, stdin: TextIO | None = None) -> str:
    if source == "-":
        return (stdin or sys.stdin).read()
    parts = urlsplit(source)
    if parts.scheme in ("http", "https"):
        return _fetch(source)
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {exc}") from None


def _fetch(url: str) -> str:
    if urlsplit(url).scheme not in ("http", "https"):
        raise UsageError(f"refusing to fetch non-HTTP URL {url}")
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            body: bytes = response.read(FETCH_MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot fetch {url}: {exc}") from None
    if len(body) > FETCH_MAX_BYTES:
        raise UsageError(f"{url} is larger than {FETCH_MAX_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{url} is not UTF-8 text") from None


def _json(text: str, source: str) -> Any:
    try:
        return json_loads_strict(text)
    except EncodingError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None


def _keys_from_document(doc: Any, source: str) -> dict[str, Mapping[str, Any]]:
    """Index the keys of a JWKS or a DID document by kid and by verification-method id."""
    index: dict[str, Mapping[str, Any]] = {}
    if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        for jwk in doc["keys"]:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                index[jwk["kid"]] = jwk
    elif isinstance(doc, dict) and isinstance(doc.get("verificationMethod"), list):
        for method in doc["verificationMethod"]:
            if not isinstance(method, dict) or not isinstance(method.get("publicKeyJwk"), dict):
                continue
            jwk = method["publicKeyJwk"]
            if isinstance(method.get("id"), str):
                index[method["id"]] = jwk
            if isinstance(jwk.get("kid"), str):
                index.setdefault(jwk["kid"], jwk)
    else:
        raise UsageError(f"{source} is neither a JWKS nor a DID document")
    return index


def _index_resolver(
    index: Mapping[str, Mapping[str, Any]],
) -> Callable[[str], Mapping[str, Any] | None]:
    def resolve(kid: str) -> Mapping[str, Any] | None:
        found = index.get(kid)
        if found is None and "#" in kid:
            found = index.get(kid.rsplit("#", 1)[1])
        return found

    return resolve


def _unverified_issuer(token: str) -> str | None:
    try:
        payload = json_loads_strict(b64url_decode(token.split(".")[1]))
    except (EncodingError, IndexError, UnicodeEncodeError):
        return None
    issuer = payload.get("issuer") if isinstance(payload, dict) else None
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    return issuer_id if isinstance(issuer_id, str) else None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _remote_resolver(issuer_id: str | None, notes: list[str]) -> ResolveKey:
    """Fetch the key named by ``kid``, only from under the issuer's own URL or DID."""

    def resolve(kid: str) -> Mapping[str, Any] | None:
        base = kid.split("#", 1)[0]
        if issuer_id is None:
            notes.append("no issuer id in the token; key not fetched")
            return None
        if kid.startswith("did:web:"):
            if base != issuer_id:
                notes.append(f"kid {kid} is not a key of issuer {issuer_id}; not fetched")
                return None
            url = did_web_url(base)
        elif urlsplit(kid).scheme == "https" and _origin(kid) == _origin(issuer_id):
            url = base
        else:
            notes.append(f"kid {kid} is not under issuer {issuer_id}'s origin; not fetched")
            return None
        return _index_resolver(_keys_from_document(_json(_fetch(url), url), url))(kid)

    return resolve


def _load_lists(
    sources: Sequence[str], algorithms: set[str], resolve: ResolveKey, now: datetime
) -> list[DecodedStatusList]:
    lists = []
    for source in sources:
        text = _read(source).strip()
        try:
            if text.startswith("{"):
                lists.append(load_status_list(_json(text, source), allow_unsigned=True))
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
    token = _read(args.file, stdin).strip()
    try:
        now = parse_datetime(args.now) if args.now else datetime.now(UTC)
    except EncodingError:
        raise UsageError(f"--now {args.now!r} is not an RFC 3339 date-time with a zone") from None
    algorithms = set(args.allow_alg or SUPPORTED_ALGORITHMS)
    notes: list[str] = []
    resolve: ResolveKey
    if args.jwks:
        resolve = _index_resolver(
            _keys_from_document(_json(_read(args.jwks), args.jwks), args.jwks)
        )
    else:
        resolve = _remote_resolver(_unverified_issuer(token), notes)
    lists = _load_lists(args.status_list, algorithms, resolve, now)
    unsigned = [item.url for item in lists if not item.signed]
    notes.extend(f"status list {url} was given as JSON and taken as is" for url in unsigned)
    result = verify(
        token,
        allowed_algorithms=algorithms,
        resolve_key=resolve,
        now=now,
        check_status=make_status_checker(lists, now=now) if lists else None,
        max_token_bytes=args.max_bytes,
    )
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
    return _run(parser, argv, stdout, stderr, stdin)


def _run(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    stdout: TextIO | None,
    stderr: TextIO | None,
    stdin: TextIO | None,
) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse reports usage errors with exit status 2
        return exc.code if isinstance(exc.code, int) else 2
    handler: Callable[..., int] = getattr(args, "handler", run_verify)
    try:
        return handler(args, stdout=out, stdin=stdin)
    except UsageError as exc:
        err.write(f"error: {exc}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m credentials``: dispatch subcommands (``verify``, ``audit-verify``)."""
    parser = argparse.ArgumentParser(prog="python -m credentials")
    commands = parser.add_subparsers(dest="command", required=True)
    verify_parser = commands.add_parser("verify", help="verify an OB 3.0 VC-JWT offline")
    add_verify_arguments(verify_parser).set_defaults(handler=run_verify)
    from credentials.audit_cli import add_audit_verify_arguments, audit_verify_args

    audit_parser = commands.add_parser(
        "audit-verify", help="verify an audit-log export (and a signed checkpoint) offline"
    )
    add_audit_verify_arguments(audit_parser).set_defaults(handler=audit_verify_args)
    return _run(parser, argv, None, None, None)
