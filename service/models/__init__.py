"""The tables: the ground floor every domain package may import and that imports no domain.

One module per aggregate. Importing this package registers every table on ``metadata``, which
Alembic's environment reads (migrations remain the only way a schema is made).
"""

from sqlmodel import SQLModel

from service.models.api_client import ApiClient
from service.models.audit import AuditEvent
from service.models.catalog import (
    CatalogState,
    Course,
    Level,
    LevelVersion,
    Program,
    Role,
    Track,
)
from service.models.completion import Completion
from service.models.credential import LIVE_CREDENTIAL, Credential, CredentialStatusEvent
from service.models.key import SigningKey
from service.models.learner import Learner, LearnerAttributeChange
from service.models.mail import MailMessage, MailRelayCursor
from service.models.offer import CredentialOffer
from service.models.status_list import StatusList, StatusSlot
from service.models.webhook import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookRelayCursor,
    WebhookSubscription,
)
from service.models.xapi import XapiAttachment, XapiStatement, XapiStatementAgent

metadata = SQLModel.metadata

__all__ = [
    "LIVE_CREDENTIAL",
    "ApiClient",
    "AuditEvent",
    "CatalogState",
    "Completion",
    "Course",
    "Credential",
    "CredentialOffer",
    "CredentialStatusEvent",
    "Learner",
    "LearnerAttributeChange",
    "Level",
    "LevelVersion",
    "MailMessage",
    "MailRelayCursor",
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
