"""Access tokens the gateway must reject with 401, and role changes that apply at once."""

import time

from tests.gateway.helpers import bearer, sign, token_claims, unsigned_token


def assert_invalid_token(response):
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid_token"
    assert response.json()["message"]


def test_token_valid_reaches_route(api):
    account = api.create_account("observer")

    response = api.request("GET", "/user/me", headers=account.headers)

    assert response.status_code == 200


def test_token_expired_rejected(api, infra):
    account = api.create_account("observer")
    claims = token_claims(account.token)
    claims["iat"] = int(time.time()) - 3600
    claims["exp"] = int(time.time()) - 60

    response = api.request("GET", "/user/me", headers=bearer(sign(claims, infra.jwt_secret)))

    assert_invalid_token(response)


def test_token_signed_with_wrong_key_rejected(api):
    account = api.create_account("observer")

    forged = sign(token_claims(account.token), "an-attacker-key-that-is-long-enough-for-hs256")
    response = api.request("GET", "/user/me", headers=bearer(forged))

    assert_invalid_token(response)


def test_token_alg_none_rejected(api):
    account = api.create_account("observer")

    response = api.request("GET", "/user/me", headers=bearer(unsigned_token(token_claims(account.token))))

    assert_invalid_token(response)


def test_token_wrong_type_rejected(api, infra):
    account = api.create_account("observer")
    claims = token_claims(account.token)
    claims["typ"] = "refresh"

    response = api.request("GET", "/user/me", headers=bearer(sign(claims, infra.jwt_secret)))

    assert_invalid_token(response)


def test_token_missing_jti_rejected(api, infra):
    account = api.create_account("observer")
    claims = token_claims(account.token)
    del claims["jti"]

    response = api.request("GET", "/user/me", headers=bearer(sign(claims, infra.jwt_secret)))

    assert_invalid_token(response)


def test_token_other_users_id_rejected(api, infra):
    account = api.create_account("observer")
    claims = token_claims(account.token)
    claims["sub"] = str(api.admin().user_id)

    response = api.request("GET", "/users", headers=bearer(sign(claims, infra.jwt_secret)))

    assert_invalid_token(response)


def test_token_tampered_payload_rejected(api):
    account = api.create_account("observer")
    header, payload, signature = account.token.split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"

    response = api.request("GET", "/user/me", headers=bearer(tampered))

    assert_invalid_token(response)


def test_token_garbage_rejected(api):
    response = api.request("GET", "/user/me", headers=bearer("not.a.jwt"))

    assert_invalid_token(response)


def test_token_missing_is_not_authenticated(api):
    response = api.request("GET", "/users")

    assert response.status_code == 401
    assert response.json()["detail"] == "not_authenticated"


def test_token_basic_scheme_is_not_authenticated(api):
    response = api.request("GET", "/users", headers={"Authorization": "Basic cm9vdDpyb290"})

    assert response.status_code == 401
    assert response.json()["detail"] == "not_authenticated"


def test_token_revoked_after_logout(api):
    account = api.create_account("operator")
    assert api.request("POST", "/logout", headers=account.headers).status_code == 200

    response = api.request("GET", "/sys-exec-logs", headers=account.headers)

    assert_invalid_token(response)


def test_token_of_deleted_user_rejected(api):
    account = api.create_account("operator")
    deleted = api.request("DELETE", f"/users/{account.username}", headers=api.admin().headers)
    assert deleted.status_code == 200

    response = api.request("GET", "/user/me", headers=account.headers)

    assert_invalid_token(response)


def test_token_of_recreated_username_rejected(api):
    account = api.create_account("observer")
    api.request("DELETE", f"/users/{account.username}", headers=api.admin().headers)
    recreated = api.request(
        "POST",
        "/users",
        headers=api.admin().headers,
        json={
            "username": account.username,
            "email": f"new_{account.username}@example.com",
            "role": "observer",
            "password": account.password,
        },
    )
    assert recreated.status_code == 200

    response = api.request("GET", "/user/me", headers=account.headers)

    assert_invalid_token(response)


def test_token_of_disabled_user_rejected(api):
    account = api.create_account("operator")
    disabled = api.request(
        "PATCH", f"/users/{account.username}", json={"status": "disabled"}, headers=api.admin().headers
    )
    assert disabled.status_code == 200

    response = api.request("GET", "/user/me", headers=account.headers)

    assert_invalid_token(response)


def test_token_of_reenabled_user_still_rejected(api):
    account = api.create_account("operator")
    admin = api.admin().headers
    api.request("PATCH", f"/users/{account.username}", json={"status": "disabled"}, headers=admin)
    api.request("PATCH", f"/users/{account.username}", json={"status": "enabled"}, headers=admin)

    response = api.request("GET", "/user/me", headers=account.headers)

    assert_invalid_token(response)


def test_demoted_admin_loses_admin_rights_at_once(api):
    second_admin = api.create_account("admin")
    assert api.request("GET", "/users", headers=second_admin.headers).status_code == 200

    demoted = api.request(
        "PATCH", f"/users/{second_admin.username}", json={"role": "observer"}, headers=api.admin().headers
    )
    assert demoted.status_code == 200

    assert_invalid_token(api.request("GET", "/users", headers=second_admin.headers))
    fresh = api.login_account(second_admin.username, second_admin.password)
    forbidden = api.request("GET", "/users", headers=fresh.headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "not_admin"


def test_promoted_operator_logs_in_again(api):
    operator = api.create_account("operator")

    promoted = api.request("PATCH", f"/users/{operator.username}", json={"role": "admin"}, headers=api.admin().headers)
    assert promoted.status_code == 200

    assert_invalid_token(api.request("GET", "/user/me", headers=operator.headers))
    fresh = api.login_account(operator.username, operator.password)
    assert api.request("GET", "/users", headers=fresh.headers).status_code == 200
    api.request("DELETE", f"/users/{operator.username}", headers=api.admin().headers)


def test_token_message_in_english(api):
    response = api.request("GET", "/user/me", headers={**bearer("x.y.z"), "Accept-Language": "en"})

    assert response.json()["message"] == "The token is invalid or expired; log in again"
