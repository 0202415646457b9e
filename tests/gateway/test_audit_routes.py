"""The audit trail: records of state changes, who may read, write and delete them."""

import time
import uuid

import pytest

from tests.gateway.helpers import wait_for


def records(api, headers, **params) -> list[dict]:
    response = api.request("GET", "/sys-exec-logs", params={"size": 100, **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def wait_for_record(api, predicate, headers=None) -> dict:
    """Poll the newest records (as the admin unless ``headers``) until one matches."""
    headers = headers or api.admin().headers
    return wait_for(lambda: next((item for item in records(api, headers) if predicate(item)), None))


def test_state_change_is_recorded(api):
    account = api.create_account("observer")
    response = api.request(
        "PATCH", f"/users/{account.username}", json={"role": "operator"}, headers=api.admin().headers
    )
    operation_id = response.headers["x-operation-id"]

    record = wait_for_record(api, lambda item: item["operation_id"] == operation_id)

    assert record["action"] == "PATCH /api/v1/users/{username}"
    assert record["target"] == f"/api/v1/users/{account.username}"
    assert record["outcome"] == "success"
    assert record["status_code"] == 200
    assert record["username"] == "root"
    assert record["user_id"] == api.admin().user_id
    assert record["description"]
    assert record["operation_time"]
    assert record["request_id"] == response.headers["x-request-id"]


def test_failed_state_change_is_recorded(api):
    account = api.create_account("observer")
    response = api.request("POST", "/users", json={}, headers=account.headers)
    operation_id = response.headers["x-operation-id"]

    record = wait_for_record(api, lambda item: item["operation_id"] == operation_id)

    assert record["outcome"] == "failure"
    assert record["status_code"] == 403
    assert record["username"] == account.username


def test_login_attempt_is_recorded_without_password(api):
    account = api.create_account("observer")
    secret = "Audit7NeverStored"
    response = api.login(account.username, secret)
    operation_id = response.headers["x-operation-id"]

    record = wait_for_record(api, lambda item: item["operation_id"] == operation_id)

    assert record["action"] == "POST /api/v1/user/login"
    assert record["username"] == account.username
    assert record["status_code"] == 401
    assert secret not in str(record)


def test_successful_login_is_recorded_with_user_id(api):
    account = api.create_account("observer")
    response = api.login(account.username, account.password)
    operation_id = response.headers["x-operation-id"]

    record = wait_for_record(api, lambda item: item["operation_id"] == operation_id)

    assert record["user_id"] == account.user_id
    assert record["outcome"] == "success"


def test_read_request_is_not_recorded(api):
    response = api.request("GET", "/users", headers=api.admin().headers)

    assert "x-operation-id" not in response.headers


def _total_settled(api, headers: dict) -> bool:
    before = api.request("GET", "/sys-exec-logs", params={"size": 1}, headers=headers).json()["total"]
    time.sleep(1.0)
    return api.request("GET", "/sys-exec-logs", params={"size": 1}, headers=headers).json()["total"] == before


def test_list_shape_and_pagination(api):
    admin = api.admin().headers
    for _ in range(3):
        api.request(
            "POST", "/sys-exec-logs", json={"user_id": api.admin().user_id, "description": "page test"}, headers=admin
        )
    wait_for(lambda: api.request("GET", "/sys-exec-logs", params={"size": 1}, headers=admin).json()["total"] >= 3)
    # The POSTs' own audit events arrive asynchronously; page only once the total stops moving,
    # or a record stored between the two reads shifts the pages.
    wait_for(lambda: _total_settled(api, admin))

    first = api.request("GET", "/sys-exec-logs", params={"page": 1, "size": 2}, headers=admin).json()
    second = api.request("GET", "/sys-exec-logs", params={"page": 2, "size": 2}, headers=admin).json()

    assert len(first["items"]) == 2
    assert first["page"] == 1
    assert first["size"] == 2
    assert first["total"] >= 3
    assert {item["operation_id"] for item in first["items"]}.isdisjoint(
        item["operation_id"] for item in second["items"]
    )


@pytest.mark.parametrize(("param", "value"), [("size", 0), ("size", 101), ("page", 0), ("page", "x")])
def test_list_rejects_bad_pagination(api, param, value):
    response = api.request("GET", "/sys-exec-logs", params={param: value}, headers=api.admin().headers)

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == param


def test_non_admin_reads_only_own_records(api):
    account = api.create_account("operator")
    api.request(
        "POST", "/sys-exec-logs", json={"user_id": account.user_id, "description": "own note"}, headers=account.headers
    )

    own = wait_for(lambda: records(api, account.headers))

    assert {item["user_id"] for item in own} == {account.user_id}


def test_admin_reads_every_users_records(api):
    account = api.create_account("operator")
    api.request(
        "POST",
        "/sys-exec-logs",
        json={"user_id": account.user_id, "description": "visible to admin"},
        headers=account.headers,
    )

    record = wait_for_record(api, lambda item: item["description"] == "visible to admin")

    assert record["user_id"] == account.user_id


def test_create_note_returns_operation_id(api):
    response = api.request(
        "POST",
        "/sys-exec-logs",
        json={"user_id": api.admin().user_id, "description": "maintenance window"},
        headers=api.admin().headers,
    )
    operation_id = response.json()["operation_id"]

    record = wait_for_record(api, lambda item: item["operation_id"] == operation_id)

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert record["description"] == "maintenance window"
    assert record["action"] == "note"


def test_admin_writes_note_for_other_user(api):
    account = api.create_account("observer")

    response = api.request(
        "POST",
        "/sys-exec-logs",
        json={"user_id": account.user_id, "description": "for you"},
        headers=api.admin().headers,
    )

    assert response.status_code == 200


def test_operator_cannot_write_note_for_other_user(api):
    account = api.create_account("operator")

    response = api.request(
        "POST", "/sys-exec-logs", json={"user_id": api.admin().user_id, "description": "x"}, headers=account.headers
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "not_allowed"


def test_observer_cannot_write_note(api):
    account = api.create_account("observer")

    response = api.request(
        "POST", "/sys-exec-logs", json={"user_id": account.user_id, "description": "x"}, headers=account.headers
    )

    assert response.status_code == 403
    assert response.json()["detail"] == "not_allowed"


def test_note_for_unknown_user_is_field_error(api):
    response = api.request(
        "POST", "/sys-exec-logs", json={"user_id": 999999, "description": "x"}, headers=api.admin().headers
    )

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "user_id"


def test_note_wrong_types_are_field_errors(api):
    response = api.request(
        "POST", "/sys-exec-logs", json={"user_id": "abc", "description": ""}, headers=api.admin().headers
    )
    fields = {error["field"] for error in response.json()["detail"]["errors"]}

    assert response.status_code == 422
    assert fields == {"user_id", "description"}


def test_delete_record_hides_it_and_is_recorded(api):
    admin = api.admin().headers
    note = api.request(
        "POST", "/sys-exec-logs", json={"user_id": api.admin().user_id, "description": "to delete"}, headers=admin
    ).json()["operation_id"]

    response = api.request("DELETE", f"/sys-exec-logs/{note}", headers=admin)
    deletion = wait_for_record(api, lambda item: item["operation_id"] == response.headers["x-operation-id"])

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert note not in {item["operation_id"] for item in records(api, admin)}
    assert deletion["action"] == "DELETE /api/v1/sys-exec-logs/{operation_id}"
    assert deletion["target"] == f"/api/v1/sys-exec-logs/{note}"
    assert deletion["outcome"] == "success"


def test_delete_record_twice_is_not_found(api):
    admin = api.admin().headers
    note = api.request(
        "POST", "/sys-exec-logs", json={"user_id": api.admin().user_id, "description": "twice"}, headers=admin
    ).json()["operation_id"]
    api.request("DELETE", f"/sys-exec-logs/{note}", headers=admin)

    response = api.request("DELETE", f"/sys-exec-logs/{note}", headers=admin)

    assert response.status_code == 404


def test_delete_unknown_record_is_not_found(api):
    response = api.request("DELETE", f"/sys-exec-logs/{uuid.uuid4()}", headers=api.admin().headers)

    assert response.status_code == 404
    assert response.json()["detail"] == "not_found"


def test_delete_invalid_id_is_field_error(api):
    response = api.request("DELETE", "/sys-exec-logs/not-a-uuid", headers=api.admin().headers)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0]["field"] == "operation_id"
    assert errors[0]["code"] == "invalid_uuid"


@pytest.mark.parametrize("role", ["operator", "observer"])
def test_delete_record_forbidden_to_non_admins(api, role):
    account = api.create_account(role)

    response = api.request("DELETE", f"/sys-exec-logs/{uuid.uuid4()}", headers=account.headers)

    assert response.status_code == 403
    assert response.json()["detail"] == "not_admin"


def test_audit_routes_need_token(api):
    for method in ("GET", "POST"):
        response = api.request(method, "/sys-exec-logs", json={"user_id": 1, "description": "x"})
        assert response.status_code == 401, method
        assert response.json()["detail"] == "not_authenticated", method


def test_nul_character_in_login_does_not_stall_trail(api):
    hostile = api.login("evil\u0000name", "Anything1")
    later = api.request(
        "POST",
        "/sys-exec-logs",
        json={"user_id": api.admin().user_id, "description": "after nul"},
        headers=api.admin().headers,
    )

    record = wait_for_record(api, lambda item: item["operation_id"] == hostile.headers["x-operation-id"])

    assert hostile.status_code == 401
    assert later.status_code == 200
    assert "\u0000" not in record["username"]


def test_note_with_nul_character_is_field_error(api):
    response = api.request(
        "POST",
        "/sys-exec-logs",
        json={"user_id": api.admin().user_id, "description": "a\u0000b"},
        headers=api.admin().headers,
    )

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "description"
