"""Errors of the operations endpoints: an ops error with a field and message, and field validation errors."""

from typing import Any

from pydantic import ValidationError

from libs.common.errors import ServiceError, ValidationFailed, field_error
from libs.common.field_errors import pydantic_field_error
from libs.common.i18n import message


class OpsError(ServiceError):
    """An error with a string ``detail`` (as the contract's 403 and 404), the field, and a message."""

    def __init__(self, detail: str, *, status_code: int, message_code: str, field: str | None, lang: str, **values):
        super().__init__(detail, status_code=status_code)
        self.field = field
        self.message = message(message_code, lang, **values)  # type: ignore[arg-type]

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


def invalid_field(field: str, code: str, lang: str, status_code: int = 422, **values: object) -> ValidationFailed:
    return ValidationFailed([field_error(field, code, lang, **values)], status_code=status_code)


def validation_errors(error: ValidationError, lang: str, *, prefix: str = "", field: str | None = None) -> list:
    """Turn pydantic errors into field errors named ``field``, or ``prefix`` and each error's location."""
    failures = []
    for item in error.errors():
        name = field or prefix + ".".join(str(part) for part in item["loc"])
        failures.append(pydantic_field_error(item, name or "body", lang))
    return failures
