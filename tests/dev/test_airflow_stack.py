"""make airflow's fixed port and reused password (the stack itself runs in tests/e2e)."""

from __future__ import annotations

import json
import socket

import pytest

from fraudcal_dev.airflow_stack import admin_password, api_port


def test_the_password_is_generated_once_then_reused_or_set(tmp_path):
    first = admin_password(tmp_path)
    assert len(first) >= 12
    assert admin_password(tmp_path) == first  # the next start logs in with the same one
    assert admin_password(tmp_path, "chosen-by-me") == "chosen-by-me"
    assert admin_password(tmp_path) == "chosen-by-me"
    assert json.loads((tmp_path / "passwords.json").read_text()) == {"admin": "chosen-by-me"}
    assert (tmp_path / "passwords.json").stat().st_mode & 0o077 == 0  # not readable by others


def test_a_requested_port_is_used_when_free_and_refused_naming_the_variable_when_taken():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {taken} is in use.*AIRFLOW_PORT"):
            api_port(taken)
    assert api_port(taken) == taken  # free again
    assert isinstance(api_port(None), int)
