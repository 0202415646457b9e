"""The error model shared by every service.

A handler raises a ``ServiceError``; the bus layer sends its status and body in the reply,
and the gateway returns that body as the HTTP response, in the API contract's shapes:
``{"detail": "not_found"}`` or ``{"detail": {"errors": [{"field", "code", "message"}]}}``.
"""

from typing import Any

from pydantic import BaseModel


class FieldError(BaseModel):
    """One invalid field of a request."""

    field: str
    code: str
    message: str


class ServiceError(Exception):
    """Base of the errors a service returns to its caller."""

    status_code = 400
    code = "bad_request"

    def __init__(self, code: str | None = None, *, status_code: int | None = None) -> None:
        super().__init__(code or self.code)
        self.code = code or self.code
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict[str, Any]:
        return {"detail": self.code}


class Unauthorized(ServiceError):
    status_code = 401
    code = "invalid_token"


class Forbidden(ServiceError):
    status_code = 403
    code = "not_allowed"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class UnknownReference(NotFound):
    """404 ``not_found`` for a value that names nothing the caller may see, such as a ``cluster`` filter.

    The body names the field and carries the localised text of ``message_code`` (for example
    ``cluster_not_found``), in the shape the collector's operation errors use.
    """

    def __init__(self, field: str, message_code: str, lang: str) -> None:
        super().__init__()
        self.field = field
        self.message_code = message_code
        self.lang = lang

    def body(self) -> dict[str, Any]:
        from libs.common.i18n import message

        return {"detail": self.code, "message": message(self.message_code, self.lang), "field": self.field}  # type: ignore[arg-type]


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class Unavailable(ServiceError):
    status_code = 503
    code = "service_unavailable"


class ValidationFailed(ServiceError):
    """One or more fields are invalid; the body lists each with a code and a message."""

    status_code = 422
    code = "validation_failed"

    def __init__(self, errors: list[FieldError], *, status_code: int | None = None) -> None:
        super().__init__(self.code, status_code=status_code)
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {"detail": {"errors": [error.model_dump() for error in self.errors]}}


def field_error(field: str, code: str, lang: str = "zh", **values: object) -> FieldError:
    """Build a ``FieldError`` whose message is the localised text of ``code``."""
    from libs.common.i18n import message

    return FieldError(field=field, code=code, message=message(code, lang, **values))  # type: ignore[arg-type]
