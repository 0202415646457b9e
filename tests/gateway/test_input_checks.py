"""Input checks through the real gateway and auth service: messages that name the fix, and size limits.

Field errors must name what was expected (a time in ISO 8601, an integer, a format, the allowed
values), in Chinese by default and in English with ``Accept-Language: en``. Requests over the
URL or header limit, and requests that are not HTTP, get the API's JSON error body instead of
uvicorn's plain-text 400.
"""

import json
import socket
from urllib.parse import urlsplit

import pytest

from tests.gateway.helpers import STRONG_PASSWORD, unique_name


def post_diagnose(api, body: dict, lang: str):
    headers = {**api.admin().headers, "Accept-Language": lang}
    return api.request("POST", "/ai/diagnose-repair", json=body, headers=headers)


def only_error(response) -> dict:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]["errors"]
    return error


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("zh", "时间须为 ISO 8601 格式,如 2025-12-18T00:00:00+00:00"),
        ("en", "The time must be ISO 8601, such as 2025-12-18T00:00:00+00:00"),
    ],
)
def test_time_field_names_iso_format(api, lang, message):
    error = only_error(post_diagnose(api, {"timeFrom": "yesterday"}, lang))
    assert error["field"] == "timeFrom"
    assert error["code"] == "invalid_time"
    assert error["message"] == message


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("zh", "格式不正确,应为集群 UUID 或名称:1-100 个字母、数字或 _ . -,以字母或数字开头"),
        (
            "en",
            "Invalid format: expected a cluster uuid or name of 1-100 letters, digits, _ . or -, "
            "starting with a letter or digit",
        ),
    ],
)
def test_pattern_field_names_format(api, lang, message):
    error = only_error(post_diagnose(api, {"cluster": "!!"}, lang))
    assert error["field"] == "cluster"
    assert error["code"] == "invalid_format"
    assert error["message"] == message


@pytest.mark.parametrize(
    ("lang", "message"), [("zh", "数据类型不正确,应为整数"), ("en", "Wrong data type: expected an integer")]
)
def test_wrong_type_names_expected_type(api, lang, message):
    error = only_error(post_diagnose(api, {"maxSteps": "many"}, lang))
    assert error["field"] == "maxSteps"
    assert error["code"] == "invalid_type"
    assert error["message"] == message


@pytest.fixture(scope="module")
def operator_name(api) -> str:
    username = unique_name("op")
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "role": "operator",
        "password": STRONG_PASSWORD,
        "fullName": "Test operator",
    }
    response = api.request("POST", "/users", json=body, headers=api.admin().headers)
    assert response.status_code == 200, response.text
    return username


@pytest.mark.parametrize(
    ("lang", "message"),
    [("zh", "状态只能是 enabled、disabled"), ("en", "Status must be one of: enabled, disabled")],
)
def test_user_status_lists_allowed_values(api, operator_name, lang, message):
    headers = {**api.admin().headers, "Accept-Language": lang}
    response = api.request("PATCH", f"/users/{operator_name}", json={"status": "pending"}, headers=headers)
    error = only_error(response)
    assert error["field"] == "status"
    assert error["code"] == "invalid_status"
    assert error["message"] == message


def test_unknown_field_is_ignored(api, operator_name):
    response = api.request("PATCH", f"/users/{operator_name}", json={"is_admin": True}, headers=api.admin().headers)
    users = api.request("GET", "/users", headers=api.admin().headers).json()["users"]
    [user] = [item for item in users if item["username"] == operator_name]
    assert response.status_code == 200, response.text
    assert user["role"] == "operator"


# --- Request size limits -------------------------------------------------------------------


def send_raw(base_url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` on a new connection and return the status, headers and body of the reply.

    The gateway closes the connection after a rejection without reading the rest of the
    request, so the kernel may reset the connection after the reply. The reply read by then is kept.
    """
    address = urlsplit(base_url)
    reply = b""
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        try:
            connection.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            pass
        try:
            while chunk := connection.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_long_query_gets_json_414(stack):
    request = b"GET /api/v1/health?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: gateway\r\n\r\n"
    status, headers, body = send_raw(stack.base_url, request)
    assert status == 414
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "detail": "uri_too_long",
        "message": "请求的 URL 超过 8192 字节上限,请缩短路径或查询参数",
    }


def test_query_just_over_limit_gets_414(api):
    response = api.request("GET", "/health", params={"q": "a" * 8200})
    assert response.status_code == 414
    assert response.json()["detail"] == "uri_too_long"


def test_query_under_limit_is_served(api):
    response = api.request("GET", "/health", params={"q": "a" * 8000})
    assert response.status_code == 200


def test_large_headers_get_json_431(api):
    response = api.request("GET", "/health", headers={"Accept-Language": "en", "X-Filler": "b" * 40_000})
    assert response.status_code == 431
    assert response.json() == {
        "detail": "headers_too_large",
        "message": "The request headers together exceed the limit of 32768 bytes",
    }


def test_unparsable_request_gets_json_400(stack):
    status, headers, body = send_raw(stack.base_url, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"detail": "bad_request", "message": "无法解析此 HTTP 请求"}


def test_gateway_serves_after_rejections(api, stack):
    send_raw(stack.base_url, b"GET /api/v1/health?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: gateway\r\n\r\n")
    assert api.request("GET", "/health").status_code == 200
