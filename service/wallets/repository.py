"""The offers' queries. Each step of an offer is one conditional UPDATE, so that of two
concurrent requests exactly one wins (READ COMMITTED re-checks the condition on the row the
first one changed): the code is exchanged once, the credential delivered once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from service.models import CredentialOffer

_offer = CredentialOffer.__table__  # type: ignore[attr-defined]


def add(session: Session, offer: CredentialOffer) -> CredentialOffer:
    session.add(offer)
    session.flush()
    return offer


def get(session: Session, offer_id: str) -> CredentialOffer | None:
    return session.get(CredentialOffer, offer_id)


def of_credential(session: Session, credential_id: str) -> list[CredentialOffer]:
    query = (
        select(CredentialOffer)
        .where(CredentialOffer.credential_id == credential_id)
        .order_by(col(CredentialOffer.created_at).desc())
    )
    return list(session.exec(query))


def by_code(session: Session, code_hash: str) -> CredentialOffer | None:
    return session.exec(
        select(CredentialOffer).where(CredentialOffer.code_hash == code_hash)
    ).first()


def by_token(session: Session, token_hash: str) -> CredentialOffer | None:
    query = select(CredentialOffer).where(CredentialOffer.access_token_hash == token_hash)
    return session.exec(query).first()


def by_exchange(session: Session, exchange_hash: str) -> CredentialOffer | None:
    query = select(CredentialOffer).where(CredentialOffer.exchange_hash == exchange_hash)
    return session.exec(query).first()


def count_tx_failure(session: Session, offer_id: str) -> None:
    session.execute(
        update(_offer)
        .where(_offer.c.id == offer_id)
        .values(tx_code_failures=_offer.c.tx_code_failures + 1)
    )


def exchange_code(
    session: Session,
    offer_id: str,
    *,
    token_hash: str,
    token_expires_at: datetime,
    now: datetime,
) -> bool:
    """Spend the pre-authorized code for an access token: true for the one request that did."""
    result = session.execute(
        update(_offer)
        .where(
            _offer.c.id == offer_id,
            _offer.c.code_used_at.is_(None),
            _offer.c.revoked_at.is_(None),
            _offer.c.expires_at > now,
        )
        .values(code_used_at=now, access_token_hash=token_hash, token_expires_at=token_expires_at)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def deliver(session: Session, offer_id: str, *, to: str, form: str, now: datetime) -> bool:
    """Mark the offer delivered to ``to``: true for the one request that did."""
    result = session.execute(
        update(_offer)
        .where(
            _offer.c.id == offer_id,
            _offer.c.delivered_at.is_(None),
            _offer.c.revoked_at.is_(None),
        )
        .values(delivered_at=now, delivered_to=to, delivered_format=form)
    )
    return result.rowcount == 1  # type: ignore[attr-defined,no-any-return]


def set_challenge(session: Session, offer_id: str, challenge: str) -> None:
    session.execute(update(_offer).where(_offer.c.id == offer_id).values(challenge=challenge))


def revoke(session: Session, offer_id: str, now: datetime) -> None:
    session.execute(
        update(_offer)
        .where(_offer.c.id == offer_id, _offer.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
