"""Learner shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from service.core.ids import ATTRIBUTE_NAME_PATTERN, LEARNER_ID_PATTERN
from service.core.times import Instant

_EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$"
)
MAX_ATTRIBUTES = 50


def _email(value: str) -> str:
    if not _EMAIL.match(value) or len(value) > 320:
        raise ValueError(f"{value!r} is not an email address")
    return value.lower()


def _attributes(value: dict[str, str | None]) -> dict[str, str | None]:
    if len(value) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    for name in value:
        if not re.match(ATTRIBUTE_NAME_PATTERN, name):
            raise ValueError(f"{name!r} is not an attribute name (lowercase, digits, _)")
    return value


LearnerId = Annotated[str, StringConstraints(pattern=LEARNER_ID_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email)]
AttributeValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Attributes = Annotated[dict[str, AttributeValue | None], AfterValidator(_attributes)]
Did = Annotated[
    str, StringConstraints(pattern=r"^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$", max_length=2048)
]


class LearnerUpsert(BaseModel):
    """Create or update a learner. Omitted fields stay as they are; `null` clears `email`,
    `name` or `did`; `attributes` replaces the whole set (a null value or an omitted name
    removes it)."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    did: Did | None = None
    public_profile: bool | None = Field(
        default=None,
        description="Show the name on this learner's public credential pages and certificates "
        "(null: the deployment's CREDENCE_PUBLIC_NAMES)",
    )
    attributes: Attributes | None = None
    attributes_effective_at: Instant | None = Field(
        default=None,
        description="When the attribute changes took effect (e.g. the day a role was given); "
        "default now; not in the future",
    )


class LearnerRef(BaseModel):
    """A learner described inline (first mention creates it); attributes are merged."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    did: Did | None = None
    attributes: Attributes | None = None


class AttributeChangePublic(BaseModel):
    name: str
    value: str | None
    changed_at: datetime


class LearnerPublic(BaseModel):
    id: str
    email: str | None = None
    name: str | None = None
    did: str | None = None
    public_profile: bool | None = None
    subject_id: str = Field(
        description="The credentialSubject id used in this learner's credentials"
    )
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    revision: int


class LearnerDetail(LearnerPublic):
    attribute_history: list[AttributeChangePublic]
