"""xAPI settings (environment prefix ``CREDENCE_XAPI_``): given to ``create_app`` or read from
the environment there, once; handed to the routes as ``XapiSettingsDep``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class XapiSettings(BaseSettings):
    """How an xAPI actor becomes a Credence learner; what becomes of attachment data."""

    model_config = SettingsConfigDict(env_prefix="CREDENCE_XAPI_", env_file=None, extra="ignore")

    learner_id_from: Literal["account", "mbox"] = Field(
        default="account",
        description="account: the learner id is actor.account.name. mbox: the learner is the one "
        "whose email is the actor's mbox (a new learner gets the email as its id).",
    )
    learner_fallback: bool = Field(
        default=True,
        description="Use the other identifier (mbox or account) when the preferred one is absent.",
    )
    attachments: Literal["discard", "store"] = Field(
        default="discard",
        description="What becomes of attachment data sent in multipart/mixed statement "
        "requests, once verified against the statements' sha2: discard (Credence needs only "
        "the statements) or store (kept in the database and returned by GET "
        "/xapi/statements?attachments=true).",
    )


async def get_xapi_settings(request: Request) -> XapiSettings:
    """The xAPI settings the app was built with."""
    settings: XapiSettings = request.app.state.xapi_settings
    return settings


XapiSettingsDep = Annotated[XapiSettings, Depends(get_xapi_settings)]
