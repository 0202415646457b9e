"""Database work of the auth service: users, refresh tokens and audit records.

Functions take an open ``AsyncSession`` inside the caller's transaction and never commit.
"""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.errors import NotFound, Unauthorized
from libs.common.timeutil import utcnow
from services.auth.models import RefreshToken, SysExecLog, User

ADMIN_CHANGE_LOCK = "hfd:auth:admins"

# Users


async def get(session: AsyncSession, *, user_id: int, for_update: bool = False) -> User | None:
    return await session.get(User, user_id, with_for_update=for_update or None)


async def get_or_raise_unauthorized(session: AsyncSession, *, user_id: int) -> User:
    """Return the user of a verified token; a user deleted since the token was issued is 401."""
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthorized("invalid_token")
    return user


async def get_by_name(session: AsyncSession, *, username: str, for_update: bool = False) -> User | None:
    """Return the user whose username matches case-insensitively, or None."""
    if "\x00" in username:
        return None  # PostgreSQL text cannot contain NUL, so no stored username does
    statement = select(User).where(func.lower(User.username) == username.lower())
    if for_update:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def get_by_name_or_raise(session: AsyncSession, *, username: str, for_update: bool = False) -> User:
    user = await get_by_name(session, username=username, for_update=for_update)
    if user is None:
        raise NotFound()
    return user


async def find_in_use(session: AsyncSession, *, username: str, email: str) -> set[str]:
    """Return which of ``username`` and ``email`` another account already uses."""
    statement = select(User.username, User.email).where(
        (func.lower(User.username) == username.lower()) | (func.lower(User.email) == email.lower())
    )
    in_use: set[str] = set()
    for existing_username, existing_email in (await session.execute(statement)).all():
        if existing_username.lower() == username.lower():
            in_use.add("username")
        if existing_email.lower() == email.lower():
            in_use.add("email")
    return in_use


async def create(
    session: AsyncSession,
    *,
    username: str,
    email: str,
    password_hash: str,
    full_name: str,
    role: str,
    status: str = "enabled",
    must_change_password: bool = False,
) -> User:
    """Insert a user; a concurrent duplicate surfaces as ``IntegrityError`` at flush."""
    user = User(
        username=username,
        email=email,
        password_hash=password_hash,
        full_name=full_name,
        role=role,
        status=status,
        must_change_password=must_change_password,
        token_version=1,
    )
    session.add(user)
    await session.flush()
    return user


async def list_all(session: AsyncSession) -> Sequence[User]:
    return (await session.execute(select(User).order_by(User.id))).scalars().all()


async def lock_admin_changes(session: AsyncSession) -> None:
    """Serialise transactions that may remove an admin, until this transaction ends.

    Without it, two admins demoting each other at once could both see the other as the
    remaining admin and leave none.
    """
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": ADMIN_CHANGE_LOCK})


async def count_active_admins(session: AsyncSession, *, excluding: int | None = None) -> int:
    statement = select(func.count()).select_from(User).where(User.role == "admin", User.status == "enabled")
    if excluding is not None:
        statement = statement.where(User.id != excluding)
    return (await session.execute(statement)).scalar_one()


async def admin_exists(session: AsyncSession) -> bool:
    statement = select(func.count()).select_from(User).where(User.role == "admin")
    return (await session.execute(statement)).scalar_one() > 0


async def delete(session: AsyncSession, *, user: User) -> None:
    await session.delete(user)
    await session.flush()


# Refresh tokens


async def add_refresh_token(
    session: AsyncSession, *, user_id: int, family_id: uuid.UUID, token_hash: str, expires_at: datetime
) -> None:
    session.add(RefreshToken(user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at))
    await session.flush()


async def get_refresh_token_owner(session: AsyncSession, *, token_hash: str) -> int | None:
    """Return the id of the user a refresh token belongs to, without locking, or None for an unknown token."""
    statement = select(RefreshToken.user_id).where(RefreshToken.token_hash == token_hash)
    return (await session.execute(statement)).scalar_one_or_none()


async def get_refresh_token_for_update(session: AsyncSession, *, token_hash: str) -> RefreshToken | None:
    """Return the token row locked, so two concurrent refreshes with one token cannot both rotate it."""
    statement = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID, user_id: int | None = None) -> int:
    """Revoke every unrevoked token of a family; with ``user_id``, only when it owns the family.

    The caller must hold the owner's row lock (``get(..., for_update=True)``), as a rotation does
    before it inserts the family's next token. Otherwise this UPDATE misses a token that a
    concurrent rotation inserts, because its snapshot contains only rows committed when it started.
    """
    statement = (
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if user_id is not None:
        statement = statement.where(RefreshToken.user_id == user_id)
    return (await session.execute(statement)).rowcount


async def revoke_user_tokens(session: AsyncSession, *, user_id: int) -> int:
    statement = (
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return (await session.execute(statement)).rowcount


async def delete_expired_refresh_tokens(session: AsyncSession, *, before: datetime) -> int:
    statement = RefreshToken.__table__.delete().where(RefreshToken.expires_at < before)
    return (await session.execute(statement)).rowcount


# Audit records


async def insert_audit_records(session: AsyncSession, *, rows: Iterable[dict[str, Any]]) -> int:
    """Insert audit rows, skipping any ``operation_id`` already stored; return how many were new."""
    rows = list(rows)
    if not rows:
        return 0
    statement = insert(SysExecLog).values(rows).on_conflict_do_nothing(index_elements=["operation_id"])
    return (await session.execute(statement)).rowcount


async def list_audit_records(
    session: AsyncSession, *, user_id: int | None, page: int, size: int
) -> tuple[Sequence[SysExecLog], int]:
    """Return one page of records, newest first, and the total; ``user_id`` None means every user."""
    condition = SysExecLog.deleted_at.is_(None)
    if user_id is not None:
        condition = condition & (SysExecLog.user_id == user_id)
    total = (await session.execute(select(func.count()).select_from(SysExecLog).where(condition))).scalar_one()
    statement = (
        select(SysExecLog)
        .where(condition)
        .order_by(SysExecLog.operation_time.desc(), SysExecLog.operation_id)
        .offset((page - 1) * size)
        .limit(size)
    )
    return (await session.execute(statement)).scalars().all(), total


async def soft_delete_audit_record(session: AsyncSession, *, operation_id: uuid.UUID, deleted_by: str) -> bool:
    """Hide one record from listings; return False when it does not exist or was deleted before."""
    statement = (
        update(SysExecLog)
        .where(SysExecLog.operation_id == operation_id, SysExecLog.deleted_at.is_(None))
        .values(deleted_at=utcnow(), deleted_by=deleted_by)
    )
    return (await session.execute(statement)).rowcount > 0
