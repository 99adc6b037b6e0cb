"""The application factory: everything is built here or in the lifespan, nothing at import."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.api_clients.router import router as api_clients_router
from service.audit.router import router as audit_router
from service.catalog.document import CatalogDocument
from service.catalog.router import router as catalog_router
from service.completions.combiner import Combiner
from service.completions.router import router as completions_router
from service.core.text import TextGuardMiddleware
from service.db import WalCheckpointer, make_engine, pool_options, session_gates
from service.earners.job import MailJob
from service.earners.router import public_router as earners_pages_router
from service.earners.router import router as earners_router
from service.earners.settings import MailSettings
from service.earners.templates import Templates
from service.errors import PROBLEM_MEDIA_TYPE, Problem, install_error_handlers
from service.issuance.context import Issuer
from service.issuance.router import public_router as achievements_router
from service.issuance.router import router as issuance_router
from service.keys.router import router as keys_router
from service.keys.service import ensure_development_key
from service.learners.router import router as learners_router
from service.migrations import current_revision, head_revision
from service.observability import (
    BodyLimitMiddleware,
    Metrics,
    RequestContextMiddleware,
    configure_logging,
)
from service.ops.docs import router as docs_router
from service.ops.heap import freeze_startup_heap
from service.ops.router import router as ops_router
from service.permissions.router import router as permissions_router
from service.permissions.service import Permissions
from service.reports.dashboard import router as dashboard_router
from service.reports.router import router as reports_router
from service.settings import Settings
from service.static_assets import router as static_router
from service.status.router import router as status_router
from service.verification.router import router as verification_router
from service.verification.service import Verifier
from service.wallets.limits import RateLimiter
from service.wallets.router import oid4vci_router
from service.wallets.router import router as wallets_router
from service.webhooks.background import BackgroundWorker
from service.webhooks.openapi import install_webhooks
from service.webhooks.router import router as webhooks_router
from service.webhooks.settings import WebhookSettings
from service.xapi.middleware import XapiVersionMiddleware
from service.xapi.router import router as xapi_router
from service.xapi.settings import XapiSettings

DESCRIPTION = """Credence is the system of record for who may act for the brand in public:
program definitions, course completions, signed Open Badges 3.0 credentials, permission
decisions and verification. Errors are RFC 9457 `application/problem+json`.
Authenticate with `Authorization: Bearer <api key>`."""


def create_served_app() -> FastAPI:
    """The app as ``credence serve`` runs it in each worker process: settings from the
    environment, and once started, the process's garbage collector tuned for serving
    (:func:`~service.ops.heap.freeze_startup_heap`; apps built elsewhere leave it alone)."""
    app = create_app()
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(app):
            freeze_startup_heap()
            yield

    app.router.lifespan_context = lifespan
    return app


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    xapi: XapiSettings | None = None,
    webhooks: WebhookSettings | None = None,
    mail: MailSettings | None = None,
) -> FastAPI:
    """Build the app for ``settings`` (read from the environment when not given), and likewise
    its xAPI, webhook and mail settings. The process objects that read the database (permission
    checker, verifier, session gates) are built with ``engine`` here when it is given, else in
    the lifespan with the engine made there; routes reach them through typed dependencies."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine is None:
            _bind_engine(
                app, make_engine(settings.database_url.get_secret_value(), **pool_options(settings))
            )
        _prepare_keys(app.state.engine, settings)
        checkpointer = WalCheckpointer(app.state.engine)  # SQLite: checkpoints off the writers
        checkpointer.start()
        deliveries: BackgroundWorker | None = None
        if app.state.webhook_settings.in_serve:
            deliveries = BackgroundWorker(
                app.state.engine,
                settings,
                app.state.webhook_settings,
                jobs=mail_jobs(
                    app.state.engine,
                    settings,
                    app.state.webhook_settings,
                    app.state.mail_settings,
                ),
            )
            deliveries.start()
        try:
            yield
        finally:
            if deliveries is not None:
                deliveries.stop()
            checkpointer.stop()
            await app.state.permissions.close()
            if engine is None:
                app.state.engine.dispose()

    app = FastAPI(
        title="Credence",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load from a CDN: docs_router serves local copies
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.issuer = Issuer.build(settings)
    app.state.keyring = app.state.issuer.keyring
    app.state.status_lists = app.state.issuer.status_lists
    app.state.xapi_settings = xapi or XapiSettings()
    app.state.token_limiter = RateLimiter()  # OID4VCI token requests, per client address
    app.state.mail_settings = checked_mail_settings(settings, mail or MailSettings())
    if engine is not None:
        _bind_engine(app, engine)
    install_error_handlers(app)
    install_webhooks(app, webhooks)
    app.add_middleware(TextGuardMiddleware)  # inside the body limit: reads what it let through
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    app.add_middleware(XapiVersionMiddleware)
    for router in (
        ops_router,
        permissions_router,
        verification_router,  # hot public path: matched before the long catalog route list
        catalog_router,
        learners_router,
        completions_router,
        issuance_router,
        achievements_router,
        status_router,
        keys_router,
        api_clients_router,
        audit_router,
        xapi_router,
        reports_router,
        dashboard_router,
        static_router,
        docs_router,
        webhooks_router,
        earners_router,
        earners_pages_router,
        wallets_router,
        oid4vci_router,
    ):
        app.include_router(router)
    _register_problem_schema(app)
    return app


def checked_mail_settings(settings: Settings, mail: MailSettings) -> MailSettings:
    """Mail settings fit to start with: production refuses plain SMTP to a remote host, and
    templates with an unknown placeholder stop the start, not a message."""
    if settings.env == "production" and (reason := mail.refuse_in_production()):
        raise ValueError(reason)
    if mail.enabled:
        Templates(mail.templates)
    return mail


def mail_jobs(
    engine: Engine, settings: Settings, webhooks: WebhookSettings, mail: MailSettings
) -> list[MailJob]:
    """The worker's mail job, when SMTP is configured (expiry emails at the webhook thresholds)."""
    if not mail.enabled:
        return []
    job = MailJob(
        engine,
        settings,
        mail,
        expiring_thresholds_days=webhooks.expiring_thresholds_days,
        scan_interval=webhooks.scan_interval,
    )
    return [job]


def _add_catalog_document_schema(schemas: dict[str, Any]) -> None:
    """``PUT /v1/catalog`` reads its body itself (JSON or YAML); publish the document's shape."""
    document = CatalogDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in document.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault("CatalogDocument", document)


PROBLEM_SCHEMA = "#/components/schemas/Problem"


def _document_body_problems(schema: dict[str, Any]) -> None:
    """Every operation that takes a body can answer 400 (malformed) and 413 (too large); every
    one that takes a body or parameters, 400 for a NUL or an unpaired surrogate in them
    (``service.core.text``)."""
    problem = {"$ref": PROBLEM_SCHEMA}
    for item in schema["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            answers = []
            if "requestBody" in operation:
                answers = [("400", "Malformed body"), ("413", "Body too large")]
            elif operation.get("parameters"):
                answers = [("400", "NUL character or unpaired surrogate in a parameter")]
            responses = operation.setdefault("responses", {})
            for status, description in answers:
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/problem+json": {"schema": problem}},
                    },
                )


def _document_validation_problems(app: FastAPI, schema: dict[str, Any]) -> None:
    """FastAPI documents a failed validation as its own 422 ``HTTPValidationError`` JSON; the
    service answers it with a problem (``install_error_handlers``), or with a 400 problem on
    routes whose class says so (``validation_status``, e.g. AuthZEN). Say what is answered."""
    fastapi_default = {"$ref": "#/components/schemas/HTTPValidationError"}
    for route in _api_routes(app.routes):
        operations = schema["paths"].get(route.path_format, {})
        for method in route.methods or ():
            responses = operations.get(method.lower(), {}).get("responses", {})
            default = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default.get("schema") != fastapi_default:
                continue
            if getattr(route, "validation_status", 422) == 422:
                responses["422"] = {
                    "description": "Invalid input",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA}}},
                }
            else:
                del responses["422"]
    for item in schema.get("webhooks", {}).values():  # calls Credence makes: the receiver's
        for operation in item.values():  # answers are described there, not FastAPI's 422
            responses = operation.get("responses", {})
            default = responses.get("422", {}).get("content", {}).get("application/json", {})
            if default.get("schema") == fastapi_default:
                del responses["422"]
    if "HTTPValidationError" not in json.dumps([schema["paths"], schema.get("webhooks")]):
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)


def _document_scopes(app: FastAPI, schema: dict[str, Any]) -> None:
    """Add ``x-required-scope`` to every operation that needs an API key scope."""
    for route in _api_routes(app.routes):
        scope = _required_scope(route.dependant)
        if scope is None:
            continue
        operations = schema["paths"].get(route.path_format, {})
        for method in route.methods or ():
            if method.lower() in operations:
                operations[method.lower()]["x-required-scope"] = scope


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """API routes, looking inside included routers (FastAPI keeps them as nested routers)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            found.extend(_api_routes(list(inner.routes)))
    return found


def _required_scope(dependant: Dependant) -> str | None:
    for sub in dependant.dependencies:
        scope = getattr(sub.call, "required_scope", None) or _required_scope(sub)
        if scope:
            return str(scope)
    return None


def _bind_engine(app: FastAPI, engine: Engine) -> None:
    """Build the process objects that read the database with ``engine``."""
    state = app.state
    settings: Settings = state.settings
    state.engine = engine
    state.session_gates = session_gates(engine)
    state.permissions = Permissions(
        engine,
        catalog=state.issuer.catalog,
        decisions=state.metrics.permission_decisions,
        cache_learners=settings.permission_cache_learners,
    )
    cache = state.permissions.cache
    state.metrics.permission_cache_learners.set_function(lambda: len(cache))
    state.metrics.permission_cache_keeping.set_function(lambda: float(cache.keeping))
    state.verifier = Verifier(engine, settings)
    state.completions = Combiner(engine, state.issuer)


def _prepare_keys(engine: Engine, settings: Settings) -> None:
    """Development: make sure a signing key exists (skipped while the schema is not migrated;
    /readyz reports that)."""
    if settings.env != "development" or current_revision(engine) != head_revision():
        return
    with Session(engine) as session:
        ensure_development_key(session, settings)
        session.commit()


def _register_problem_schema(app: FastAPI) -> None:
    """Make ``#/components/schemas/Problem`` exist even before a route references the model."""
    original = app.openapi

    def openapi() -> dict[str, object]:
        if app.openapi_schema is None:
            schema = original()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("Problem", Problem.model_json_schema())
            _add_catalog_document_schema(schemas)
            _document_body_problems(schema)
            _document_validation_problems(app, schema)
            _document_scopes(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
