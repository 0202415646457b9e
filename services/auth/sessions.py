"""Logins, registration, token refresh, logout and password changes.

Password hashes are computed outside database transactions, because an argon2id hash takes
tens of milliseconds and should not hold a pooled connection meanwhile.
"""

import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.errors import Unauthorized, ValidationFailed, field_error
from libs.common.rpc import Principal
from libs.common.timeutil import utcnow
from services.auth import service
from services.auth.context import AuthContext
from services.auth.models import User
from services.auth.schemas import (
    LoginRequest,
    LoginResponse,
    MeResponse,
    PasswordChangeRequest,
    PasswordChangeResponse,
    RefreshRequest,
    RefreshResponse,
    RegisterRequest,
    TokenPair,
    user_public,
)
from services.auth.security import hash_refresh_token, issue_access_token, new_refresh_token

logger = logging.getLogger(__name__)

SELF_REGISTERED_ROLE = "observer"


async def issue_tokens(
    ctx: AuthContext, session: AsyncSession, *, user: User, family_id: uuid.UUID | None = None
) -> TokenPair:
    """Store a new refresh token (in a new family unless given) and sign an access token for ``user``."""
    family_id = family_id or uuid.uuid4()
    refresh_token = new_refresh_token()
    await service.add_refresh_token(
        session,
        user_id=user.id,
        family_id=family_id,
        token_hash=hash_refresh_token(refresh_token),
        expires_at=utcnow() + timedelta(seconds=ctx.settings.refresh_token_seconds),
    )
    access = issue_access_token(
        secret=ctx.jwt_secret,
        user_id=user.id,
        username=user.username,
        token_version=user.token_version,
        session_id=family_id,
        lifetime_seconds=ctx.settings.access_token_seconds,
    )
    return TokenPair(token=access.token, refresh_token=refresh_token, expires_in=ctx.settings.access_token_seconds)


def login_response(user: User, tokens: TokenPair) -> LoginResponse:
    return LoginResponse(
        **tokens.model_dump(by_alias=False),
        username=user.username,
        full_name=user.full_name,
        roles=[user.role],
        user=user_public(user),
        must_change_password=user.must_change_password,
    )


async def login(ctx: AuthContext, body: LoginRequest) -> LoginResponse:
    """Check the credentials of an enabled account and return a new token pair."""
    async with ctx.read_session() as session:
        user = await service.get_by_name(session, username=body.username)
        password_hash = user.password_hash if user is not None else None

    verified = await ctx.passwords.verify(password_hash, body.password)
    if user is None or not verified or not user.is_active:
        logger.info("login rejected username=%s known=%s", body.username[:50], user is not None)
        raise Unauthorized("invalid_credentials")

    new_hash = await ctx.passwords.hash(body.password) if ctx.passwords.needs_rehash(user.password_hash) else None
    # NOTE: a password change that commits between the check above and this transaction does
    # not end this login, because its revocation ran before the refresh token below exists.
    async with ctx.db.session() as session:
        user = await service.get_or_raise_unauthorized(session, user_id=user.id)
        if not user.is_active:
            raise Unauthorized("invalid_credentials")
        user.last_login = utcnow()
        if new_hash is not None:
            user.password_hash = new_hash
        tokens = await issue_tokens(ctx, session, user=user)

    await ctx.tokens.put_user(user)
    logger.info("login succeeded user_id=%d username=%s", user.id, user.username)
    return login_response(user, tokens)


async def register(ctx: AuthContext, body: RegisterRequest, lang: str) -> LoginResponse:
    """Create an observer account from a self-registration and log it in."""
    password_hash = await ctx.passwords.hash(body.password)
    async with ctx.db.session() as session:
        await raise_if_in_use(session, username=body.username, email=body.email, lang=lang)
        user = await create_user_or_raise(
            session,
            lang=lang,
            username=body.username,
            email=body.email,
            password_hash=password_hash,
            full_name=body.full_name,
            role=SELF_REGISTERED_ROLE,
        )
        user.last_login = utcnow()
        tokens = await issue_tokens(ctx, session, user=user)

    await ctx.tokens.put_user(user)
    logger.info("user registered user_id=%d username=%s", user.id, user.username)
    return login_response(user, tokens)


async def raise_if_in_use(session: AsyncSession, *, username: str, email: str, lang: str) -> None:
    """Raise 409 with a field error for each of ``username`` and ``email`` that is already in use."""
    in_use = await service.find_in_use(session, username=username, email=email)
    if in_use:
        raise ValidationFailed(_in_use_errors(in_use, lang), status_code=409)


async def create_user_or_raise(session: AsyncSession, *, lang: str, **fields) -> User:
    """Insert a user; a duplicate that raced past ``raise_if_in_use`` becomes the same 409."""
    try:
        async with session.begin_nested():
            return await service.create(session, **fields)
    except IntegrityError:
        in_use = await service.find_in_use(session, username=fields["username"], email=fields["email"])
        raise ValidationFailed(_in_use_errors(in_use or {"username"}, lang), status_code=409) from None


def _in_use_errors(in_use: set[str], lang: str) -> list:
    errors = []
    if "username" in in_use:
        errors.append(field_error("username", "username_taken", lang))
    if "email" in in_use:
        errors.append(field_error("email", "email_taken", lang))
    return errors


async def me(ctx: AuthContext, principal: Principal) -> MeResponse:
    async with ctx.read_session() as session:
        user = await service.get_or_raise_unauthorized(session, user_id=principal.user_id)
    return MeResponse(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        email=user.email,
        role=user.role,
        roles=[user.role],
        status=user.status,
        is_active=user.is_active,
        must_change_password=user.must_change_password,
        last_login=user.last_login,
    )


async def refresh(ctx: AuthContext, body: RefreshRequest) -> RefreshResponse:
    """Rotate a refresh token: mark it used and return a new pair in the same family.

    A token presented after it was used or revoked ends its whole family, its access tokens
    included, because only a stolen copy would be replayed. The rightful holder then logs in again.
    """
    async with ctx.db.session() as session:
        rotated = await _rotate(ctx, session, body.refresh_token)

    # Raised outside the transaction, so that a family revoked for reuse stays revoked.
    if isinstance(rotated, uuid.UUID):
        await ctx.tokens.revoke_family(rotated)
        raise Unauthorized("invalid_token")
    if rotated is None:
        raise Unauthorized("invalid_token")
    user, tokens = rotated
    await ctx.tokens.put_user(user)
    return RefreshResponse(**tokens.model_dump(by_alias=False))


async def _rotate(
    ctx: AuthContext, session: AsyncSession, refresh_token: str
) -> tuple[User, TokenPair] | uuid.UUID | None:
    """Return the user and a new pair, the id of a family just revoked for reuse, or None for an unusable token."""
    now = utcnow()
    token_hash = hash_refresh_token(refresh_token)
    user_id = await service.get_refresh_token_owner(session, token_hash=token_hash)
    if user_id is None:
        return None

    # Lock the owner before the token, like every revocation, so that a revocation running now
    # either finishes first or waits and then also revokes the token inserted here.
    user = await service.get(session, user_id=user_id, for_update=True)
    stored = await service.get_refresh_token_for_update(session, token_hash=token_hash)
    if stored is None or stored.expires_at <= now:
        return None

    if stored.used_at is not None or stored.revoked_at is not None:
        revoked = await service.revoke_family(session, family_id=stored.family_id)
        logger.warning(
            "refresh token reused user_id=%d family=%s revoked=%d", stored.user_id, stored.family_id, revoked
        )
        return stored.family_id

    if user is None or not user.is_active:
        return None
    stored.used_at = now
    return user, await issue_tokens(ctx, session, user=user, family_id=stored.family_id)


async def logout(
    ctx: AuthContext,
    principal: Principal,
    *,
    jti: str,
    expires_at: int,
    session_id: str | None,
    refresh_token: str | None,
) -> None:
    """Revoke the access token ``jti`` and the refresh-token families of this session, access tokens included.

    The presented token is revoked last, so that a logout that fails part way can be repeated with it.
    """
    families: set[uuid.UUID] = set()
    async with ctx.db.session() as session:
        # The owner's lock keeps a rotation from inserting a token that the revocation misses.
        await service.get(session, user_id=principal.user_id, for_update=True)
        if session_id and (family_id := _parse_uuid(session_id)) is not None:
            families.add(family_id)
        if refresh_token:
            stored = await service.get_refresh_token_for_update(session, token_hash=hash_refresh_token(refresh_token))
            if stored is not None and stored.user_id == principal.user_id:
                families.add(stored.family_id)
        for family_id in families:
            await service.revoke_family(session, family_id=family_id, user_id=principal.user_id)

    for family_id in families:
        await ctx.tokens.revoke_family(family_id)
    await ctx.tokens.revoke_access_token(jti, datetime.fromtimestamp(expires_at, UTC))
    logger.info("logout user_id=%d jti=%s families=%d", principal.user_id, jti, len(families))


def _parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def change_password(
    ctx: AuthContext, principal: Principal, body: PasswordChangeRequest, lang: str
) -> PasswordChangeResponse:
    """Replace the caller's password, end all their other tokens and return a fresh pair."""
    async with ctx.read_session() as session:
        user = await service.get_or_raise_unauthorized(session, user_id=principal.user_id)
        current_hash = user.password_hash

    if not await ctx.passwords.verify(current_hash, body.current_password):
        raise ValidationFailed([field_error("currentPassword", "wrong_password", lang)], status_code=400)
    if body.new_password == body.current_password:
        raise ValidationFailed([field_error("newPassword", "password_reused", lang)])
    new_hash = await ctx.passwords.hash(body.new_password)

    async with ctx.db.session() as session:
        user = await service.get_or_raise_unauthorized(session, user_id=principal.user_id)
        user.password_hash = new_hash
        user.must_change_password = False
        user.token_version += 1
        await service.revoke_user_tokens(session, user_id=user.id)
        tokens = await issue_tokens(ctx, session, user=user)

    await ctx.tokens.put_user(user)
    logger.info("password changed user_id=%d", user.id)
    return PasswordChangeResponse(**tokens.model_dump(by_alias=False))
