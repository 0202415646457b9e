"""Pydantic errors as field errors: each message names what was expected, in Chinese and English."""

from datetime import datetime
from typing import Annotated, Literal

import pytest
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import PydanticCustomError

from libs.common.field_errors import describe_format, pydantic_field_error

DESCRIBED = describe_format(
    r"^[a-z]{2}-\d$", zh="两个小写字母、- 和一位数字", en="two lower-case letters, - and a digit"
)


def _status(value: str) -> str:
    if value not in ("enabled", "disabled"):
        raise PydanticCustomError("invalid_status", "invalid status", {"choices": ("enabled", "disabled")})
    return value


class Sample(BaseModel):
    when: datetime | None = None
    count: int = 0
    flag: bool = False
    items: list[str] = Field(default_factory=list, max_length=2)
    described: str = Field(default="ab-1", pattern=DESCRIBED)
    raw: str = Field(default="x", pattern=r"^x+$")
    level: Literal["WARN", "ERROR"] = "WARN"
    status: Annotated[str, AfterValidator(_status)] = "enabled"


def field_error(data: dict, lang: str):
    with pytest.raises(ValidationError) as raised:
        Sample.model_validate(data)
    [item] = raised.value.errors()
    return pydantic_field_error(item, str(item["loc"][0]), lang)


@pytest.mark.parametrize(
    ("data", "lang", "code", "text"),
    [
        ({"when": "yesterday"}, "zh", "invalid_time", "时间须为 ISO 8601 格式,如 2025-12-18T00:00:00+00:00"),
        ({"when": "yesterday"}, "en", "invalid_time", "The time must be ISO 8601, such as 2025-12-18T00:00:00+00:00"),
        ({"count": "many"}, "zh", "invalid_type", "数据类型不正确,应为整数"),
        ({"count": "many"}, "en", "invalid_type", "Wrong data type: expected an integer"),
        ({"flag": "maybe"}, "en", "invalid_type", "Wrong data type: expected true or false"),
        ({"items": "a"}, "zh", "invalid_type", "数据类型不正确,应为数组"),
        ({"items": ["a", "b", "c"]}, "en", "too_many_items", "At most 2 items are allowed"),
        ({"described": "ABC"}, "zh", "invalid_format", "格式不正确,应为两个小写字母、- 和一位数字"),
        (
            {"described": "ABC"},
            "en",
            "invalid_format",
            "Invalid format: expected two lower-case letters, - and a digit",
        ),
        ({"raw": "y"}, "en", "invalid_format", "Invalid format: must match the regular expression ^x+$"),
        ({"level": "INFO"}, "zh", "invalid_choice", "取值须为以下之一:'WARN'、'ERROR'"),
        ({"level": "INFO"}, "en", "invalid_choice", "Must be one of: 'WARN', 'ERROR'"),
        ({"status": "pending"}, "zh", "invalid_status", "状态只能是 enabled、disabled"),
        ({"status": "pending"}, "en", "invalid_status", "Status must be one of: enabled, disabled"),
    ],
)
def test_field_error_message_names_expected(data, lang, code, text):
    failure = field_error(data, lang)
    assert failure.code == code
    assert failure.message == text
