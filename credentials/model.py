"""Typed inputs of the credential builder and the status entry shape."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = [
    "Achievement",
    "Evidence",
    "IdentityObject",
    "IssuerProfile",
    "StatusEntry",
    "StatusPurpose",
]

StatusPurpose: TypeAlias = Literal["revocation", "suspension"]
"""The two status purposes Credence uses."""


def _put(doc: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        doc[key] = value


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuerProfile:
    """The issuing organisation (an OB ``Profile``).

    Attributes:
        id: the issuer's URI (an https URL or a DID); becomes the JWT ``iss``.
        name: display name.
        url: the issuer's homepage.
        email: a contact address.
        description: a short description.
    """

    id: str
    name: str
    url: str | None = None
    email: str | None = None
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the OB ``Profile`` JSON object."""
        doc: dict[str, Any] = {"id": self.id, "type": ["Profile"], "name": self.name}
        _put(doc, "url", self.url)
        _put(doc, "email", self.email)
        _put(doc, "description", self.description)
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class Achievement:
    """What was earned (an OB ``Achievement``; in Credence, a level version).

    Attributes:
        id: the level's URL.
        name: display name.
        description: what the achievement stands for.
        criteria_narrative: Markdown text of what it takes to earn it.
        criteria_id: a URL describing the criteria (optional; one of the two criteria fields
            is required).
        achievement_type: an OB achievement type, default ``Certification``.
        version: the level version the credential was issued under.
        human_code: a short human-facing code.
        tags: keywords.
        image_id: the URL of the badge image (optional), shown with ``name`` as its caption.
    """

    id: str
    name: str
    description: str
    criteria_narrative: str | None = None
    criteria_id: str | None = None
    achievement_type: str = "Certification"
    version: str | None = None
    human_code: str | None = None
    tags: tuple[str, ...] = ()
    image_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the OB ``Achievement`` JSON object."""
        criteria: dict[str, Any] = {}
        _put(criteria, "id", self.criteria_id)
        _put(criteria, "narrative", self.criteria_narrative)
        doc: dict[str, Any] = {
            "id": self.id,
            "type": ["Achievement"],
            "achievementType": self.achievement_type,
            "name": self.name,
            "description": self.description,
            "criteria": criteria,
        }
        _put(doc, "version", self.version)
        _put(doc, "humanCode", self.human_code)
        if self.tags:
            doc["tag"] = list(self.tags)
        if self.image_id is not None:
            doc["image"] = {"id": self.image_id, "type": "Image", "caption": self.name}
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityObject:
    """A recipient identifier (OB ``IdentityObject``), usually a salted hash.

    Attributes:
        identity_hash: the hash (``sha256$<hex>``) or, when ``hashed`` is false, the value.
        identity_type: an OB identity type such as ``emailAddress`` or ``ext:...``.
        hashed: whether ``identity_hash`` is hashed.
        salt: the salt used for hashing.
    """

    identity_hash: str
    identity_type: str = "emailAddress"
    hashed: bool = True
    salt: str | None = None

    @classmethod
    def hashed_value(
        cls, value: str, *, identity_type: str = "emailAddress", salt: str | None = None
    ) -> IdentityObject:
        """Hash ``value`` the OB way: ``"sha256$" + hex(SHA-256(value + salt))``.

        A random salt is generated when none is given.
        """
        salt = secrets.token_hex(16) if salt is None else salt
        digest = hashlib.sha256((value + salt).encode()).hexdigest()
        return cls(identity_hash=f"sha256${digest}", identity_type=identity_type, salt=salt)

    def to_json(self) -> dict[str, Any]:
        """Return the OB ``IdentityObject`` JSON object."""
        doc: dict[str, Any] = {
            "type": "IdentityObject",
            "identityHash": self.identity_hash,
            "identityType": self.identity_type,
            "hashed": self.hashed,
        }
        _put(doc, "salt", self.salt)
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One piece of evidence (in Credence, a completion that counted).

    Attributes:
        id: a URI for the evidence (e.g. ``urn:uuid:`` of the completion).
        name: display name (e.g. the course name).
        description: a short description.
        narrative: Markdown narrative.
        genre: kind of evidence, e.g. ``Course completion``.
        audience: intended audience.
    """

    id: str | None = None
    name: str | None = None
    description: str | None = None
    narrative: str | None = None
    genre: str | None = None
    audience: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the OB ``Evidence`` JSON object."""
        doc: dict[str, Any] = {}
        _put(doc, "id", self.id)
        doc["type"] = ["Evidence"]
        _put(doc, "name", self.name)
        _put(doc, "description", self.description)
        _put(doc, "narrative", self.narrative)
        _put(doc, "genre", self.genre)
        _put(doc, "audience", self.audience)
        return doc


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusEntry:
    """A ``BitstringStatusListEntry``: one slot of one status list.

    Attributes:
        status_list_credential: URL of the ``BitstringStatusListCredential``.
        index: the bit index (0 = most significant bit of byte 0).
        purpose: ``revocation`` or ``suspension``.
    """

    status_list_credential: str
    index: int
    purpose: StatusPurpose

    @property
    def id(self) -> str:
        """The entry id, ``<list url>#<index>``."""
        return f"{self.status_list_credential}#{self.index}"

    def to_json(self) -> dict[str, Any]:
        """Return the ``BitstringStatusListEntry`` JSON object (index as a base-10 string)."""
        return {
            "id": self.id,
            "type": "BitstringStatusListEntry",
            "statusPurpose": self.purpose,
            "statusListIndex": str(self.index),
            "statusListCredential": self.status_list_credential,
        }
