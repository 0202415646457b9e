"""Gateway behaviour around the routes: health, request ids, languages, hostile input, metrics, OpenAPI."""

import asyncio
import json

import httpx
import pytest

from tests.conftest import start_stack
from tests.gateway.helpers import ADMIN_USERNAME, bearer, unique_name
from tests.infra import create_test_streams


def test_health_needs_no_token_and_lists_services(api):
    response = api.request("GET", "/health")
    body = response.json()

    assert response.status_code == 200
    assert body["database"] == "connected"
    assert body["services"]["auth"]["status"] == "ok"
    assert body["services"]["auth"]["database"] == "connected"
    assert body["services"]["auth"]["latency_ms"] >= 0


def test_health_is_degraded_while_services_are_down(api):
    body = api.request("GET", "/health").json()

    assert body["status"] == "degraded"
    assert body["services"]["inventory"]["status"] == "down"
    assert body["services"]["ai"]["status"] == "down"


def test_health_answers_with_every_service_down(infra):
    # A prefix of its own, where no service runs; its streams are deleted with the session's.
    prefix = f"{infra.prefix}_lonely"
    asyncio.run(create_test_streams(infra.nats_url, prefix))
    lonely = start_stack(infra, "gateway", HFD_NATS_PREFIX=prefix)
    try:
        response = httpx.get(f"{lonely.base_url}/api/v1/health", timeout=10)
    finally:
        lonely.stop()
    body = response.json()

    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["database"].startswith("disconnected")
    assert {item["status"] for item in body["services"].values()} == {"down"}


def test_request_id_is_generated(api):
    response = api.request("GET", "/health")

    assert len(response.headers["x-request-id"]) == 32


def test_request_id_from_client_is_kept(api):
    response = api.request("GET", "/health", headers={"X-Request-Id": "client-req.42"})

    assert response.headers["x-request-id"] == "client-req.42"


@pytest.mark.parametrize("value", ["a" * 65, "bad id", "<script>", "id;drop"])
def test_request_id_unsafe_is_replaced(api, value):
    response = api.request("GET", "/health", headers={"X-Request-Id": value})

    assert response.headers["x-request-id"] != value
    assert len(response.headers["x-request-id"]) == 32


def test_request_id_on_error_responses(api):
    response = api.request("GET", "/users", headers={"X-Request-Id": "err-1"})

    assert response.status_code == 401
    assert response.headers["x-request-id"] == "err-1"


def test_unknown_route_has_contract_shape(api):
    response = api.request("GET", "/no/such/route", headers={"Accept-Language": "en"})

    assert response.status_code == 404
    assert response.json() == {"detail": "not_found", "message": "Not found"}


def test_wrong_method_has_contract_shape(api):
    response = api.request("PUT", "/health")

    assert response.status_code == 405
    assert response.json()["detail"] == "method_not_allowed"


def test_malformed_json_is_field_error(api):
    response = api.request(
        "POST", "/user/login", content=b'{"username": "a",', headers={"Content-Type": "application/json"}
    )
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0] == {"field": "body", "code": "invalid_json", "message": "请求体不是合法的 JSON"}


def test_deeply_nested_body_has_message(api):
    # The JSON parser raises RecursionError here, which FastAPI turns into a bare 400.
    body = b"[" * 100_000 + b"]" * 100_000
    headers = {"Content-Type": "application/json", "Accept-Language": "en"}

    response = api.request("POST", "/user/login", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json()["detail"] == "bad_request"
    assert response.json()["message"].startswith("The request could not be parsed")


def test_json_array_body_is_field_error(api):
    response = api.request("POST", "/user/login", json=[1, 2])

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["code"] == "invalid_type"


def test_wrong_types_name_each_field(api):
    response = api.request("POST", "/user/login", json={"username": ["x"], "password": {"a": 1}})
    fields = {error["field"] for error in response.json()["detail"]["errors"]}

    assert response.status_code == 422
    assert fields == {"username", "password"}


def test_unpaired_surrogate_is_field_error(api):
    # The JSON escape \ud800 decodes to a string that UTF-8 cannot encode. fullName has no length
    # limit in the model, so the gateway failed with a 500 when it sent the request to auth.
    body = {"username": unique_name("sur"), "email": "s@example.com", "role": "observer", "fullName": "Ann \ud800"}
    headers = {**api.admin().headers, "Content-Type": "application/json", "Accept-Language": "en"}

    response = api.request("POST", "/users", content=json.dumps(body), headers=headers)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert [(error["field"], error["code"]) for error in errors] == [("fullName", "invalid_unicode")]
    assert errors[0]["message"].startswith("The text contains an unpaired UTF-16 surrogate")


def test_body_over_limit_is_rejected(api):
    response = api.request(
        "POST", "/user/login", content=b"x" * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json()["detail"] == "payload_too_large"


def test_chunked_body_over_limit_is_rejected(api):
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = api.request("POST", "/user/login", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json()["detail"] == "payload_too_large"


@pytest.mark.parametrize(
    "username",
    ["' OR '1'='1", "root'--", 'root"; DROP TABLE auth.users; --', "%", "_", "\\", "用户名", "😀" * 10, "\u0000"],
)
def test_login_hostile_username_is_rejected_cleanly(api, username):
    response = api.login(username, "Anything1")

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_credentials"


def test_login_overlong_username_is_field_error(api):
    response = api.login("a" * 300, "Anything1")

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "username"


def test_admin_survives_hostile_logins(api):
    assert api.request("GET", "/users", headers=api.admin().headers).status_code == 200


@pytest.mark.parametrize("username", ["' OR 1=1 --", "..", "a/b", "%2e%2e", "用户", "%00", "a%00b"])
def test_user_path_hostile_values_are_not_found(api, username):
    response = api.request("DELETE", f"/users/{username}", headers=api.admin().headers)

    assert response.status_code in (404, 405)
    assert isinstance(response.json()["detail"], str)


def test_english_messages_with_accept_language(api):
    response = api.login(unique_name("ghost"), "Anything1", headers={"Accept-Language": "en"})

    assert response.json()["message"] == "Invalid username or password"


def test_chinese_messages_for_other_languages(api):
    response = api.login(unique_name("ghost"), "Anything1", headers={"Accept-Language": "fr-FR,en;q=0.5"})

    assert response.json()["message"] == "用户名或密码错误"


def test_metrics_report_requests_by_route_and_status(api, stack):
    api.request("GET", "/users", headers=api.admin().headers)

    text = httpx.get(f"{stack.base_url}/metrics", timeout=5).text

    assert 'hfd_gateway_requests_total{method="GET",route="/api/v1/users",status="200"}' in text
    assert 'hfd_gateway_request_seconds_bucket{le="0.01",method="GET",route="/api/v1/users",status="200"}' in text


def test_openapi_lists_auth_user_and_audit_routes(stack):
    paths = httpx.get(f"{stack.base_url}/openapi.json", timeout=5).json()["paths"]

    assert set(paths) >= {
        "/api/v1/health",
        "/api/v1/user/login",
        "/api/v1/user/register",
        "/api/v1/user/me",
        "/api/v1/user/password",
        "/api/v1/refresh",
        "/api/v1/logout",
        "/api/v1/users",
        "/api/v1/users/{username}",
        "/api/v1/sys-exec-logs",
        "/api/v1/sys-exec-logs/{operation_id}",
    }


def test_docs_page_is_served(stack):
    response = httpx.get(f"{stack.base_url}/docs", timeout=5)

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_role_comes_from_user_state_not_token(api, infra):
    from tests.gateway.helpers import sign, token_claims

    account = api.create_account("observer")
    claims = token_claims(account.token)
    claims["role"] = "admin"
    claims["roles"] = ["admin"]

    response = api.request("GET", "/users", headers=bearer(sign(claims, infra.jwt_secret)))

    assert response.status_code == 403


def test_me_after_hostile_input_still_works(api):
    response = api.request("GET", "/user/me", headers=api.admin().headers)

    assert response.json()["username"] == ADMIN_USERNAME
