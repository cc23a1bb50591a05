"""A real SMTP server for tests: aiosmtpd in the test process, keeping what it receives."""

from __future__ import annotations

import email
from email import policy

import pytest

from fraudcal_dev import mail_sink
from fraudcal_dev.services import free_port


class Sink:
    """An SMTP server's handler that keeps every message it receives."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


def smtp_connection(port: int) -> str:
    """The sink as ``smtp_default``; a refused or silent server fails at once (no retries)."""
    return mail_sink.smtp_connection(port, "fraudcal@example.com", timeout=5, retry_limit=0)


@pytest.fixture
def smtp_sink(monkeypatch):
    """An SMTP server on a free port, set as the ``smtp_default`` connection."""
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(controller.port))
    yield sink
    controller.stop()
