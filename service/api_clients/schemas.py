from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.auth.keys import Scope


class ApiClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["moodle-production"])
    scopes: list[Scope] = Field(min_length=1, max_length=10, examples=[["completions:write"]])


class ApiClientPublic(BaseModel):
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


class ApiClientCreated(ApiClientPublic):
    key: str = Field(description="The API key. Shown only in this response; store it now.")
