"""User management: shapes, the admin-only rule, one-time passwords and last-admin protection."""

import pytest

from tests.gateway.helpers import ADMIN_USERNAME, STRONG_PASSWORD, bearer, unique_name


def new_user_body(role: str = "observer", **overrides) -> dict:
    username = unique_name("new")
    body = {"username": username, "email": f"{username}@example.com", "role": role, "status": "enabled"}
    body.update(overrides)
    return body


def test_list_users_returns_contract_fields(api):
    response = api.request("GET", "/users", headers=api.admin().headers)
    users = {user["username"]: user for user in response.json()["users"]}

    assert response.status_code == 200
    assert users[ADMIN_USERNAME]["role"] == "admin"
    assert users[ADMIN_USERNAME]["status"] == "enabled"
    assert users[ADMIN_USERNAME]["email"]
    assert "password_hash" not in users[ADMIN_USERNAME]
    assert "passwordHash" not in users[ADMIN_USERNAME]


def test_create_user_with_password_logs_in(api):
    body = new_user_body("operator", password=STRONG_PASSWORD, full_name="Ops Person")

    response = api.request("POST", "/users", json=body, headers=api.admin().headers)
    login = api.login(body["username"], STRONG_PASSWORD)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "username": body["username"]}
    assert login.status_code == 200
    assert login.json()["roles"] == ["operator"]
    assert login.json()["fullName"] == "Ops Person"
    assert login.json()["mustChangePassword"] is False


def test_create_user_without_password_returns_one_time_password(api):
    body = new_user_body()

    response = api.request("POST", "/users", json=body, headers=api.admin().headers)
    initial = response.json()["initialPassword"]
    login = api.login(body["username"], initial)

    assert response.status_code == 200
    assert len(initial) == 16
    assert login.status_code == 200
    assert login.json()["mustChangePassword"] is True


def test_one_time_password_must_be_changed_first(api):
    body = new_user_body("operator")
    initial = api.request("POST", "/users", json=body, headers=api.admin().headers).json()["initialPassword"]
    token = api.login(body["username"], initial).json()["token"]

    blocked = api.request("GET", "/sys-exec-logs", headers=bearer(token))
    me = api.request("GET", "/user/me", headers=bearer(token))
    changed = api.request(
        "PATCH",
        "/user/password",
        headers=bearer(token),
        json={"currentPassword": initial, "newPassword": STRONG_PASSWORD},
    )
    after = api.request("GET", "/sys-exec-logs", headers=bearer(changed.json()["token"]))

    assert blocked.status_code == 403
    assert blocked.json()["detail"] == "password_change_required"
    assert me.status_code == 200
    assert me.json()["mustChangePassword"] is True
    assert changed.status_code == 200
    assert after.status_code == 200


def test_create_user_weak_password_is_field_error(api):
    response = api.request("POST", "/users", json=new_user_body(password="weakpass"), headers=api.admin().headers)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0]["field"] == "password"
    assert errors[0]["code"] == "weak_password"


def test_create_user_invalid_role_is_field_error(api):
    response = api.request("POST", "/users", json=new_user_body(role="root"), headers=api.admin().headers)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0]["field"] == "role"
    assert errors[0]["code"] == "invalid_role"


def test_create_user_invalid_status_is_field_error(api):
    response = api.request("POST", "/users", json=new_user_body(status="active"), headers=api.admin().headers)

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["code"] == "invalid_status"


def test_create_user_duplicate_username_is_field_error(api):
    body = new_user_body()
    api.request("POST", "/users", json=body, headers=api.admin().headers)

    again = new_user_body(username=body["username"], email=f"other_{body['email']}")
    response = api.request("POST", "/users", json=again, headers=api.admin().headers)

    assert response.status_code == 409
    assert response.json()["detail"]["errors"] == [
        {"field": "username", "code": "username_taken", "message": "用户名已存在"}
    ]


def test_update_user_changes_role_and_status(api):
    account = api.create_account("observer")

    response = api.request(
        "PATCH",
        f"/users/{account.username}",
        json={"role": "operator", "status": "disabled"},
        headers=api.admin().headers,
    )
    users = {
        user["username"]: user for user in api.request("GET", "/users", headers=api.admin().headers).json()["users"]
    }

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert users[account.username]["role"] == "operator"
    assert users[account.username]["status"] == "disabled"


def test_update_user_rejects_pending_status(api):
    account = api.create_account("observer")

    response = api.request(
        "PATCH", f"/users/{account.username}", json={"status": "pending"}, headers=api.admin().headers
    )

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "status"


def test_update_unknown_user_is_not_found(api):
    response = api.request(
        "PATCH", f"/users/{unique_name('nobody')}", json={"role": "operator"}, headers=api.admin().headers
    )

    assert response.status_code == 404
    assert response.json()["detail"] == "not_found"


def test_delete_user_removes_account(api):
    account = api.create_account("observer")

    response = api.request("DELETE", f"/users/{account.username}", headers=api.admin().headers)
    names = [user["username"] for user in api.request("GET", "/users", headers=api.admin().headers).json()["users"]]

    assert response.status_code == 200
    assert account.username not in names
    assert api.login(account.username, account.password).status_code == 401


def test_delete_unknown_user_is_not_found(api):
    response = api.request("DELETE", f"/users/{unique_name('nobody')}", headers=api.admin().headers)

    assert response.status_code == 404


@pytest.mark.parametrize("role", ["operator", "observer"])
def test_user_routes_forbidden_to_non_admins(api, role):
    account = api.create_account(role)
    target = api.create_account("observer")
    requests = [
        ("GET", "/users", None),
        ("POST", "/users", new_user_body()),
        ("PATCH", f"/users/{target.username}", {"role": "admin"}),
        ("DELETE", f"/users/{target.username}", None),
    ]

    for method, path, body in requests:
        response = api.request(method, path, json=body, headers=account.headers)
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"] == "not_admin", (method, path)


def test_not_admin_message_in_english(api):
    account = api.create_account("observer")

    response = api.request("GET", "/users", headers={**account.headers, "Accept-Language": "en"})

    assert response.json()["message"] == "Only an admin can do this"


def demote_other_admins(api) -> None:
    """Leave the bootstrap admin as the only enabled admin."""
    admin = api.admin().headers
    for user in api.request("GET", "/users", headers=admin).json()["users"]:
        if user["role"] == "admin" and user["username"] != ADMIN_USERNAME:
            api.request("PATCH", f"/users/{user['username']}", json={"role": "observer"}, headers=admin)


@pytest.mark.parametrize(
    ("method", "body"),
    [("DELETE", None), ("PATCH", {"role": "operator"}), ("PATCH", {"status": "disabled"})],
    ids=["delete", "demote", "disable"],
)
def test_last_admin_is_protected(api, method, body):
    demote_other_admins(api)

    response = api.request(method, f"/users/{ADMIN_USERNAME}", json=body, headers=api.admin().headers)

    assert response.status_code == 409
    assert response.json()["detail"] == "last_admin"
    assert api.request("GET", "/users", headers=api.admin().headers).status_code == 200


def test_admin_can_demote_self_when_another_admin_exists(api):
    second = api.create_account("admin")

    response = api.request("PATCH", f"/users/{second.username}", json={"role": "operator"}, headers=second.headers)

    assert response.status_code == 200


def test_disabled_admin_does_not_count_as_remaining(api):
    demote_other_admins(api)
    second = api.create_account("admin")
    api.request("PATCH", f"/users/{second.username}", json={"status": "disabled"}, headers=api.admin().headers)

    response = api.request("DELETE", f"/users/{ADMIN_USERNAME}", headers=api.admin().headers)

    assert response.status_code == 409
