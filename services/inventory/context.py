"""Shared state of the inventory handlers, flows and background tasks."""

import asyncio
from dataclasses import dataclass, field

from libs.common.db import Database
from libs.common.rpc import RpcClient
from services.inventory.config import InventorySettings


@dataclass
class InventoryContext:
    db: Database
    settings: InventorySettings
    client: RpcClient
    # Tasks that outlive a request (the log folder probe of discovered workers), kept referenced until done.
    background: set[asyncio.Task] = field(default_factory=set)
