"""Every credential the builder makes validates against the official OB 3.0 JSON Schema."""

from __future__ import annotations

import copy
import functools
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft201909Validator

from credentials import (
    Achievement,
    Evidence,
    IdentityObject,
    IssuerProfile,
    LintError,
    StatusEntry,
    build_credential,
    lint_credential,
)
from credentials.lint import ACHIEVEMENT_TYPES, IDENTITY_TYPES

from .conftest import load_spec, make_credential


@functools.cache
def official_schema() -> Any:
    """The official OB 3.0 JSON Schema (a reference file: its tests skip when it is absent)."""
    return load_spec("ob_v3p0_achievementcredential_schema.json")


@functools.cache
def validator() -> Draft201909Validator:
    return Draft201909Validator(
        official_schema(), format_checker=Draft201909Validator.FORMAT_CHECKER
    )


def schema_errors(doc: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(doc)]


def assert_rfc3339_dates(doc: dict[str, Any]) -> None:
    # jsonschema only checks "format: date-time" when rfc3339-validator is installed; check here.
    for name in ("validFrom", "validUntil", "awardedDate"):
        if name in doc:
            assert doc[name].endswith("Z") and datetime.fromisoformat(doc[name]).tzinfo


def test_schema_is_a_valid_draft_2019_09_schema() -> None:
    Draft201909Validator.check_schema(official_schema())


def test_validator_is_not_vacuous() -> None:
    doc = make_credential()
    del doc["credentialSubject"]["achievement"]["criteria"]
    assert schema_errors(doc), "the official schema must reject a credential without criteria"


def test_typical_credential_validates() -> None:
    doc = make_credential(suspension_index=None)
    assert schema_errors(doc) == []
    assert_rfc3339_dates(doc)


def test_shape_follows_design() -> None:
    doc = make_credential(revocation_index=5)
    assert doc["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json",
    ]
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["id"].startswith("urn:uuid:")
    assert doc["credentialSchema"] == [
        {
            "id": "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/"
            "ob_v3p0_achievementcredential_schema.json",
            "type": "1EdTechJsonSchemaValidator2019",
        }
    ]
    assert doc["awardedDate"] == doc["validFrom"]
    assert "issuanceDate" not in doc and "expirationDate" not in doc
    assert doc["credentialSubject"]["achievement"]["achievementType"] == "Certification"
    assert doc["credentialStatus"]["statusListIndex"] == "5"
    assert doc["credentialStatus"]["id"].endswith("#5")


def test_two_status_entries_are_an_array_which_the_ob_schema_flags() -> None:
    # Known divergence (1EdTech/openbadges-specification#623): VC DM 2.0 allows an array of
    # status entries, the OB 3.0 JSON Schema types credentialStatus as one object. Pin that
    # this is the *only* complaint, so the divergence stays visible and contained.
    doc = make_credential(revocation_index=1, suspension_index=2)
    assert [e["statusPurpose"] for e in doc["credentialStatus"]] == ["revocation", "suspension"]
    errors = list(validator().iter_errors(doc))
    assert [list(e.absolute_path) for e in errors] == [["credentialStatus"]]


# -- property-based ---------------------------------------------------------------------------

words = st.text(alphabet=string.ascii_letters + string.digits + " -éü✓", min_size=1, max_size=30)
names = words.filter(lambda s: s.strip() != "")
slugs = st.text(alphabet=string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)
https_urls = st.builds(
    lambda host, parts: f"https://{host}.example/" + "/".join(parts), slugs, st.lists(slugs)
)
uris = st.one_of(
    https_urls,
    st.uuids().map(lambda u: u.urn),
    slugs.map(lambda s: f"did:web:{s}.example"),
)
offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
)
moments = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1)),
    offsets,
)
ext_names = st.text(alphabet=string.ascii_letters + string.digits + "._", min_size=1, max_size=12)
achievement_types = st.one_of(
    st.sampled_from(sorted(ACHIEVEMENT_TYPES)), ext_names.map(lambda s: f"ext:{s}")
)

achievements = st.builds(
    Achievement,
    id=uris,
    name=names,
    description=words,
    criteria_narrative=st.one_of(st.none(), words),
    criteria_id=st.none() | https_urls,
    achievement_type=achievement_types,
    version=st.none() | slugs,
    human_code=st.none() | slugs,
    tags=st.lists(words, max_size=3).map(tuple),
).filter(lambda a: a.criteria_narrative is not None or a.criteria_id is not None)
issuers = st.builds(
    IssuerProfile,
    id=uris,
    name=names,
    url=st.none() | https_urls,
    email=st.none() | slugs.map(lambda s: f"{s}@example.org"),
    description=st.none() | words,
)
identities = st.builds(
    IdentityObject.hashed_value,
    words,
    identity_type=st.sampled_from(sorted(IDENTITY_TYPES)),
    salt=st.none() | slugs,
)
evidence_items = st.builds(
    Evidence,
    id=st.none() | uris,
    name=st.none() | names,
    description=st.none() | words,
    narrative=st.none() | words,
    genre=st.none() | words,
    audience=st.none() | words,
)
status_entries = st.builds(
    StatusEntry,
    status_list_credential=https_urls,
    index=st.integers(min_value=0, max_value=131_071),
    purpose=st.sampled_from(["revocation", "suspension"]),
)


@st.composite
def credential_inputs(draw: st.DrawFn) -> dict[str, Any]:
    valid_from = draw(moments)
    subject_id = draw(st.none() | uris)
    identifiers = draw(st.lists(identities, min_size=0 if subject_id else 1, max_size=2))
    until = draw(
        st.none() | st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3650))
    )
    return {
        "issuer": draw(issuers),
        "achievement": draw(achievements),
        "valid_from": valid_from,
        "valid_until": None if until is None else valid_from + until,
        "awarded_date": draw(st.none() | moments),
        "subject_id": subject_id,
        "identifiers": identifiers,
        "evidence": draw(st.lists(evidence_items, max_size=3)),
        "status": draw(st.lists(status_entries, max_size=1)),
        "name": draw(st.none() | names),
        "description": draw(st.none() | words),
    }


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(credential_inputs())
def test_every_built_credential_validates_against_the_official_schema(
    inputs: dict[str, Any],
) -> None:
    doc = build_credential(**inputs)
    assert schema_errors(doc) == []
    assert_rfc3339_dates(doc)
    lint_credential(doc)  # and it passes our own lint, which build_credential already ran


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*prefix, i)))
    return out


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(""),
    st.just("not a uri"),
    st.just("2026-13-40T00:00:00Z"),
    st.just([]),
    st.just({}),
    st.just(["Profile"]),
    words,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_whatever_lint_accepts_the_official_schema_accepts(data: st.DataObject) -> None:
    """Mutate a valid credential at random: our lint must never be laxer than the schema."""
    doc = make_credential(revocation_index=3)
    path = data.draw(st.sampled_from(_paths(doc)))
    mutated = copy.deepcopy(doc)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(junk)
    assume(not isinstance(mutated.get("credentialStatus"), list))  # known divergence, above
    try:
        lint_credential(mutated)
    except LintError:
        return
    assert schema_errors(mutated) == [], f"lint accepted a schema-invalid mutation at {path}"


def test_official_example_passes_strict_lint() -> None:
    lint_credential(load_spec("ob_v3p0_example_basic_openbadgecredential.json"))


def test_1edtech_status_example_needs_lenient_lint() -> None:
    doc = load_spec("example_ob3_with_bitstringstatuslistentry.json")
    del doc["proof"]  # an embedded DataIntegrityProof object, not what Credence signs
    with pytest.raises(LintError) as err:
        lint_credential(doc)
    assert err.value.path == "credentialStatus.statusListIndex"  # an integer, the REC says string
    lint_credential(doc, strict=False)


def test_ext_types_follow_the_schema_pattern() -> None:
    # The schema's class [a-z|A-Z|0-9|.|-|_] holds no "-" ("|-|" is a range from | to |).
    achievement = Achievement(
        id="https://x.example/a",
        name="A",
        description="",
        criteria_narrative="n",
        achievement_type="ext:Micro-Cert",
    )
    with pytest.raises(LintError) as err:
        make_credential(achievement=achievement)
    assert err.value.path == "credentialSubject.achievement.achievementType"


def test_naive_datetimes_are_misuse() -> None:
    from credentials import MisuseError

    with pytest.raises(MisuseError):
        make_credential(valid_from=datetime(2026, 1, 1))
    assert UTC  # keep the import used for readers: all test datetimes are aware
