"""API tokens: created once, stored as a hash, listed and revoked (``streamloop token ...``).

A token is 32 random bytes from `secrets`, so a plain SHA-256 of it cannot be reversed or
guessed: a slow password hash would only slow every request. Only the digest is stored; the
secret is shown once, when the token is made.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from streamloop.errors import Conflict, InvalidInput, NotFound
from streamloop.store.tables import TokenRow, utcnow

__all__ = ["ROLES", "Principal", "TokenRecord", "Tokens", "digest"]

#: What each role may do; ``admin`` may do everything.
ROLES = {
    "admin": "create projects, and anything the other roles may do",
    "producer": "send events, ask for predictions, send production labels",
    "annotator": "label on the annotate socket, under the token's name",
    "supervisor": "read metrics and history, watch the dashboard, send items to review",
    "reviewer": "settle items in review on the review socket, under the token's name",
}

_NAME = re.compile(r"[A-Za-z0-9._@+-]{1,64}")  # the annotator names the contract allows
_PREFIX = "sl_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a token's name and role."""

    name: str
    role: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def digest(secret: str) -> str:
    """The stored form of a token's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    """The tokens table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, role: str) -> tuple[TokenRecord, str]:
        """A new token for ``name`` in ``role``; returns it and its secret, shown only now.

        Names are unique among tokens in force: an annotator's name is their identity.
        """
        if role not in ROLES:
            raise InvalidInput(
                f"unknown role {role!r}; expected one of: {', '.join(ROLES)}", code="invalid_role"
            )
        if not _NAME.fullmatch(name):
            raise InvalidInput(
                "a token's name must be 1-64 letters, digits or . _ @ + -", code="invalid_name"
            )
        secret = _PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            taken = session.scalars(
                select(TokenRow).where(TokenRow.name == name, col(TokenRow.revoked_at).is_(None))
            ).first()
            if taken is not None:
                raise Conflict(
                    f"a token named {name!r} is in force; revoke it first", code="token_exists"
                )
            row = TokenRow(name=name, role=role, digest=digest(secret))
            session.add(row)
            session.commit()
            session.refresh(row)
            return _record(row), secret

    def list(self) -> list[TokenRecord]:
        with Session(self.engine) as session:
            return [
                _record(row) for row in session.scalars(select(TokenRow).order_by(col(TokenRow.id)))
            ]

    def revoke(self, name: str) -> TokenRecord:
        """Revoke the token in force named ``name`` (every one, should two have been made at
        once by two ``create`` runs racing)."""
        with Session(self.engine) as session:
            rows = session.scalars(
                select(TokenRow).where(TokenRow.name == name, col(TokenRow.revoked_at).is_(None))
            ).all()
            if not rows:
                raise NotFound(f"no token named {name!r} is in force", code="unknown_token")
            now = utcnow()
            for row in rows:
                row.revoked_at = now
                session.add(row)
            session.commit()
            session.refresh(rows[0])
            return _record(rows[0])

    def ever_made(self) -> bool:
        """Whether any token was ever made here, revoked or not: then auth stays on."""
        with Session(self.engine) as session:
            return session.scalars(select(TokenRow.id).limit(1)).first() is not None

    def in_force(self) -> dict[str, Principal]:
        """Every token not revoked, by digest."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(TokenRow.digest, TokenRow.name, TokenRow.role).where(
                    col(TokenRow.revoked_at).is_(None)
                )
            )
            return {row[0]: Principal(row[1], row[2]) for row in rows}


def _record(row: TokenRow) -> TokenRecord:
    assert row.id is not None
    return TokenRecord(row.id, row.name, row.role, row.created_at, row.revoked_at)
