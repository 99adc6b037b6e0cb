"""API clients: who may call Credence, with which scopes. Only a hash of each secret is kept."""

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class ApiClient(SQLModel, table=True):
    __tablename__ = "api_client"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    prefix: str = Field(sa_column=Column(String(16), nullable=False, unique=True))
    secret_hash: str = Field(max_length=64)
    scopes: str = Field(max_length=500, description="space-separated scopes")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
