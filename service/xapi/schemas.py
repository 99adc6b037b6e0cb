"""xAPI response shapes, and the OpenAPI description of what FastAPI cannot infer (the
statements body, read by hand as JSON or multipart/mixed; the GET's parameters and answers)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

CONSISTENT_THROUGH = "X-Experience-API-Consistent-Through"

STATEMENT_EXAMPLE = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {
        "objectType": "Agent",
        "name": "Ana Lima",
        "account": {"homePage": "https://lms.example.com", "name": "ana"},
    },
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"en-US": "passed"}},
    "object": {"id": "https://lms.example.com/xapi/activities/policy-101"},
    "result": {"success": True, "completion": True, "score": {"scaled": 0.92}},
    "timestamp": "2026-11-20T10:00:00Z",
}


class About(BaseModel):
    """The LRS ``about`` resource."""

    version: list[str] = Field(description="xAPI versions accepted in X-Experience-API-Version")
    extensions: dict[str, Any] = Field(default_factory=dict)


_STATEMENT: dict[str, Any] = {
    "type": "object",
    "title": "StoredStatement",
    "description": "A statement as stored: as sent, with id, stored, authority (the API client "
    "that sent it), version and timestamp set",
    "required": ["id", "actor", "verb", "object", "timestamp", "stored", "authority", "version"],
}
_RESULT: dict[str, Any] = {
    "type": "object",
    "title": "StatementResult",
    "required": ["statements", "more"],
    "properties": {
        "statements": {"type": "array", "items": _STATEMENT},
        "more": {
            "type": "string",
            "description": "Relative IRL of the next page; empty when there is none",
        },
    },
}

STATEMENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "description": "One xAPI statement or an array of them (all or nothing)",
                    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
                },
                "example": STATEMENT_EXAMPLE,
            },
            "multipart/mixed": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "xAPI 1.0.3 Communication 1.5.2: the statements as the "
                    "first part (application/json), then one part per attachment with its "
                    "X-Experience-API-Hash (the sha2 of an attachment of the statements) and "
                    "Content-Transfer-Encoding: binary",
                },
            },
        },
    }
}


def _query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_BOOLEAN = {"type": "string", "enum": ["true", "false"]}

GET_PARAMETERS: dict[str, Any] = {
    "parameters": [
        _query(
            "statementId",
            "The statement with this id (not if voided)",
            format="uuid",
            type="string",
        ),
        _query(
            "voidedStatementId", "The voided statement with this id", format="uuid", type="string"
        ),
        _query(
            "agent",
            "JSON Agent or identified Group: statements whose actor or object is it "
            "(or has it as a group member)",
        ),
        _query("verb", "Verb id (IRI)"),
        _query("activity", "Activity id (IRI) of the statements' object"),
        _query(
            "since",
            "Only statements stored after this time (exclusive)",
            type="string",
            format="date-time",
        ),
        _query(
            "until",
            "Only statements stored at or before this time",
            type="string",
            format="date-time",
        ),
        _query("limit", "Page size (0 or above 100: 100)", type="integer", minimum=0),
        _query("ascending", "Oldest stored first", **_BOOLEAN),
        _query(
            "format",
            "exact (default), ids or canonical",
            type="string",
            enum=["exact", "ids", "canonical"],
        ),
        _query(
            "attachments",
            "true: a multipart/mixed answer with the stored attachment data",
            **_BOOLEAN,
        ),
        _query("cursor", "Position of the next page (use the more IRL as given)"),
    ]
}

GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "One statement (statementId, voidedStatementId) or a StatementResult",
        "headers": {
            CONSISTENT_THROUGH: {
                "description": "Every statement stored before this time is in the answer "
                "(or in later pages)",
                "schema": {"type": "string", "format": "date-time"},
            },
            "Last-Modified": {
                "description": "The stored time of the one statement asked for",
                "schema": {"type": "string"},
            },
        },
        "content": {
            "application/json": {"schema": {"anyOf": [_RESULT, _STATEMENT]}},
            "multipart/mixed": {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "attachments=true: the JSON answer, then one part per "
                    "stored attachment",
                }
            },
        },
    }
}
