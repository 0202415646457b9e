"""Pydantic validation errors as the API's field errors, with messages that name the fix.

Every service and the gateway turn each pydantic error into ``{"field", "code", "message"}``
with ``pydantic_field_error``, so the same mistake reads the same everywhere. A message names
what was expected wherever pydantic's error contains it: the data type, the ISO 8601 form of a
time, the allowed values, or the format of a pattern that a schema described with
``describe_format``.
"""

from typing import Any

from libs.common.errors import FieldError, field_error
from libs.common.i18n import MESSAGES, message

# Pydantic's error types mapped to message codes of ``libs.common.i18n``, so that every
# message reads in the request's language instead of pydantic's English text.
PYDANTIC_CODES = {
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "greater_than_equal": "value_too_small",
    "greater_than": "value_too_small",
    "less_than_equal": "value_too_large",
    "less_than": "value_too_large",
    "literal_error": "invalid_choice",
    "enum": "invalid_choice",
    "string_pattern_mismatch": "invalid_format",
    "extra_forbidden": "unknown_field",
    "json_invalid": "invalid_json",
    "uuid_parsing": "invalid_uuid",
    "uuid_type": "invalid_uuid",
}
# Pydantic's length errors of a list or other collection. Their ``field_type`` context
# distinguishes them from validators that raise our own ``too_long`` or ``too_short`` for text.
COLLECTION_LENGTH_CODES = {"too_long": "too_many_items", "too_short": "too_few_items"}
# Pydantic's error types of a value that is not a time, date or datetime in ISO 8601 form.
TIME_ERRORS = {
    "datetime_parsing",
    "datetime_type",
    "datetime_from_date_parsing",
    "datetime_object_invalid",
    "date_parsing",
    "date_type",
    "date_from_datetime_parsing",
    "date_from_datetime_inexact",
    "time_parsing",
    "time_type",
}
# Pydantic's error types of a value of the wrong JSON type, with the message code that names
# the expected type. None marks an error that does not name the type.
TYPE_ERRORS = {
    "int_parsing": "type_integer",
    "int_type": "type_integer",
    "int_from_float": "type_integer",
    "float_parsing": "type_number",
    "float_type": "type_number",
    "string_type": "type_string",
    "bytes_type": "type_string",
    "bool_type": "type_boolean",
    "bool_parsing": "type_boolean",
    "list_type": "type_array",
    "dict_type": "type_object",
    "model_type": "type_object",
    "model_attributes_type": "type_object",
    "url_parsing": "type_url",
    "url_type": "type_url",
    "none_required": "type_null",
    "is_instance_of": None,
}

# Descriptions of the regular expressions that request fields must match, by pattern text.
_FORMATS: dict[str, dict[str, str]] = {}


def describe_format(pattern: str, *, zh: str, en: str) -> str:
    """Record how error messages describe ``pattern`` and return the pattern unchanged.

    A schema declares ``NODE_NAME = describe_format(r"^...$", zh=..., en=...)`` and uses the
    constant in ``Field(pattern=...)``. A value that does not match then gets "Invalid format:
    expected <description>" instead of the regular expression.
    """
    _FORMATS[pattern] = {"zh": zh, "en": en}
    return pattern


def pydantic_field_error(item: Any, field: str, lang: str) -> FieldError:
    """Turn one pydantic error into a ``FieldError`` whose message is in ``lang``.

    A validator that raises ``PydanticCustomError`` with a message code of ``libs.common.i18n``
    (such as ``weak_password``) keeps that code, and pydantic's own error types map to codes of
    ours. Anything else becomes ``invalid_value``, with pydantic's text appended in English only.
    """
    kind = item["type"]
    values = dict(item.get("ctx") or {})
    if kind == "missing":
        return field_error(field, "field_required", lang)
    if kind in TIME_ERRORS:
        return field_error(field, "invalid_time", lang)
    if kind in TYPE_ERRORS:
        return _type_error(field, TYPE_ERRORS[kind], lang)
    if kind == "string_pattern_mismatch":
        return _format_error(field, str(values.get("pattern", "")), lang)
    if kind in COLLECTION_LENGTH_CODES and "field_type" in values:
        return field_error(field, COLLECTION_LENGTH_CODES[kind], lang, **_message_values(values, lang))
    if kind in PYDANTIC_CODES or kind in MESSAGES:
        code = kind if kind in MESSAGES else PYDANTIC_CODES[kind]
        return field_error(field, code, lang, **_message_values(values, lang))

    failure = field_error(field, "invalid_value", lang)
    if lang == "en":
        failure.message = f"{failure.message}: {item['msg']}"
    return failure


def _message_values(values: dict[str, Any], lang: str) -> dict[str, Any]:
    """Add the names the message templates use (``limit``, ``max``, ``bound``, ``choices``) to pydantic's context."""
    for source in ("max_length", "min_length"):
        if source in values:
            values.setdefault("limit", values[source])
            values.setdefault("max", values[source])
    for source in ("ge", "gt", "le", "lt"):
        if source in values:
            values.setdefault("bound", values[source])
    if "expected" in values:
        # Pydantic writes the allowed values as "'a', 'b' or 'c'".
        values["choices"] = str(values["expected"]).replace(" or ", ", ").split(", ")
    if isinstance(values.get("choices"), list | tuple):
        values["choices"] = ("、" if lang == "zh" else ", ").join(str(choice) for choice in values["choices"])
    return values


def _type_error(field: str, type_code: str | None, lang: str) -> FieldError:
    failure = field_error(field, "invalid_type", lang)
    if type_code is not None:
        expected = message(type_code, lang)  # type: ignore[arg-type]
        failure.message = message("invalid_type_expected", lang, expected=expected)  # type: ignore[arg-type]
    return failure


def _format_error(field: str, pattern: str, lang: str) -> FieldError:
    described = _FORMATS.get(pattern)
    if described is not None:
        text = message("invalid_format_expected", lang, format=described[lang])  # type: ignore[arg-type]
    elif pattern:
        text = message("invalid_format_pattern", lang, pattern=pattern)  # type: ignore[arg-type]
    else:
        text = message("invalid_format", lang)  # type: ignore[arg-type]
    return FieldError(field=field, code="invalid_format", message=text)
