"""Every table, imported in one place so Alembic sees the whole metadata."""

from sqlmodel import SQLModel

from service.audit.models import AuditEvent
from service.auth.models import ApiClient
from service.catalog.models import CatalogState, Course, Level, LevelVersion, Program, Role, Track
from service.completions.models import Completion, Credential, CredentialStatusEvent
from service.keys.models import SigningKey
from service.learners.models import Learner, LearnerAttributeChange
from service.status.models import StatusList, StatusSlot
from service.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookRelayCursor,
    WebhookSubscription,
)
from service.xapi.models import XapiAttachment, XapiStatement, XapiStatementAgent

metadata = SQLModel.metadata

__all__ = [
    "ApiClient",
    "AuditEvent",
    "CatalogState",
    "Completion",
    "Course",
    "Credential",
    "CredentialStatusEvent",
    "Learner",
    "LearnerAttributeChange",
    "Level",
    "LevelVersion",
    "Program",
    "Role",
    "SigningKey",
    "StatusList",
    "StatusSlot",
    "Track",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookRelayCursor",
    "WebhookSubscription",
    "XapiAttachment",
    "XapiStatement",
    "XapiStatementAgent",
    "metadata",
]
