"""Service URLs (``FRAUD_DB_URL``, ``REDIS_URL``) as Airflow connections in JSON form.

Development only: :mod:`fraudcal_dev.services` turns the servers it finds or starts into the
``AIRFLOW_CONN_*`` variables of demos, tests and the local Airflow. A deployment sets its
connections itself (DESIGN.md 3.4); the DAGs never parse a URL.
"""

from __future__ import annotations


def postgres_conn_from_url(url: str) -> dict[str, object]:
    """Return the Airflow connection (JSON form) for a ``postgresql://`` URL.

    A Unix-socket URL (``postgresql://user@/db?host=/run/dir``, as the throwaway server
    gives) becomes a connection whose host is the socket folder, which libpq accepts.

    Raises
    ------
    ValueError
        If the URL is not a PostgreSQL URL or names no database.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"FRAUD_DB_URL {url!r} must start with postgresql:// (got scheme {parts.scheme!r})")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError(f"FRAUD_DB_URL {url!r} must name a database (postgresql://user@host:port/DATABASE)")
    query = parse_qs(parts.query)
    host = parts.hostname or (query.get("host") or [None])[0]
    if not host:
        raise ValueError(f"FRAUD_DB_URL {url!r} names no host (nor ?host=/socket/dir)")
    connection: dict[str, object] = {"conn_type": "postgres", "host": host, "schema": database}
    if parts.port:
        connection["port"] = parts.port
    if parts.username:
        connection["login"] = unquote(parts.username)
    if parts.password:
        connection["password"] = unquote(parts.password)
    return connection


def redis_conn_from_url(url: str) -> dict[str, object]:
    """Return the Airflow connection (JSON form) for a ``redis://host:port/db`` URL.

    The Redis provider reads the database number from the connection's extra, not from the
    URL path, so the path is moved there.
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"REDIS_URL {url!r} must start with redis:// (got scheme {parts.scheme!r})")
    path = parts.path.lstrip("/") or "0"
    if not path.isdigit():
        raise ValueError(f"REDIS_URL {url!r}: the path must be a database number, got {path!r}")
    connection: dict[str, object] = {
        "conn_type": "redis",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "extra": {"db": int(path)},
    }
    if parts.password:
        connection["password"] = unquote(parts.password)
    return connection
