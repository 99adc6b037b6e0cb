"""``credence demo``: a demonstration organisation in the configured database (idempotent), and
what to try next against ``make run``: every command it prints works as written there.

The answers it shows are the service's own: after seeding, the demo asks the app in-process
(the same routes ``make run`` serves), so the printed reasons are what ``curl`` will print.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from service.audit.service import head_seq
from service.cli.api_keys import ensure_key_file
from service.cli.context import cli_actor, cli_session, serving_settings
from service.db import make_engine, utcnow
from service.demo.seed import LEARNERS, Seeded, seed
from service.errors import ServiceError
from service.issuance.context import Issuer
from service.issuance.repository import credential_rows
from service.migrations import upgrade
from service.settings import Settings

ALLOWED = ("ana", "post-on-brand-accounts")
DENIED = ("cy", "post-on-brand-accounts")
SHOWN_CREDENTIAL = ("ana", "social-media/foundations")


def demo(
    host: Annotated[str, typer.Option(help="Host `make run` serves on (names the URLs)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port `make run` serves on (names the URLs)")] = 8000,
) -> None:
    """Fill the database with a demo organisation (idempotent) and print what to try next."""
    settings = serving_settings(host, port)
    if settings.env != "development":
        typer.echo("error: the demo is for CREDENCE_ENV=development only", err=True)
        raise typer.Exit(2)
    upgrade(settings.database_url.get_secret_value())
    before = _audit_head(settings)
    issuer = Issuer.build(settings)
    try:  # first, so that a refusal (another catalog is there) leaves everything as it was
        with cli_session(settings) as session:
            seeded = seed(session, issuer, actor=cli_actor())
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    admin_key = ensure_key_file(
        settings, Path(settings.dev_key_file), name="development", scopes=["admin"]
    )
    reports_key = ensure_key_file(
        settings,
        Path(f"{settings.dev_key_file}-reports"),
        name="dashboard (read-only)",
        scopes=["reports:read"],
    )
    written = _audit_head(settings) - before
    run = "make run" + "".join(
        f" {name}={value}"
        for name, value, default in (("HOST", host, "127.0.0.1"), ("PORT", port, 8000))
        if value != default
    )
    typer.echo(_walkthrough(settings, seeded, written, run, admin_key, reports_key))


def _audit_head(settings: Settings) -> int:
    with cli_session(settings) as session:
        return head_seq(session)


def _walkthrough(
    settings: Settings, seeded: Seeded, written: int, run: str, admin_key: str, reports_key: str
) -> str:
    api = settings.base_url
    auth = f"-H {shlex.quote('Authorization: Bearer ' + admin_key)}"
    credential_id, credentials = _credentials(settings)
    beginners = [learner for learner, held in credentials.items() if not held]
    paths = [_check_path(*ALLOWED), _check_path(*DENIED)]
    paths += [f"/v1/learners/{learner}/progress" for learner in beginners]
    allowed, denied, *progress = asyncio.run(_ask(settings, admin_key, paths))
    for learner, answer in zip(beginners, progress, strict=True):
        credentials[learner] = _progress(answer)
    jwt_file = "ana-foundations.jwt"
    credence = _credence_command()
    lines = [
        _summary(seeded, written),
        "",
        "Learners (what each holds now; GET /v1/learners/ID/progress says what is missing):",
        *(f"  {p.id:<4} {p.name:<11} {p.department:<10} {credentials[p.id]}" for p in LEARNERS),
        "",
        f"Start the service in another terminal with `{run}` (it serves {api}), then:",
        "",
        f"1. May {ALLOWED[0]} post on brand accounts? {_verdict(allowed)}",
        f"    curl -s {auth} {shlex.quote(api + _check_path(*ALLOWED))}",
        "",
        f"2. May {DENIED[0]} post on brand accounts? {_verdict(denied)}",
        f"    curl -s {auth} {shlex.quote(api + _check_path(*DENIED))}",
        "",
        f"3. {ALLOWED[0]}'s Foundations credential, {credential_id}:",
        "   fetch it, verify it online, and offline (the same library code, no service needed):",
        f"    curl -s {auth} -H 'Accept: application/vc+jwt' "
        f"{shlex.quote(f'{api}/v1/credentials/{credential_id}')} > {jwt_file}",
        "    curl -s -H 'Content-Type: application/vc+jwt' "
        f"--data-binary @{jwt_file} {api}/v1/verify",
        f"    curl -s {api}/.well-known/jwks.json > jwks.json",
        f"    {credence} verify {jwt_file} --jwks jwks.json",
        f"   Or paste the JWT into the verification page: {api}/verify",
        "",
        f"4. The dashboard: {api}/dashboard",
        f"   Paste this read-only key (scope reports:read): {reports_key}",
        "",
        f"The admin key is in {settings.dev_key_file}; running the demo again changes nothing.",
    ]
    return "\n".join(lines)


async def _ask(settings: Settings, key: str, paths: list[str]) -> list[Any]:
    """The service's answers to GET ``paths``, asked in-process (no server needed)."""
    from service.app import create_app  # the whole app: only for this command

    quiet = settings.model_copy(update={"log_level": "WARNING"})
    engine = make_engine(settings.database_url.get_secret_value())
    app = create_app(quiet, engine=engine)
    try:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url=settings.base_url, headers=headers
        ) as client:
            answers = []
            for path in paths:
                response = await client.get(path)
                response.raise_for_status()
                answers.append(response.json())
            return answers
    finally:
        permissions = getattr(app.state, "permissions", None)  # what the lifespan would close
        if permissions is not None:
            await permissions.close()
        engine.dispose()


def _verdict(answer: dict[str, Any]) -> str:
    verdict = "Allowed" if answer["allowed"] else "Denied"
    text = f"{verdict}: " + "; ".join(answer["reasons"])
    missing = [_needs(m) for m in answer.get("missing") or []]
    return text + (f"; to be allowed again: {'; '.join(missing)}" if missing else "")


def _needs(missing: dict[str, Any]) -> str:
    """What one missing level still needs, in words."""
    parts = [
        c["course"] + (f" (score {c['min_score']:g}+)" if c.get("min_score") else "")
        for c in missing["courses"]
    ]
    if missing.get("electives_needed"):
        parts.append(f"{missing['electives_needed']} of {', '.join(missing['electives_from'])}")
    parts += missing.get("levels") or []
    return f"{missing['name']} needs {', '.join(parts)}" if parts else missing["name"]


def _progress(answer: dict[str, Any]) -> str:
    """A learner without a level: the first level's reasons (or what it needs)."""
    for level in answer["levels"]:
        if level["status"] == "missing" and level["missing"]:
            reasons = level["missing"]["reasons"]
            return f"{level['name']}: " + ("; ".join(reasons) if reasons else "nothing yet")
    return "no level yet"


def _check_path(learner: str, program: str) -> str:
    return f"/v1/permissions/check?learner_id={learner}&program={program}"


def _credentials(settings: Settings) -> tuple[str, dict[str, str]]:
    """The shown credential's id, and per learner what they hold (or held) now."""
    now = utcnow()
    shown = ""
    held: dict[str, str] = {}
    with cli_session(settings) as session:
        for person in LEARNERS:
            parts = []
            for row in credential_rows(session, person.id):
                if row.superseded_by is not None or row.status == "revoked":
                    continue
                level = row.level_id.split("/")[-1].replace("-", " ").title()
                if row.valid_until is not None and row.valid_until <= now:
                    parts.append(f"{level} (expired {row.valid_until:%Y-%m-%d})")
                else:
                    until = f"until {row.valid_until:%Y-%m-%d}" if row.valid_until else "no expiry"
                    parts.append(f"{level} ({until})")
                if (person.id, row.level_id) == SHOWN_CREDENTIAL:
                    shown = row.id
            held[person.id] = ", ".join(parts)
    return shown, held


def _summary(seeded: Seeded, written: int) -> str:
    """What this run wrote, counted on the audit chain (every change of state is an event)."""
    if not written:
        return (
            f"The demo organisation is already here (seeded {seeded.anchor:%Y-%m-%d %H:%M} UTC): "
            "nothing was written (no new audit event)."
        )
    return (
        f"Demo organisation seeded ({written} audit events): the demo catalog, "
        f"{len(LEARNERS)} learners, {seeded.completions_stored} completions, "
        f"{seeded.credentials_issued} credentials."
    )


def _credence_command() -> str:
    """How to call this ``credence`` from the current directory."""
    script = Path(sys.executable).parent / "credence"
    if not script.exists():
        return "credence"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)
