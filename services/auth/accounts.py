"""Account management by admins, the first admin at start, and the checks behind both.

The gateway lets only admins reach these flows. Each flow checks the caller against the
database again, so that neither a request that bypasses the gateway nor a gateway's stale
copy of a demoted admin can change accounts.
"""

import logging

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from libs.common.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from libs.common.rpc import Principal
from services.auth import service
from services.auth.context import AuthContext
from services.auth.models import User
from services.auth.schemas import (
    RegisterRequest,
    UserCreateRequest,
    UserCreateResponse,
    UserListItem,
    UserListResponse,
    UserUpdateRequest,
)
from services.auth.security import Passwords, new_one_time_password
from services.auth.sessions import create_user_or_raise, raise_if_in_use

logger = logging.getLogger(__name__)


async def require_admin(session: AsyncSession, principal: Principal | None) -> User:
    """Return the caller's row when it is an enabled admin; raise 401 or 403 otherwise."""
    if principal is None:
        raise Unauthorized("not_authenticated")
    actor = await service.get(session, user_id=principal.user_id)
    if actor is None or not actor.is_active:
        raise Unauthorized("invalid_token")
    if actor.role != "admin":
        raise Forbidden("not_admin")
    return actor


async def list_users(ctx: AuthContext, principal: Principal | None) -> UserListResponse:
    async with ctx.read_session() as session:
        await require_admin(session, principal)
        users = await service.list_all(session)
    items = [
        UserListItem(
            id=user.id,
            username=user.username,
            email=user.email,
            full_name=user.full_name,
            role=user.role,
            status=user.status,
            created_at=user.created_at,
            last_login=user.last_login,
        )
        for user in users
    ]
    return UserListResponse(users=items)


async def create_account(
    session: AsyncSession, passwords: Passwords, body: UserCreateRequest, lang: str
) -> tuple[User, str | None]:
    """Insert the account described by ``body``; return it and the generated one-time password, if any.

    Without ``password`` a random one is generated, returned once, and must be changed at
    the first login.
    """
    await raise_if_in_use(session, username=body.username, email=body.email, lang=lang)
    one_time_password = None if body.password else new_one_time_password()
    password_hash = await passwords.hash(body.password or one_time_password)
    user = await create_user_or_raise(
        session,
        lang=lang,
        username=body.username,
        email=body.email,
        password_hash=password_hash,
        full_name=body.full_name or body.username,
        role=body.role,
        status=body.status,
        must_change_password=one_time_password is not None,
    )
    return user, one_time_password


async def create_user(
    ctx: AuthContext, principal: Principal | None, body: UserCreateRequest, lang: str
) -> UserCreateResponse:
    async with ctx.db.session() as session:
        actor = await require_admin(session, principal)
        user, one_time_password = await create_account(session, ctx.passwords, body, lang)

    await ctx.tokens.put_user(user)
    logger.info("user created user_id=%d username=%s role=%s by=%s", user.id, user.username, user.role, actor.username)
    return UserCreateResponse(username=user.username, initial_password=one_time_password)


async def update_user(ctx: AuthContext, principal: Principal | None, username: str, body: UserUpdateRequest) -> None:
    """Change a user's role or status; a change of either ends the user's current tokens."""
    async with ctx.db.session() as session:
        actor = await require_admin(session, principal)
        await service.lock_admin_changes(session)
        user = await service.get_by_name_or_raise(session, username=username, for_update=True)

        role = body.role or user.role
        status = body.status or user.status
        if role == user.role and status == user.status:
            return
        if _removes_admin(user, role=role, status=status):
            await _raise_if_last_admin(session, user)

        user.role = role
        user.status = status
        user.token_version += 1
        if not user.is_active:
            await service.revoke_user_tokens(session, user_id=user.id)

    await ctx.tokens.put_user(user)
    logger.info("user updated user_id=%d role=%s status=%s by=%s", user.id, role, status, actor.username)


async def delete_user(ctx: AuthContext, principal: Principal | None, username: str) -> None:
    async with ctx.db.session() as session:
        actor = await require_admin(session, principal)
        await service.lock_admin_changes(session)
        user = await service.get_by_name_or_raise(session, username=username, for_update=True)
        if _removes_admin(user, role=None, status=None):
            await _raise_if_last_admin(session, user)
        await service.delete(session, user=user)

    await ctx.tokens.delete_user(user.username)
    logger.info("user deleted user_id=%d username=%s by=%s", user.id, user.username, actor.username)


def _removes_admin(user: User, *, role: str | None, status: str | None) -> bool:
    """Return True when the change leaves ``user`` no longer an enabled admin; a None role means deletion."""
    if user.role != "admin" or not user.is_active:
        return False
    return role != "admin" or status != "enabled"


async def _raise_if_last_admin(session: AsyncSession, user: User) -> None:
    if await service.count_active_admins(session, excluding=user.id) == 0:
        raise Conflict("last_admin")


async def bootstrap_admin(ctx: AuthContext, spec: str, email: str = "") -> None:
    """Create the admin ``username:password`` from ``spec`` when no admin exists yet.

    Raises ``ValueError`` when the username or password breaks the account rules, so a
    weak bootstrap password stops the service instead of creating a weak admin. The admin's
    state reaches the users bucket with the sync of every user that follows at start.
    """
    username, separator, password = spec.partition(":")
    if not separator:
        raise ValueError("HFD_BOOTSTRAP_ADMIN must be 'username:password'")
    fields = {
        "username": username,
        "email": email or f"{username}@localhost.localdomain",
        "password": password,
        "fullName": username,
    }
    try:
        request = RegisterRequest.model_validate(fields)
    except ValidationError as error:
        # pydantic's own text would include the input values, the password among them.
        failures = ", ".join(f"{item['loc'][0]}: {item['type']}" for item in error.errors())
        raise ValueError(
            f"HFD_BOOTSTRAP_ADMIN is invalid ({failures}): the username needs 3-50 letters, digits or _ "
            "starting with a letter, the password 8-128 characters with upper- and lower-case letters and a digit"
        ) from None

    async with ctx.db.session() as session:
        await service.lock_admin_changes(session)
        if await service.admin_exists(session):
            logger.info("bootstrap admin skipped: an admin exists")
            return
        body = UserCreateRequest(
            username=request.username, email=request.email, role="admin", password=request.password
        )
        try:
            user, _ = await create_account(session, ctx.passwords, body, "en")
        except ValidationFailed as error:
            fields = ", ".join(failure.field for failure in error.errors)
            raise ValueError(
                f"HFD_BOOTSTRAP_ADMIN cannot be created: its {fields} is already used by an account that is not "
                "an admin; choose another username (or set HFD_AUTH_BOOTSTRAP_ADMIN_EMAIL)"
            ) from None

    logger.info("bootstrap admin created user_id=%d username=%s", user.id, user.username)
