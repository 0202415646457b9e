"""The declarative base of the collector's tables, all in PostgreSQL schema ``collector``."""

from libs.common.db import schema_base

SCHEMA = "collector"
Base = schema_base(SCHEMA)
