"""Shared state of the inventory handlers, flows and background tasks."""

from dataclasses import dataclass

from libs.common.db import Database
from libs.common.rpc import RpcClient
from services.inventory.config import InventorySettings


@dataclass
class InventoryContext:
    db: Database
    settings: InventorySettings
    client: RpcClient
