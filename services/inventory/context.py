"""What the inventory handlers, flows and background tasks share."""

from dataclasses import dataclass

from libs.common.db import Database
from libs.common.rpc import RpcClient
from services.inventory.config import InventorySettings


@dataclass
class InventoryContext:
    db: Database
    settings: InventorySettings
    client: RpcClient
