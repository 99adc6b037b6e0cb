"""xAPI response shapes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class About(BaseModel):
    """The LRS ``about`` resource."""

    version: list[str] = Field(description="xAPI versions accepted in X-Experience-API-Version")
    extensions: dict[str, Any] = Field(default_factory=dict)
