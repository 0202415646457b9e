"""RpcService endpoint registration against the package's NATS server."""

import nats

from libs.common.names import Names
from libs.common.rpc import RpcClient, RpcRequest, RpcService


def _echo(operation: str):
    async def handle(request: RpcRequest) -> dict:
        return {"operation": operation}

    return handle


async def test_add_all_serves_every_operation(infra):
    nc = await nats.connect(infra.nats_url)
    names = Names(infra.prefix)
    rpc = RpcService(nc, names, "rpctest", "0.0.1")
    rpc.add_all({"first": _echo("first"), "nested.second": _echo("nested.second")})
    await rpc.start()
    try:
        client = RpcClient(nc, names, timeout=5)
        first = await client.call("rpctest", "first", RpcRequest())
        second = await client.call("rpctest", "nested.second", RpcRequest())
    finally:
        await rpc.stop()
        await nc.close()

    assert first.body == {"operation": "first"}
    assert second.body == {"operation": "nested.second"}
