"""``credence worker``: deliver webhooks (relay + expiry scanner + delivery loop) and, with
``CREDENCE_SMTP_URL`` set, the earners' email."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from pydantic import ValidationError

from service.cli.context import load_settings
from service.db import make_engine
from service.observability import configure_logging


def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Work until idle, then exit (cron-style)")
    ] = False,
) -> None:
    """Deliver webhooks and earners' email: relay changes, scan for expiring credentials, send
    with retries."""
    from service.app import checked_mail_settings, mail_jobs
    from service.earners.settings import MailSettings
    from service.earners.templates import TemplateError
    from service.webhooks.settings import WebhookSettings
    from service.webhooks.worker import Worker

    settings = load_settings()
    try:
        config = WebhookSettings()
        mail = checked_mail_settings(settings, MailSettings())
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]) for e in exc.errors())
        typer.echo(f"error: invalid webhook or mail configuration: {messages}", err=True)
        raise typer.Exit(2) from exc
    except (TemplateError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    configure_logging(settings.log_level, settings.log_json)
    engine = make_engine(settings.database_url.get_secret_value())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        jobs = mail_jobs(engine, settings, config, mail)
        async with Worker(engine, settings, config, jobs=jobs) as runner:
            typer.echo(
                f"webhook worker {runner.name} started"
                + (" (and email to earners)" if jobs else ""),
                err=True,
            )
            if once:
                await runner.run_until_idle()
            else:
                await runner.run(stop)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
