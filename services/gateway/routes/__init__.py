"""The gateway's routers, all mounted under ``/api/v1``; add a domain with one line here.

See ``services.gateway.forward`` for how a route module is written.
"""

from services.gateway.routes import ai, audit, auth, collectors, faults, health, inventory, logs, ops, users

ROUTERS = [
    health.router,
    auth.router,
    users.router,
    audit.router,
    faults.router,
    ai.router,
    inventory.router,
    logs.router,
    ops.router,
    collectors.router,
]
