"""Lint: Credence's own structural check of OB 3.0 credentials, run before every signature.

The rules follow the official OB 3.0 AchievementCredential JSON Schema (draft 2019-09) and
are stricter in places: identifiers must be absolute URIs, dates RFC 3339 with a time zone,
``validUntil`` after ``validFrom``, an ``AchievementSubject`` needs an ``id`` or an
``identifier``, and in strict mode (the default, used before signing) properties this linter
cannot check in depth (``endorsement``, ``result``, ``otherIdentifier``...) are refused rather
than signed unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from credentials._encoding import EncodingError, parse_datetime
from credentials.errors import LintError

__all__ = [
    "OB_CONTEXT",
    "OB_EXTENSIONS_CONTEXT",
    "OB_SCHEMA_URL",
    "VCDM2_CONTEXT",
    "lint_credential",
]

VCDM2_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
#: Defines ``1EdTechJsonSchemaValidator2019`` (``credentialSchema.type``), which the OB context
#: does not: without it a JSON-LD processor in safe mode refuses the credential.
OB_EXTENSIONS_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
OB_SCHEMA_URL = (
    "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
)
_OB_CONTEXT_RE = re.compile(
    r"https://purl\.imsglobal\.org/spec/ob/v3p0/context(?:-3\.\d\.\d)*\.json"
)
_URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s\x00-\x1f\x7f]+")
_EXT_RE = re.compile(r"ext:[A-Za-z0-9._]+")  # the schema class [a-z|A-Z|0-9|.|-|_] has no "-"
_LANG_RE = re.compile(r"[a-z]{2,4}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?")
_JWS_RE = re.compile(r"[a-zA-Z0-9_-]+\.[a-zA-Z0-9_-]*\.[a-zA-Z0-9_-]+")
_INDEX_RE = re.compile(r"0|[1-9][0-9]*")

ACHIEVEMENT_TYPES = frozenset(
    [
        "Achievement",
        "ApprenticeshipCertificate",
        "Assessment",
        "Assignment",
        "AssociateDegree",
        "Award",
        "Badge",
        "BachelorDegree",
        "Certificate",
        "CertificateOfCompletion",
        "Certification",
        "CommunityService",
        "Competency",
        "Course",
        "CoCurricular",
        "Degree",
        "Diploma",
        "DoctoralDegree",
        "Fieldwork",
        "GeneralEducationDevelopment",
        "JourneymanCertificate",
        "LearningProgram",
        "License",
        "Membership",
        "ProfessionalDoctorate",
        "QualityAssuranceCredential",
        "MasterCertificate",
        "MasterDegree",
        "MicroCredential",
        "ResearchDoctorate",
        "SecondarySchoolDiploma",
    ]
)
IDENTITY_TYPES = frozenset(
    [
        "name",
        "sourcedId",
        "systemId",
        "productId",
        "userName",
        "accountId",
        "emailAddress",
        "nationalIdentityNumber",
        "isbn",
        "issn",
        "lisSourcedId",
        "oneRosterSourcedId",
        "sisSourcedId",
        "ltiContextId",
        "ltiDeploymentId",
        "ltiToolId",
        "ltiPlatformId",
        "ltiUserId",
        "identifier",
    ]
)
_IDENTITY_KEYS = frozenset({"type", "hashed", "identityHash", "identityType", "salt"})
_IMAGE_KEYS = frozenset({"id", "type", "caption"})
_LEGACY = ("issuanceDate", "expirationDate")
_PROFILE_STRINGS = frozenset(
    {
        "email",
        "phone",
        "description",
        "official",
        "givenName",
        "familyName",
        "additionalName",
        "patronymicName",
        "honorificPrefix",
        "honorificSuffix",
        "familyNamePrefix",
    }
)
_CREDENTIAL_STRINGS = frozenset({"name", "description"})
_IMAGE_STRINGS = frozenset({"caption"})
_SUBJECT_STRINGS = frozenset({"licenseNumber", "narrative", "role", "term"})
_IDENTITY_STRINGS = frozenset({"salt"})
_CRITERIA_STRINGS = frozenset({"narrative"})
_ACHIEVEMENT_STRINGS = frozenset({"version", "humanCode", "fieldOfStudy", "specialization"})
_ALIGNMENT_STRINGS = frozenset({"targetCode", "targetDescription", "targetFramework"})
_EVIDENCE_STRINGS = frozenset({"name", "description", "narrative", "genre", "audience"})
# Properties whose inner structure this linter does not model, per object kind.
_UNCHECKED = {
    "credential": frozenset({"endorsement"}),
    "profile": frozenset({"endorsement", "address", "otherIdentifier"}),
    "achievement": frozenset({"endorsement", "otherIdentifier", "related", "resultDescription"}),
    "subject": frozenset({"result"}),
}


def lint_credential(doc: object, *, strict: bool = True) -> None:
    """Check that ``doc`` is a well-formed OB 3.0 ``OpenBadgeCredential``.

    Args:
        doc: the decoded credential JSON.
        strict: the issuing profile (default). ``strict=False`` is the verifying profile: it
            also accepts the VC 1.1 names ``issuanceDate``/``expirationDate``, an integer
            ``statusListIndex`` and properties this linter only checks shallowly.

    Raises:
        LintError: with the ``path`` of the first problem and the ``reason``.
    """
    _Linter(strict).credential(doc)


def _fail(path: str, reason: str) -> LintError:
    return LintError(path, reason)


def _at(path: str, key: str | None) -> str:
    if key is None:
        return path
    return key if path == "$" else f"{path}.{key}"


class _Linter:
    __slots__ = ("strict",)

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    # -- primitives (paths are only formatted when a check fails) ---------------------------
    def obj(self, value: object, path: str, key: str | None = None) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise _fail(_at(path, key), "must be a JSON object")
        return value

    def array(
        self, value: object, path: str, key: str | None = None, *, non_empty: bool = False
    ) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(_at(path, key), "must be an array")
        if non_empty and not value:
            raise _fail(_at(path, key), "must not be empty")
        return value

    def string(
        self, value: object, path: str, key: str | None = None, *, non_blank: bool = False
    ) -> str:
        if not isinstance(value, str):
            raise _fail(_at(path, key), "must be a string")
        if non_blank and not value.strip():
            raise _fail(_at(path, key), "must not be empty")
        return value

    def uri(self, value: object, path: str, key: str | None = None) -> str:
        if not isinstance(value, str) or not _URI_RE.fullmatch(value):
            raise _fail(_at(path, key), "must be an absolute URI (scheme:..., no whitespace)")
        return value

    def date(self, value: object, path: str, key: str | None = None) -> datetime:
        try:
            return parse_datetime(value)
        except EncodingError:
            raise _fail(_at(path, key), "must be an RFC 3339 date-time with a time zone") from None

    def number(self, value: object, path: str, key: str | None = None) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(_at(path, key), "must be a number")

    def types(self, value: object, path: str, key: str, *required: str) -> None:
        items = self.array(value, path, key, non_empty=True)
        for item in items:
            if not isinstance(item, str):
                raise _fail(f"{_at(path, key)}[{items.index(item)}]", "must be a string")
        for name in required:
            if name not in items:
                raise _fail(_at(path, key), f"must contain {name!r}")

    def optional(self, doc: Mapping[str, Any], path: str, names: frozenset[str]) -> None:
        for name in names.intersection(doc):
            if not isinstance(doc[name], str):
                raise _fail(_at(path, name), "must be a string")

    def unchecked(self, doc: Mapping[str, Any], path: str, kind: str) -> None:
        names = _UNCHECKED[kind]
        if names.isdisjoint(doc):
            return
        for name in sorted(names.intersection(doc)):
            if self.strict:
                raise _fail(_at(path, name), "not supported by the Credence linter; refused")
            if not isinstance(doc[name], list | dict):
                raise _fail(_at(path, name), "must be an array or an object")

    def each(self, value: object, path: str, key: str, check: Callable[[Any, str], object]) -> None:
        base = _at(path, key)
        for i, item in enumerate(self.array(value, base)):
            check(item, f"{base}[{i}]")

    # -- credential -------------------------------------------------------------------------
    def credential(self, value: object) -> None:
        doc = self.obj(value, "$")
        self.context(doc.get("@context"))
        for name in ("id", "type", "issuer", "validFrom", "credentialSubject"):
            if name not in doc:
                raise _fail(name, "is required")
        self.uri(doc["id"], "id")
        self.types(doc["type"], "$", "type", "VerifiableCredential")
        if not {"OpenBadgeCredential", "AchievementCredential"}.intersection(doc["type"]):
            raise _fail("type", "must contain 'OpenBadgeCredential' or 'AchievementCredential'")
        issuer = doc["issuer"]
        if isinstance(issuer, str):
            self.uri(issuer, "issuer")
        else:
            self.profile(issuer, "issuer")
        start = self.date(doc["validFrom"], "validFrom")
        if "validUntil" in doc and self.date(doc["validUntil"], "validUntil") <= start:
            raise _fail("validUntil", "must be later than validFrom")
        if "awardedDate" in doc:
            self.date(doc["awardedDate"], "awardedDate")
        for legacy in _LEGACY:
            if legacy in doc:
                if self.strict:
                    raise _fail(legacy, "is a VC 1.1 property; use validFrom/validUntil")
                self.date(doc[legacy], legacy)
        self.optional(doc, "$", _CREDENTIAL_STRINGS)
        if "image" in doc:
            self.image(doc["image"], "image")
        self.subject(doc["credentialSubject"], "credentialSubject")
        if "evidence" in doc:
            self.each(doc["evidence"], "$", "evidence", self.evidence)
        if "credentialSchema" in doc:
            self.each(doc["credentialSchema"], "$", "credentialSchema", self.id_and_type)
        if "credentialStatus" in doc:
            self.status(doc["credentialStatus"], "credentialStatus")
        if "termsOfUse" in doc:
            self.each(doc["termsOfUse"], "$", "termsOfUse", self.typed)
        if "refreshService" in doc:
            self.id_and_type(doc["refreshService"], "refreshService")
        if "proof" in doc:
            proofs = (
                doc["proof"] if self.strict or isinstance(doc["proof"], list) else [doc["proof"]]
            )
            self.each(proofs, "$", "proof", self.typed)
        if "endorsementJwt" in doc:
            self.jws_list(doc["endorsementJwt"], "endorsementJwt")
        self.unchecked(doc, "$", "credential")

    def context(self, value: object) -> None:
        ctx = self.array(value, "@context")
        if len(ctx) < 2:
            raise _fail("@context", "must list the VCDM 2.0 and OB 3.0 contexts")
        if ctx[0] != VCDM2_CONTEXT:
            raise _fail("@context[0]", f"must be {VCDM2_CONTEXT!r}")
        if not isinstance(ctx[1], str) or not _OB_CONTEXT_RE.fullmatch(ctx[1]):
            raise _fail("@context[1]", f"must be the OB 3.0 context, e.g. {OB_CONTEXT!r}")
        for i, extra in enumerate(ctx[2:], start=2):
            if not isinstance(extra, str | dict):
                raise _fail(f"@context[{i}]", "must be a string or an object")

    def typed(self, value: object, path: str) -> None:
        self.string(self.obj(value, path).get("type"), path, "type")

    def id_and_type(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        self.uri(doc.get("id"), path, "id")
        self.string(doc.get("type"), path, "type", non_blank=True)

    def jws_list(self, value: object, path: str) -> None:
        for i, item in enumerate(self.array(value, path)):
            if not isinstance(item, str) or not _JWS_RE.fullmatch(item):
                raise _fail(f"{path}[{i}]", "must be a compact JWS")

    def image(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        extra = set(doc) - _IMAGE_KEYS
        if extra:
            raise _fail(f"{path}.{sorted(extra)[0]}", "is not allowed in an Image")
        self.uri(doc.get("id"), path, "id")
        if doc.get("type") != "Image":
            raise _fail(_at(path, "type"), "must be 'Image'")
        self.optional(doc, path, _IMAGE_STRINGS)

    def profile(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        self.uri(doc.get("id"), path, "id")
        self.types(doc.get("type"), path, "type", "Profile")
        if "name" in doc:
            self.string(doc["name"], path, "name", non_blank=True)
        if "url" in doc:
            self.uri(doc["url"], path, "url")
        self.optional(doc, path, _PROFILE_STRINGS)
        if "image" in doc:
            self.image(doc["image"], _at(path, "image"))
        if "parentOrg" in doc:
            self.profile(doc["parentOrg"], _at(path, "parentOrg"))
        if "endorsementJwt" in doc:
            self.jws_list(doc["endorsementJwt"], _at(path, "endorsementJwt"))
        self.unchecked(doc, path, "profile")

    # -- subject and achievement ------------------------------------------------------------
    def subject(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        self.types(doc.get("type"), path, "type", "AchievementSubject")
        if "id" in doc:
            self.uri(doc["id"], path, "id")
        identifiers = doc.get("identifier", [])
        self.each(identifiers, path, "identifier", self.identity)
        if "id" not in doc and not identifiers:
            raise _fail(path, "needs an 'id' or at least one 'identifier'")
        if "achievement" not in doc:
            raise _fail(_at(path, "achievement"), "is required")
        self.achievement(doc["achievement"], _at(path, "achievement"))
        for name in ("activityStartDate", "activityEndDate"):
            if name in doc:
                self.date(doc[name], f"{path}.{name}")
        if "creditsEarned" in doc:
            self.number(doc["creditsEarned"], path, "creditsEarned")
        self.optional(doc, path, _SUBJECT_STRINGS)
        if "image" in doc:
            self.image(doc["image"], _at(path, "image"))
        if "source" in doc:
            self.profile(doc["source"], _at(path, "source"))
        self.unchecked(doc, path, "subject")

    def identity(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        extra = set(doc) - _IDENTITY_KEYS
        if extra:
            raise _fail(f"{path}.{sorted(extra)[0]}", "is not allowed in an IdentityObject")
        if doc.get("type") != "IdentityObject":
            raise _fail(_at(path, "type"), "must be 'IdentityObject'")
        if not isinstance(doc.get("hashed"), bool):
            raise _fail(_at(path, "hashed"), "must be a boolean")
        self.string(doc.get("identityHash"), path, "identityHash", non_blank=True)
        kind = doc.get("identityType")
        if not isinstance(kind, str) or not (kind in IDENTITY_TYPES or _EXT_RE.fullmatch(kind)):
            raise _fail(_at(path, "identityType"), "must be an OB identity type or 'ext:...'")
        self.optional(doc, path, _IDENTITY_STRINGS)

    def achievement(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        self.uri(doc.get("id"), path, "id")
        self.types(doc.get("type"), path, "type", "Achievement")
        self.string(doc.get("name"), path, "name", non_blank=True)
        self.string(doc.get("description"), path, "description")
        criteria = self.obj(doc.get("criteria"), path, "criteria")
        if "id" not in criteria and "narrative" not in criteria:
            raise _fail(_at(path, "criteria"), "needs an 'id' or a 'narrative'")
        if "id" in criteria:
            self.uri(criteria["id"], f"{path}.criteria", "id")
        self.optional(criteria, _at(path, "criteria"), _CRITERIA_STRINGS)
        if "achievementType" in doc:
            kind = doc["achievementType"]
            if not isinstance(kind, str) or not (
                kind in ACHIEVEMENT_TYPES or _EXT_RE.fullmatch(kind)
            ):
                raise _fail(
                    _at(path, "achievementType"), "must be an OB achievement type or 'ext:...'"
                )
        self.optional(doc, path, _ACHIEVEMENT_STRINGS)
        if "inLanguage" in doc and not (
            isinstance(doc["inLanguage"], str) and _LANG_RE.fullmatch(doc["inLanguage"])
        ):
            raise _fail(_at(path, "inLanguage"), "must be a language tag such as 'en' or 'en-GB'")
        if "tag" in doc:
            self.each(doc["tag"], path, "tag", self.string)
        if "creditsAvailable" in doc:
            self.number(doc["creditsAvailable"], path, "creditsAvailable")
        if "creator" in doc:
            self.profile(doc["creator"], _at(path, "creator"))
        if "image" in doc:
            self.image(doc["image"], _at(path, "image"))
        if "alignment" in doc:
            self.each(doc["alignment"], path, "alignment", self.alignment)
        if "endorsementJwt" in doc:
            self.jws_list(doc["endorsementJwt"], _at(path, "endorsementJwt"))
        self.unchecked(doc, path, "achievement")

    def alignment(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        self.types(doc.get("type"), path, "type", "Alignment")
        self.string(doc.get("targetName"), path, "targetName", non_blank=True)
        self.uri(doc.get("targetUrl"), path, "targetUrl")
        self.optional(doc, path, _ALIGNMENT_STRINGS)

    def evidence(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        if "id" in doc:
            self.uri(doc["id"], path, "id")
        self.types(doc.get("type"), path, "type", "Evidence")
        self.optional(doc, path, _EVIDENCE_STRINGS)

    # -- status -----------------------------------------------------------------------------
    def status(self, value: object, path: str) -> None:
        if isinstance(value, list):
            self.array(value, path, non_empty=True)
            for i, item in enumerate(value):
                self.status_entry(item, f"{path}[{i}]")
        else:
            self.status_entry(value, path)

    def status_entry(self, value: object, path: str) -> None:
        doc = self.obj(value, path)
        self.uri(doc.get("id"), path, "id")
        kind = self.string(doc.get("type"), path, "type", non_blank=True)
        if kind != "BitstringStatusListEntry":
            return
        self.string(doc.get("statusPurpose"), path, "statusPurpose", non_blank=True)
        index = doc.get("statusListIndex")
        lenient_int = (
            not self.strict and type(index) is int and index >= 0  # JSON ints only, no bool
        )
        if not lenient_int and not (isinstance(index, str) and _INDEX_RE.fullmatch(index)):
            raise _fail(_at(path, "statusListIndex"), "must be a base-10 integer string, e.g. '42'")
        self.uri(doc.get("statusListCredential"), path, "statusListCredential")
