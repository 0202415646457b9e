"""Request and response models of the auth service, shared with the gateway's OpenAPI.

Validators raise ``PydanticCustomError`` with a message code of ``libs.common.i18n`` (such as
``weak_password``), so that the gateway and the service both report a failed rule as
``{"field", "code", "message"}`` with that code. Field names on the wire follow the API
contract: camelCase for users and tokens, snake_case for sys-exec-logs.
"""

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from services.auth.models import ROLES, USER_STATUSES

USERNAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{2,49}$"
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 100
# An account becomes pending only when it is created, so an update sets one of these.
UPDATE_STATUSES = ("enabled", "disabled")
_USERNAME_RE = re.compile(USERNAME_PATTERN, re.ASCII)


def check_username(value: str) -> str:
    """Accept 3-50 ASCII letters, digits and underscores that start with a letter."""
    if not _USERNAME_RE.fullmatch(value):
        raise PydanticCustomError("invalid_username", "invalid username")
    return value


def check_email(value: str) -> str:
    """Accept a syntactically valid address of at most 100 characters and return its normal form."""
    if len(value) > EMAIL_MAX_LENGTH:
        raise PydanticCustomError("invalid_email", "invalid email")
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise PydanticCustomError("invalid_email", "invalid email") from None


def check_password_strength(value: str) -> str:
    """Accept 8-128 characters with at least one upper-case letter, one lower-case letter and one digit."""
    if len(value) > PASSWORD_MAX_LENGTH:
        raise PydanticCustomError("password_too_long", "password too long", {"max": PASSWORD_MAX_LENGTH})
    strong = (
        len(value) >= PASSWORD_MIN_LENGTH
        and any(ch.isupper() for ch in value)
        and any(ch.islower() for ch in value)
        and any(ch.isdigit() for ch in value)
    )
    if not strong:
        raise PydanticCustomError("weak_password", "weak password")
    return value


def check_full_name(value: str) -> str:
    """Accept 2-100 characters after trimming, without control characters."""
    value = value.strip()
    if not 2 <= len(value) <= 100 or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise PydanticCustomError("invalid_full_name", "invalid full name")
    return value


def check_role(value: str) -> str:
    if value not in ROLES:
        raise PydanticCustomError("invalid_role", "invalid role")
    return value


def check_status(value: str) -> str:
    if value not in USER_STATUSES:
        raise PydanticCustomError("invalid_status", "invalid status", {"choices": USER_STATUSES})
    return value


def check_update_status(value: str) -> str:
    """Accept the statuses an admin may set on an existing account: ``enabled`` or ``disabled``."""
    if value not in UPDATE_STATUSES:
        raise PydanticCustomError("invalid_status", "invalid status", {"choices": UPDATE_STATUSES})
    return value


Username = Annotated[
    str,
    AfterValidator(check_username),
    Field(json_schema_extra={"pattern": USERNAME_PATTERN, "minLength": 3, "maxLength": 50}),
]
Email = Annotated[str, AfterValidator(check_email), Field(json_schema_extra={"format": "email", "maxLength": 100})]
NewPassword = Annotated[
    str,
    AfterValidator(check_password_strength),
    Field(json_schema_extra={"minLength": PASSWORD_MIN_LENGTH, "maxLength": PASSWORD_MAX_LENGTH}),
]
FullName = Annotated[str, AfterValidator(check_full_name), Field(json_schema_extra={"minLength": 2, "maxLength": 100})]
RoleName = Annotated[str, AfterValidator(check_role), Field(json_schema_extra={"enum": list(ROLES)})]
StatusName = Annotated[str, AfterValidator(check_status), Field(json_schema_extra={"enum": list(USER_STATUSES)})]
UpdateStatusName = Annotated[
    str, AfterValidator(check_update_status), Field(json_schema_extra={"enum": list(UPDATE_STATUSES)})
]


class ApiModel(BaseModel):
    """Base of the wire models: fields accepted by name or alias, written by alias."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


# Requests


class LoginRequest(ApiModel):
    username: str = Field(max_length=256)
    password: str = Field(max_length=1024)


class RegisterRequest(ApiModel):
    username: Username
    email: Email
    password: NewPassword
    full_name: FullName = Field(alias="fullName", validation_alias=AliasChoices("fullName", "full_name"))


class PasswordChangeRequest(ApiModel):
    current_password: str = Field(alias="currentPassword", max_length=1024)
    new_password: NewPassword = Field(alias="newPassword")


class RefreshRequest(ApiModel):
    refresh_token: str = Field(alias="refreshToken", max_length=512)


class LogoutRequest(ApiModel):
    refresh_token: str | None = Field(default=None, alias="refreshToken", max_length=512)


class UserCreateRequest(ApiModel):
    """An account created by an admin; without ``password`` a one-time password is generated."""

    username: Username
    email: Email
    role: RoleName
    status: StatusName = "enabled"
    password: NewPassword | None = None
    full_name: FullName | None = Field(
        default=None, alias="fullName", validation_alias=AliasChoices("fullName", "full_name")
    )


class UserUpdateRequest(ApiModel):
    role: RoleName | None = None
    status: UpdateStatusName | None = None


class AuditListQuery(ApiModel):
    page: int = Field(default=1, ge=1, le=1_000_000)
    size: int = Field(default=10, ge=1, le=100)


def check_no_nul(value: str) -> str:
    """Reject NUL characters, which PostgreSQL text columns cannot store."""
    if "\x00" in value:
        raise PydanticCustomError("invalid_value", "contains a NUL character")
    return value


class AuditCreateRequest(ApiModel):
    user_id: int = Field(ge=1, le=2**31 - 1)
    description: Annotated[str, AfterValidator(check_no_nul)] = Field(min_length=1, max_length=1000)


class AuditDeleteParams(ApiModel):
    operation_id: uuid.UUID


# Responses


class OkResponse(ApiModel):
    ok: bool = True


class UserPublic(ApiModel):
    id: int
    username: str
    email: str
    full_name: str = Field(alias="fullName")
    role: str
    status: str
    is_active: bool = Field(alias="isActive")


class TokenPair(ApiModel):
    token: str = Field(description="Access token (JWT), sent as 'Authorization: Bearer <token>'.")
    refresh_token: str = Field(alias="refreshToken", description="Opaque refresh token for POST /refresh.")
    token_type: str = Field(default="bearer", alias="tokenType")
    expires_in: int = Field(alias="expiresIn", description="Seconds until the access token expires.")


class LoginResponse(TokenPair):
    ok: bool = True
    username: str
    full_name: str = Field(alias="fullName")
    roles: list[str]
    user: UserPublic
    must_change_password: bool = Field(alias="mustChangePassword")


class RefreshResponse(TokenPair):
    ok: bool = True


class PasswordChangeResponse(TokenPair):
    ok: bool = True


class MeResponse(ApiModel):
    id: int
    username: str
    full_name: str = Field(alias="fullName")
    email: str
    role: str
    roles: list[str]
    status: str
    is_active: bool = Field(alias="isActive")
    must_change_password: bool = Field(alias="mustChangePassword")
    last_login: datetime | None = Field(alias="lastLogin")


class UserListItem(ApiModel):
    id: int
    username: str
    email: str
    full_name: str = Field(alias="fullName")
    role: str
    status: str
    created_at: datetime = Field(alias="createdAt")
    last_login: datetime | None = Field(alias="lastLogin")


class UserListResponse(ApiModel):
    users: list[UserListItem]


class UserCreateResponse(ApiModel):
    ok: bool = True
    username: str
    initial_password: str | None = Field(
        default=None,
        alias="initialPassword",
        description="Generated one-time password, returned only here and only when no password was sent.",
    )


class AuditItem(ApiModel):
    operation_id: uuid.UUID
    user_id: int | None
    username: str | None
    description: str
    operation_time: datetime
    action: str
    target: str
    outcome: str
    status_code: int | None
    source: str
    request_id: str
    client_address: str | None


class AuditListResponse(ApiModel):
    items: list[AuditItem]
    total: int
    page: int
    size: int


class AuditCreateResponse(ApiModel):
    ok: bool = True
    operation_id: uuid.UUID


def user_public(user: Any) -> UserPublic:
    """Build the public view of a ``User`` row."""
    return UserPublic(
        id=user.id,
        username=user.username,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        status=user.status,
        is_active=user.is_active,
    )
