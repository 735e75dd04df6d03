"""The PostgreSQL backend (``base``) and the check its connection pool runs on a connection
before handing it out."""

import logging

from psycopg import Connection
from psycopg_pool import ConnectionPool

logger = logging.getLogger(__name__)


def pool_check(connection: Connection) -> None:
    """psycopg_pool's own check (a round trip), and when it fails, a check of every idle
    connection of the pool at once.

    Connections seldom break alone: a restart, a failover or pg_terminate_backend ends them
    all. psycopg_pool then tries the idle ones one at a time and waits longer after each
    broken one (1, 2, 4, 8 s...): with five broken connections the first request after a
    database restart waited 15 s (docs/benchmarks.md, "Recovery"). Checking them all at the
    first failure leaves one wait of about a second, after which a new connection is ready.
    """
    try:
        ConnectionPool.check_connection(connection)
    except Exception:
        # The pool sets _pool on the connections it hands out (Django reads it as well).
        pool = getattr(connection, "_pool", None)
        if isinstance(pool, ConnectionPool):
            pool.check()
            logger.warning("A pooled database connection was broken; checked the others")
        raise
