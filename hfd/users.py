"""``hfd user``: account management straight on the database named by ``HFD_DATABASE_URL``.

It creates the first admin of an installation, or an admin for recovery when none can log in.
It runs the auth schema's migrations first and creates the account through the auth service's
own code, with the same validation rules as the API. The auth service publishes the new
account's token state to the gateway at its first login, so the auth service need not run.
"""

import asyncio
import sys

import click

from libs.common.errors import ValidationFailed
from libs.common.rpc import validate_model
from libs.common.settings import get_common_settings

ROLES = ("admin", "operator", "observer")


@click.group()
def user() -> None:
    """Manage accounts directly in the database given by HFD_DATABASE_URL."""


@user.command()
@click.option("--username", required=True, help="3-50 letters, digits or _, starting with a letter.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="Role of the account.")
@click.option("--email", required=True, help="Email address, unique among accounts.")
@click.option("--full-name", default=None, help="Display name; the username when omitted.")
@click.option(
    "--password",
    default=None,
    help="Password (8+ characters with upper, lower and digit). Visible in the process list: "
    "prefer --password-stdin. Without either, a one-time password is printed and must be "
    "changed at first login.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create(
    username: str, role: str, email: str, full_name: str | None, password: str | None, password_stdin: bool
) -> None:
    """Create an account."""
    if password is not None and password_stdin:
        raise click.UsageError("use either --password or --password-stdin, not both")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")

    fields = {"username": username, "role": role, "email": email, "fullName": full_name, "password": password}
    try:
        created_id, one_time_password = asyncio.run(_create(fields))
    except ValidationFailed as error:
        for failure in error.errors:
            click.echo(f"error: {failure.field}: {failure.message} ({failure.code})", err=True)
        sys.exit(1)

    click.echo(f"created user {username} (id {created_id}, role {role})")
    if one_time_password is not None:
        click.echo(f"one-time password: {one_time_password}")
        click.echo("it is shown only now and must be changed at the first login")


async def _create(fields: dict) -> tuple[int, str | None]:
    from libs.common.db import Database, migrate
    from services.auth.accounts import create_account
    from services.auth.config import get_auth_settings
    from services.auth.main import MIGRATIONS_DIR
    from services.auth.models import SCHEMA
    from services.auth.schemas import UserCreateRequest
    from services.auth.security import Passwords

    body = validate_model(UserCreateRequest, {key: value for key, value in fields.items() if value is not None}, "en")
    database_url = get_common_settings().database_url
    await migrate(database_url, SCHEMA, MIGRATIONS_DIR)

    database = Database(database_url, pool_size=1)
    try:
        async with database.session() as session:
            account, one_time_password = await create_account(session, Passwords(get_auth_settings()), body, "en")
        return account.id, one_time_password
    finally:
        await database.dispose()
