"""``credence report ...`` prints the same reports as terminal tables or CSV."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from service.cli.main import app
from tests.reports.seed import seed


@pytest.fixture
def cli(client, admin_headers, database, monkeypatch):  # type: ignore[no-untyped-def]
    seed(client, admin_headers)
    monkeypatch.setenv("CREDENCE_DATABASE_URL", database.url)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["report", *args])
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_report_commands_print_tables_and_csv(cli) -> None:  # type: ignore[no-untyped-def]
    table = cli("certification", "--group-by", "department").splitlines()
    assert table[0].startswith("Certification (computed ")
    assert table[1].split()[:5] == ["GROUP", "LEVEL", "LEARNERS", "HOLDERS", "SHARE"]
    sales = next(line.split() for line in table if line.startswith("sales    social-media/found"))
    assert sales[2:5] == ["4", "2", "50.0%"]

    rows = list(csv.DictReader(io.StringIO(cli("completion-rate", "--months", "3", "--csv"))))
    assert [r["group"] for r in rows] == ["all"] * 3
    assert all(r["computed_at"] for r in rows)

    compliance = cli("compliance", "--group-by", "department")
    assert "marketing" in compliance and "community-manager" in compliance
    overdue = list(csv.DictReader(io.StringIO(cli("compliance", "--overdue", "--csv"))))
    assert [r["learner_id"] for r in overdue] == ["bob"]
    assert "Social Media Foundations" in cli("funnel", "--track", "social-media")


def test_report_errors_exit_2_with_a_message(cli) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["report", "certification", "--group-by", "Bad-Name"])
    assert result.exit_code == 2
    assert "not an attribute name" in result.output
