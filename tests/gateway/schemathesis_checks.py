"""Schemathesis hooks, loaded through SCHEMATHESIS_HOOKS by ``test_schemathesis``.

``contract_error_shape`` fails a response whose error body lacks the API contract's shape.
``spare_run_account`` drops generated requests aimed at the account whose token the run
uses (named by HFD_SCHEMATHESIS_ACCOUNT): schemathesis learns usernames from ``GET /users``
and would otherwise demote or delete that account, or lock it with failed logins, and test
the rest of the run without a working token.
"""

import os

import schemathesis

PROTECTED_ACCOUNT = os.environ.get("HFD_SCHEMATHESIS_ACCOUNT", "").lower()


@schemathesis.check
def contract_error_shape(ctx, response, case):
    """Fail unless an error body is ``{"detail": "<code>"}`` or ``{"detail": {"errors": [{field, code, message}]}}``."""
    if response.status_code < 400:
        return None
    body = response.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str) and detail:
        return None

    errors = detail.get("errors") if isinstance(detail, dict) else None
    if isinstance(errors, list) and errors and all(_is_field_error(error) for error in errors):
        return None
    raise AssertionError(f"error body without the contract's shape: {body!r}")


def _is_field_error(error) -> bool:
    return isinstance(error, dict) and all(isinstance(error.get(key), str) for key in ("field", "code", "message"))


@schemathesis.hook
def filter_case(context, case) -> bool:
    """Keep a generated request unless it names the run's own account in its path or body."""
    if not PROTECTED_ACCOUNT:
        return True
    names = [(case.path_parameters or {}).get("username")]
    if isinstance(case.body, dict):
        names.append(case.body.get("username"))
    return not any(isinstance(name, str) and name.lower() == PROTECTED_ACCOUNT for name in names)
