"""The body of every service's Alembic ``env.py``: online migrations over asyncpg.

A service's ``migrations/env.py`` calls ``run_migrations(metadata)``; the database URL and the
schema come from the Alembic config attributes that ``libs.common.db.migrate`` sets.
"""

import asyncio

from alembic import context
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine


def run_migrations(metadata: MetaData) -> None:
    config = context.config
    url = config.attributes["database_url"]
    schema = config.attributes["schema"]
    asyncio.run(_run_async(url, schema, metadata))


async def _run_async(url: str, schema: str, metadata: MetaData) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_advisory_lock(hashtext(:name))"), {"name": f"hfd:{schema}"})
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.commit()
            try:
                await connection.run_sync(_run_sync, schema, metadata)
                await connection.commit()
            finally:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": f"hfd:{schema}"}
                )
                await connection.commit()
    finally:
        await engine.dispose()


def _run_sync(connection, schema: str, metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()
