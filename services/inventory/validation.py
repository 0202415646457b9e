"""Checks of the values a client sends, and the conversion of failures to contract errors.

Each ``check_*`` function returns the normalised value or raises ``PydanticCustomError`` whose
type is a message code of ``libs.common.i18n``. Pydantic collects every failure of a body with
its location, and ``to_field_errors`` turns them into ``{"field", "code", "message"}`` items
whose field reads like ``nodes[0].ip_address``.
"""

import ipaddress
import re
import uuid
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from libs.common.errors import FieldError, ValidationFailed, field_error
from libs.common.field_errors import pydantic_field_error

HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
POSIX_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
ROLE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
KNOWN_HOST_KEY = re.compile(
    r"^(?:\S+ +)?(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|sk-\S+) +[A-Za-z0-9+/]+={0,3}(?: +\S.*)?$"
)
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
MAX_HOSTNAME_LENGTH = 253
MAX_PRIVATE_KEY_LENGTH = 16384
MAX_KNOWN_HOST_KEY_LENGTH = 8192

def check_uuid(value: str) -> str:
    """Return the canonical form of a UUID string."""
    if len(value) > 45:
        _fail("invalid_uuid")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return _fail("invalid_uuid")
    return str(parsed)


def check_hostname(value: str) -> str:
    """Return a host name of RFC 1123 (dot-separated labels of letters, digits and inner hyphens) in lower case.

    Host names are case-insensitive, so lower case makes ``Node1`` and ``node1`` the same node.
    """
    labels = value.split(".")
    if len(value) > MAX_HOSTNAME_LENGTH or not all(HOSTNAME_LABEL.match(label) for label in labels):
        _fail("invalid_hostname")
    return value.lower()


def check_ip_address(value: str) -> str:
    """Return the normalised text of an IPv4 or IPv6 address that can identify one host."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return _fail("invalid_ip_address")

    # An unspecified, multicast, reserved or link-local address cannot be a node of a cluster.
    # Rejecting link-local addresses also keeps the collector away from cloud metadata
    # addresses such as 169.254.169.254.
    if address.is_unspecified or address.is_multicast or address.is_reserved or address.is_link_local:
        _fail("unusable_ip_address")
    return str(address)


def check_ssh_user(value: str) -> str:
    if not POSIX_USERNAME.match(value):
        _fail("invalid_ssh_user")
    return value


def check_role(value: str) -> str:
    if not ROLE_NAME.match(value):
        _fail("invalid_node_role")
    return value


def check_private_key(value: str) -> str:
    """Accept PEM or OpenSSH private key text; the collector parses it."""
    text = value.strip()
    if len(text) > MAX_PRIVATE_KEY_LENGTH or "\x00" in text:
        _fail("invalid_private_key")
    if not text.startswith("-----BEGIN ") or "PRIVATE KEY-----" not in text:
        _fail("invalid_private_key")
    return text + "\n"


def check_password(value: str) -> str:
    if not value or "\x00" in value:
        _fail("invalid_ssh_password")
    return value


def check_known_host_key(value: str) -> str:
    """Accept one known_hosts line or one public key line."""
    text = value.strip()
    if len(text) > MAX_KNOWN_HOST_KEY_LENGTH or CONTROL_CHARACTERS.search(text) or "\n" in text:
        _fail("invalid_known_host_key")
    if not KNOWN_HOST_KEY.match(text):
        _fail("invalid_known_host_key")
    return text


def check_plain_text(value: str) -> str:
    """Reject control characters other than tab and newline."""
    if CONTROL_CHARACTERS.search(value):
        _fail("invalid_characters")
    return value


def check_single_line(value: str) -> str:
    """Return the stripped text; reject empty text, line breaks, tabs and control characters."""
    text = value.strip()
    if not text or CONTROL_CHARACTERS.search(text) or "\n" in text or "\t" in text:
        _fail("invalid_single_line")
    return text


def _fail(code: str) -> Any:
    raise PydanticCustomError(code, code)


def field_path(location: tuple[int | str, ...]) -> str:
    """Format a pydantic error location as ``nodes[0].ip_address``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "body"


def to_field_errors(error: ValidationError, lang: str, prefix: tuple[int | str, ...] = ()) -> list[FieldError]:
    """Turn each pydantic failure into a localised ``FieldError``."""
    return [pydantic_field_error(item, field_path(prefix + tuple(item["loc"])), lang) for item in error.errors()]


def parse(model: type[BaseModel], data: Any, lang: str) -> Any:
    """Validate ``data`` with ``model``; raise ``ValidationFailed`` listing every bad field."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise ValidationFailed(to_field_errors(error, lang)) from None


def parse_uuid(value: Any, field: str, lang: str) -> uuid.UUID:
    """Parse a path or query UUID; raise ``ValidationFailed`` on ``field`` when it is malformed."""
    if not isinstance(value, str) or not value:
        raise ValidationFailed([field_error(field, "field_required" if not value else "invalid_uuid", lang)])
    try:
        return uuid.UUID(check_uuid(value))
    except PydanticCustomError:
        raise ValidationFailed([field_error(field, "invalid_uuid", lang)]) from None


def parse_hostname(value: Any, field: str, lang: str) -> str:
    """Parse a node name from a path or query; raise ``ValidationFailed`` when it is malformed."""
    if not isinstance(value, str) or not value:
        raise ValidationFailed([field_error(field, "field_required", lang)])
    try:
        return check_hostname(value)
    except PydanticCustomError:
        raise ValidationFailed([field_error(field, "invalid_hostname", lang)]) from None
