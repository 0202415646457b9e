"""Exception handlers that give every error response the API contract's shape.

A string ``detail`` gets a localised ``message`` beside it (``{"detail": "not_found",
"message": "..."}``); invalid fields are ``{"detail": {"errors": [{"field", "code",
"message"}]}}``. FastAPI's own 404, 405 and 422 responses are rewritten to these shapes. The
edge middleware turns an unexpected exception into a 500 that names only the request id.
"""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from libs.common.errors import FieldError, ServiceError
from libs.common.field_errors import pydantic_field_error
from libs.common.i18n import message, negotiate_language

# pydantic error types that have a more precise message code than "invalid_value".
VALIDATION_CODES = {"json_invalid": "invalid_json", "uuid_parsing": "invalid_uuid", "uuid_type": "invalid_uuid"}
HTTP_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "not_allowed",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
REQUEST_LOCATIONS = ("body", "query", "path", "header", "cookie")


class GatewayError(ServiceError):
    """A ``ServiceError`` with values for its message template and extra response headers."""

    def __init__(
        self,
        code: str,
        *,
        status_code: int,
        values: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(code, status_code=status_code)
        self.values = values or {}
        self.headers = headers or {}


def service_unavailable(service: str) -> GatewayError:
    """Return the 503 error for a service that did not reply in time."""
    return GatewayError("service_unavailable", status_code=503, values={"service": service})


def language(request: Request) -> str:
    return negotiate_language(request.headers.get("accept-language"))


def with_message(body: Any, lang: str, **values: Any) -> Any:
    """Add the localised ``message`` of a string ``detail`` when the body has none."""
    if isinstance(body, dict) and isinstance(body.get("detail"), str) and "message" not in body:
        template = message(body["detail"], lang)  # type: ignore[arg-type]
        try:
            text = template.format_map(_DashForMissing(values))
        except (ValueError, IndexError):  # braces in a template that are not placeholders
            text = template
        return {**body, "message": text}
    return body


class _DashForMissing(dict):
    """Template values where a value the caller did not supply shows as ``-``."""

    def __missing__(self, key: str) -> str:
        return "-"


def error_response(
    status_code: int, body: Any, lang: str, headers: dict[str, str] | None = None, **values: Any
) -> JSONResponse:
    headers = dict(headers or {})
    if status_code == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(with_message(body, lang, **values), status_code=status_code, headers=headers)


def field_errors(errors: list[dict], lang: str) -> list[FieldError]:
    """Turn FastAPI's validation errors into field errors named as the client sent them."""
    failures = []
    for item in errors:
        location = [str(part) for part in item.get("loc", ())]
        if location and location[0] in REQUEST_LOCATIONS:
            location = location[1:] if len(location) > 1 else location
        if item.get("type") == "json_invalid":
            location = ["body"]
        field = ".".join(location) or "body"

        code = VALIDATION_CODES.get(item.get("type", ""))
        if code is not None:
            failures.append(FieldError(field=field, code=code, message=message(code, lang)))  # type: ignore[arg-type]
        else:
            failures.append(pydantic_field_error(item, field, lang))
    return failures


async def handle_service_error(request: Request, error: ServiceError) -> JSONResponse:
    values = getattr(error, "values", {})
    headers = getattr(error, "headers", {})
    return error_response(error.status_code, error.body(), language(request), headers, **values)


async def handle_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    failures = field_errors(list(error.errors()), language(request))
    body = {"detail": {"errors": [failure.model_dump() for failure in failures]}}
    return JSONResponse(body, status_code=422)


async def handle_http_exception(request: Request, error: StarletteHTTPException) -> JSONResponse:
    code = HTTP_STATUS_CODES.get(error.status_code, "bad_request" if error.status_code < 500 else "server_error")
    values = {"max_bytes": getattr(request.app.state, "max_body_bytes", "")}
    if code == "server_error":
        values["request_id"] = request.scope.get("state", {}).get("request_id", "")
    return error_response(error.status_code, {"detail": code}, language(request), error.headers, **values)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``; unexpected exceptions are handled in the edge middleware."""
    app.add_exception_handler(ServiceError, handle_service_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
