"""Service URLs become the Airflow connections the hooks read."""

from __future__ import annotations

import pytest

from fraudcal_dev.connection_urls import postgres_conn_from_url, redis_conn_from_url


def test_tcp_postgres_url():
    assert postgres_conn_from_url("postgresql://app:s%40cret@db.internal:6432/fraud") == {
        "conn_type": "postgres",
        "host": "db.internal",
        "port": 6432,
        "schema": "fraud",
        "login": "app",
        "password": "s@cret",
    }


def test_unix_socket_postgres_url_uses_the_socket_folder_as_host():
    assert postgres_conn_from_url("postgresql://postgres:@/fraudcal?host=/tmp/pg") == {
        "conn_type": "postgres",
        "host": "/tmp/pg",
        "schema": "fraudcal",
        "login": "postgres",
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://h/db", "must start with postgresql://"), ("postgresql://h:5432/", "must name a database")],
)
def test_bad_postgres_urls_name_the_value_and_rule(url, message):
    with pytest.raises(ValueError, match=message) as error:
        postgres_conn_from_url(url)
    assert url in str(error.value)


def test_redis_url_moves_the_database_number_into_extra():
    assert redis_conn_from_url("redis://:pw@127.0.0.1:6390/3") == {
        "conn_type": "redis",
        "host": "127.0.0.1",
        "port": 6390,
        "extra": {"db": 3},
        "password": "pw",
    }


def test_redis_url_with_a_non_numeric_database_is_refused():
    with pytest.raises(ValueError, match="database number"):
        redis_conn_from_url("redis://127.0.0.1:6379/cache")
