"""A server to use, embedded or given by URL, and databases on it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from parcours.devstack.nats import EmbeddedNats
from parcours.devstack.postgres import EmbeddedPostgres


# --- "a server to use": embedded, or an external one given by URL
def _with_path(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


class PostgresEndpoint:
    """A PostgreSQL server to use: ``server`` when embedded, else a URL given to us.

    ``url`` is an admin URL (a role allowed to CREATE DATABASE).
    """

    def __init__(self, url: str | None = None, server: EmbeddedPostgres | None = None) -> None:
        if (url is None) == (server is None):
            raise ValueError("give either a url or an embedded server")
        self._url = url
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else str(self._url)

    def url_for(self, dbname: str) -> str:
        return _with_path(self.url, dbname)

    def __repr__(self) -> str:
        return f"<PostgresEndpoint {self.url} {'embedded' if self.server else 'external'}>"


class NatsEndpoint:
    """A NATS server to use: ``server`` when embedded, else a URL given to us."""

    def __init__(self, url: str | None = None, server: EmbeddedNats | None = None) -> None:
        if (url is None) == (server is None):
            raise ValueError("give either a url or an embedded server")
        self._url = url
        self.server = server

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else str(self._url)

    def __repr__(self) -> str:
        return f"<NatsEndpoint {self.url} {'embedded' if self.server else 'external'}>"


async def create_database(admin_url: str, name: str) -> str:
    """Create database ``name`` (letters, digits, ``_``) and return its URL."""
    import asyncpg

    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain database name: {name!r}")
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_path(admin_url, name)


async def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name``, closing whatever sessions are still on it."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
