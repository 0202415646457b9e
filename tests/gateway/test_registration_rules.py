"""Each validation rule of POST /user/register, as a field error with the rule's code."""

import pytest

from tests.gateway.helpers import STRONG_PASSWORD, unique_name


def valid_body() -> dict:
    username = unique_name("rule")
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": STRONG_PASSWORD,
        "fullName": "Rule Tester",
    }


RULES = [
    ("username_too_short", "username", "ab", "invalid_username"),
    ("username_too_long", "username", "a" * 51, "invalid_username"),
    ("username_starts_with_digit", "username", "1abc", "invalid_username"),
    ("username_starts_with_underscore", "username", "_abc", "invalid_username"),
    ("username_has_hyphen", "username", "ab-cd", "invalid_username"),
    ("username_has_space", "username", "ab cd", "invalid_username"),
    ("username_non_ascii_letter", "username", "用户abc", "invalid_username"),
    ("username_sql_metacharacters", "username", "a'; DROP TABLE users;--", "invalid_username"),
    ("username_not_a_string", "username", 12345, "invalid_type"),
    ("email_without_at", "email", "not-an-email", "invalid_email"),
    ("email_without_domain_dot", "email", "user@localhost", "invalid_email"),
    ("email_too_long", "email", "a" * 95 + "@example.com", "invalid_email"),
    ("password_too_short", "password", "Ab1defg", "weak_password"),
    ("password_without_upper", "password", "abcdefg1", "weak_password"),
    ("password_without_lower", "password", "ABCDEFG1", "weak_password"),
    ("password_without_digit", "password", "Abcdefgh", "weak_password"),
    ("password_too_long", "password", "Ab1" + "x" * 130, "password_too_long"),
    ("full_name_too_short", "fullName", "A", "invalid_full_name"),
    ("full_name_too_long", "fullName", "A" * 101, "invalid_full_name"),
    ("full_name_blank", "fullName", "   ", "invalid_full_name"),
    ("full_name_control_character", "fullName", "Bad\u0000Name", "invalid_full_name"),
]


@pytest.mark.parametrize(("case", "field", "value", "code"), RULES, ids=[rule[0] for rule in RULES])
def test_register_rule_rejected(api, case, field, value, code):
    body = valid_body()
    body[field] = value

    response = api.request("POST", "/user/register", json=body)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert len(errors) == 1
    assert errors[0]["field"] == field
    assert errors[0]["code"] == code
    assert errors[0]["message"]


@pytest.mark.parametrize("field", ["username", "email", "password", "fullName"])
def test_register_missing_field_rejected(api, field):
    body = valid_body()
    del body[field]

    response = api.request("POST", "/user/register", json=body)
    errors = response.json()["detail"]["errors"]

    assert response.status_code == 422
    assert errors[0]["field"] == field
    assert errors[0]["code"] == "field_required"


def test_register_reports_every_invalid_field(api):
    body = {"username": "1", "email": "x", "password": "y", "fullName": "z"}

    response = api.request("POST", "/user/register", json=body)
    fields = {error["field"]: error["code"] for error in response.json()["detail"]["errors"]}

    assert fields == {
        "username": "invalid_username",
        "email": "invalid_email",
        "password": "weak_password",
        "fullName": "invalid_full_name",
    }


def test_register_rule_message_in_english(api):
    body = valid_body()
    body["password"] = "weak"

    response = api.request("POST", "/user/register", json=body, headers={"Accept-Language": "en-US,en;q=0.9"})

    assert response.json()["detail"]["errors"][0]["message"].startswith("Password must be at least 8 characters")


def test_register_rule_message_in_chinese_by_default(api):
    body = valid_body()
    body["password"] = "weak"

    response = api.request("POST", "/user/register", json=body)

    assert response.json()["detail"]["errors"][0]["message"] == "密码至少8位,需包含大小写字母与数字"


def test_register_accepts_boundary_lengths(api):
    body = valid_body()
    body["username"] = unique_name("a").ljust(50, "c")
    body["email"] = f"{body['username']}@example.com"
    body["fullName"] = "Zo"

    response = api.request("POST", "/user/register", json=body)

    assert len(body["username"]) == 50
    assert response.status_code == 200
