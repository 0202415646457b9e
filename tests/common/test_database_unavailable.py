"""Errors of an unreachable database, distinguished from other errors, and the 503 that RPC callers get."""

import nats
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from hfd.embedded import free_port
from libs.common.db import Database, database_unavailable
from libs.common.names import Names
from libs.common.rpc import RpcClient, RpcRequest, RpcService


@pytest.fixture
async def closed_database(infra):
    """A Database whose URL names a loopback port that nothing listens on."""
    url = make_url(infra.database_url).set(host="127.0.0.1", port=free_port())
    database = Database(url.render_as_string(hide_password=False))
    yield database
    await database.dispose()


@pytest.fixture
async def live_database(infra):
    database = Database(infra.database_url)
    yield database
    await database.dispose()


async def _error_of(database: Database, statement: str) -> BaseException:
    with pytest.raises(Exception) as caught:
        async with database.session() as session:
            await session.execute(text(statement))
    return caught.value


async def test_database_unavailable_refused_connection(closed_database):
    error = await _error_of(closed_database, "SELECT 1")

    assert database_unavailable(error)


async def test_database_unavailable_not_for_sql_error(live_database):
    error = await _error_of(live_database, "SELEC 1")

    assert isinstance(error, ProgrammingError)
    assert not database_unavailable(error)


async def test_rpc_reply_503_when_database_unavailable(infra, closed_database):
    async def read_rows(request: RpcRequest) -> dict:
        async with closed_database.session() as session:
            await session.execute(text("SELECT 1"))
        return {}

    nc = await nats.connect(infra.nats_url)
    names = Names(infra.prefix)
    rpc = RpcService(nc, names, "dbdown", "0.0.1")
    rpc.add("rows.read", read_rows)
    await rpc.start()
    try:
        reply = await RpcClient(nc, names, timeout=15).call("dbdown", "rows.read", RpcRequest())
    finally:
        await rpc.stop()
        await nc.close()

    assert reply.status == 503
    assert reply.body["detail"] == "service_unavailable"
