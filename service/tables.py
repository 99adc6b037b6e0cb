"""Every table, imported in one place so Alembic sees the whole metadata."""

from sqlmodel import SQLModel

from service.audit.models import AuditEvent
from service.auth.models import ApiClient

metadata = SQLModel.metadata

__all__ = ["ApiClient", "AuditEvent", "metadata"]
