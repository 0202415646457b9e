"""Login, registration, profile, password change, refresh and logout through the gateway."""

from tests.gateway.helpers import ADMIN_PASSWORD, ADMIN_USERNAME, STRONG_PASSWORD, bearer, unique_name


def register_body(username: str | None = None, **overrides) -> dict:
    username = username or unique_name("reg")
    body = {
        "username": username,
        "email": f"{username}@example.com",
        "password": STRONG_PASSWORD,
        "fullName": "New User",
    }
    body.update(overrides)
    return body


def test_login_returns_contract_and_client_fields(api):
    response = api.login(ADMIN_USERNAME, ADMIN_PASSWORD)
    body = response.json()

    assert response.status_code == 200
    assert body["ok"] is True
    assert body["username"] == ADMIN_USERNAME
    assert body["fullName"] == ADMIN_USERNAME
    assert body["token"].count(".") == 2
    assert body["refreshToken"]
    assert body["roles"] == ["admin"]
    assert body["user"]["id"] >= 1
    assert body["user"]["role"] == "admin"
    assert body["mustChangePassword"] is False
    assert body["tokenType"] == "bearer"
    assert body["expiresIn"] == 15 * 60


def test_login_wrong_password_is_invalid_credentials(api):
    account = api.create_account("observer")

    response = api.login(account.username, "Wrong7Password")

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_credentials"
    assert response.json()["message"] == "用户名或密码错误"


def test_login_unknown_user_is_invalid_credentials(api):
    response = api.login(unique_name("ghost"), STRONG_PASSWORD)

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_credentials"


def test_login_never_echoes_password(api):
    secret = "Unique9SecretValue"
    response = api.login(unique_name("ghost"), secret)

    assert secret not in response.text


def test_login_disabled_account_is_invalid_credentials(api):
    account = api.create_account("operator")
    patched = api.request(
        "PATCH", f"/users/{account.username}", json={"status": "disabled"}, headers=api.admin().headers
    )
    assert patched.status_code == 200

    response = api.login(account.username, account.password)

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_credentials"


def test_login_pending_account_is_invalid_credentials(api):
    username = unique_name("pen")
    created = api.request(
        "POST",
        "/users",
        headers=api.admin().headers,
        json={
            "username": username,
            "email": f"{username}@example.com",
            "role": "observer",
            "status": "pending",
            "password": STRONG_PASSWORD,
        },
    )
    assert created.status_code == 200

    response = api.login(username, STRONG_PASSWORD)

    assert response.status_code == 401


def test_login_username_is_case_insensitive(api):
    response = api.login(ADMIN_USERNAME.upper(), ADMIN_PASSWORD)

    assert response.status_code == 200
    assert response.json()["username"] == ADMIN_USERNAME


def test_login_alias_path_logs_in(api):
    response = api.request("POST", "/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})

    assert response.status_code == 200
    assert response.json()["roles"] == ["admin"]


def test_login_missing_password_is_field_error(api):
    response = api.request("POST", "/user/login", json={"username": ADMIN_USERNAME})
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0]["field"] == "password"
    assert errors[0]["code"] == "field_required"


def test_register_creates_observer_and_logs_in(api):
    body = register_body()

    response = api.request("POST", "/user/register", json=body)
    payload = response.json()

    assert response.status_code == 200
    assert payload["ok"] is True
    assert payload["username"] == body["username"]
    assert payload["fullName"] == "New User"
    assert payload["roles"] == ["observer"]
    assert payload["refreshToken"]
    me = api.request("GET", "/user/me", headers=bearer(payload["token"]))
    assert me.status_code == 200
    assert me.json()["role"] == "observer"


def test_register_accepts_snake_case_full_name(api):
    body = register_body()
    body["full_name"] = body.pop("fullName")

    response = api.request("POST", "/user/register", json=body)

    assert response.status_code == 200
    assert response.json()["fullName"] == "New User"


def test_register_duplicate_username_is_field_error(api):
    body = register_body()
    assert api.request("POST", "/user/register", json=body).status_code == 200

    again = register_body(body["username"].upper(), email=f"{unique_name('other')}@example.com")
    response = api.request("POST", "/user/register", json=again)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 409
    assert [error["field"] for error in errors] == ["username"]
    assert errors[0]["code"] == "username_taken"


def test_register_duplicate_email_is_field_error(api):
    body = register_body()
    assert api.request("POST", "/user/register", json=body).status_code == 200

    again = register_body(email=body["email"].upper())
    response = api.request("POST", "/user/register", json=again)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 409
    assert [error["field"] for error in errors] == ["email"]
    assert errors[0]["code"] == "email_taken"


def test_me_returns_contract_fields(api):
    account = api.create_account("operator")

    response = api.request("GET", "/user/me", headers=account.headers)
    body = response.json()

    assert response.status_code == 200
    assert body["username"] == account.username
    assert body["fullName"] == "Test operator"
    assert body["isActive"] is True
    assert body["id"] == account.user_id
    assert body["roles"] == ["operator"]
    assert body["lastLogin"] is not None


def test_me_without_token_is_not_authenticated(api):
    response = api.request("GET", "/user/me")

    assert response.status_code == 401
    assert response.json()["detail"] == "not_authenticated"
    assert response.headers["www-authenticate"] == "Bearer"


def test_password_change_ends_old_tokens(api):
    account = api.create_account("observer")
    new_password = "Fresh8Password"

    response = api.request(
        "PATCH",
        "/user/password",
        headers=account.headers,
        json={"currentPassword": account.password, "newPassword": new_password},
    )

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert api.request("GET", "/user/me", headers=account.headers).status_code == 401
    assert api.request("GET", "/user/me", headers=bearer(response.json()["token"])).status_code == 200
    assert api.login(account.username, account.password).status_code == 401
    assert api.login(account.username, new_password).status_code == 200


def test_password_change_wrong_current_is_field_error(api):
    account = api.create_account("observer")

    response = api.request(
        "PATCH",
        "/user/password",
        headers=account.headers,
        json={"currentPassword": "Wrong1Password", "newPassword": "Fresh8Password"},
    )
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 400
    assert errors[0]["field"] == "currentPassword"
    assert errors[0]["code"] == "wrong_password"


def test_password_change_weak_new_password_is_field_error(api):
    account = api.create_account("observer")

    response = api.request(
        "PATCH",
        "/user/password",
        headers=account.headers,
        json={"currentPassword": account.password, "newPassword": "short"},
    )
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0]["field"] == "newPassword"
    assert errors[0]["code"] == "weak_password"


def test_password_change_same_password_is_rejected(api):
    account = api.create_account("observer")

    response = api.request(
        "PATCH",
        "/user/password",
        headers=account.headers,
        json={"currentPassword": account.password, "newPassword": account.password},
    )

    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["code"] == "password_reused"


def test_refresh_rotates_tokens(api):
    account = api.create_account("observer")

    response = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})
    body = response.json()

    assert response.status_code == 200
    assert body["refreshToken"] != account.refresh_token
    assert api.request("GET", "/user/me", headers=bearer(body["token"])).status_code == 200


def test_refresh_old_token_fails_after_use(api):
    account = api.create_account("observer")
    first = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})
    assert first.status_code == 200

    replay = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})

    assert replay.status_code == 401
    assert replay.json()["detail"] == "invalid_token"


def test_refresh_reuse_revokes_rotated_token_too(api):
    account = api.create_account("observer")
    rotated = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token}).json()
    api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})

    response = api.request("POST", "/refresh", json={"refreshToken": rotated["refreshToken"]})

    assert response.status_code == 401


def test_refresh_unknown_token_is_invalid(api):
    response = api.request("POST", "/refresh", json={"refreshToken": "not-a-token"})

    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_token"


def test_logout_revokes_access_token(api):
    account = api.create_account("observer")

    response = api.request("POST", "/logout", headers=account.headers)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    revoked = api.request("GET", "/user/me", headers=account.headers)
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "invalid_token"


def test_logout_revokes_refresh_token(api):
    account = api.create_account("observer")
    api.request("POST", "/logout", headers=account.headers, json={"refreshToken": account.refresh_token})

    response = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})

    assert response.status_code == 401


def test_logout_without_body_revokes_session_refresh_token(api):
    account = api.create_account("observer")
    api.request("POST", "/logout", headers=account.headers)

    response = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})

    assert response.status_code == 401


def test_logout_leaves_other_sessions(api):
    account = api.create_account("observer")
    other = api.login_account(account.username, account.password)

    api.request("POST", "/logout", headers=account.headers)

    assert api.request("GET", "/user/me", headers=other.headers).status_code == 200


def test_logout_without_token_is_not_authenticated(api):
    response = api.request("POST", "/logout")

    assert response.status_code == 401
    assert response.json()["detail"] == "not_authenticated"
