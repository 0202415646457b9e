"""Access tokens of a revoked refresh-token family, rejected by the gateway before they expire."""

from tests.gateway.helpers import bearer, wait_for


def assert_invalid_token(response):
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_token"


def refresh_pair(api, refresh_token: str) -> dict:
    response = api.request("POST", "/refresh", json={"refreshToken": refresh_token})
    assert response.status_code == 200, response.text
    return response.json()


def me_status(api, token: str) -> int:
    return api.request("GET", "/user/me", headers=bearer(token)).status_code


def test_refresh_reuse_ends_login_access_token(api):
    account = api.create_account("observer")
    refresh_pair(api, account.refresh_token)

    reuse = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})
    response = api.request("GET", "/user/me", headers=account.headers)

    assert reuse.status_code == 401
    assert_invalid_token(response)


def test_refresh_reuse_ends_rotated_access_token(api):
    account = api.create_account("observer")
    rotated = refresh_pair(api, account.refresh_token)

    reuse = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})
    response = api.request("GET", "/user/me", headers=bearer(rotated["token"]))

    assert reuse.status_code == 401
    assert_invalid_token(response)


def test_refresh_reuse_leaves_other_login(api):
    account = api.create_account("observer")
    other = api.login_account(account.username, account.password)
    refresh_pair(api, account.refresh_token)

    reuse = api.request("POST", "/refresh", json={"refreshToken": account.refresh_token})

    assert reuse.status_code == 401
    assert me_status(api, other.token) == 200
    assert refresh_pair(api, other.refresh_token)["token"]


def test_logout_ends_earlier_refreshed_token(api):
    account = api.create_account("observer")
    first = refresh_pair(api, account.refresh_token)
    second = refresh_pair(api, first["refreshToken"])

    logout = api.request("POST", "/logout", headers=bearer(second["token"]))
    response = api.request("GET", "/user/me", headers=bearer(first["token"]))

    assert logout.status_code == 200
    assert_invalid_token(response)


def test_logout_ends_login_access_token(api):
    account = api.create_account("observer")
    rotated = refresh_pair(api, account.refresh_token)

    logout = api.request("POST", "/logout", headers=bearer(rotated["token"]))
    response = api.request("GET", "/user/me", headers=account.headers)

    assert logout.status_code == 200
    assert_invalid_token(response)


def test_logout_leaves_other_login(api):
    account = api.create_account("observer")
    other = api.login_account(account.username, account.password)
    rotated = refresh_pair(api, account.refresh_token)

    logout = api.request("POST", "/logout", headers=bearer(rotated["token"]))

    assert logout.status_code == 200
    assert me_status(api, other.token) == 200


def test_logout_body_family_access_tokens_end(api):
    """The family named by ``refreshToken`` in the body ends too; the gateway learns it from its watcher."""
    account = api.create_account("observer")
    other = api.login_account(account.username, account.password)

    logout = api.request("POST", "/logout", headers=account.headers, json={"refreshToken": other.refresh_token})

    assert logout.status_code == 200
    assert wait_for(lambda: me_status(api, other.token) == 401, timeout=5)
