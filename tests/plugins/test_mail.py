"""Report mails carry the headers RFC 5322 asks of an originator, checked on what a real SMTP server received."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr, parsedate_to_datetime

from fraudcal_airflow.reporting.mail import build_message, send_message

DOTTED_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _sent(smtp_sink, sender=None):
    message = build_message(
        subject="[RED] m v1 2025-02-10..2025-02-16: a subject",
        sender=sender,
        recipients=["lead@example.com"],
        html="<html><body><p>report</p></body></html>",
        charts={},
        csv_text="table,model_version,row,column,value\n",
    )
    before = datetime.now(UTC)
    send_message(message, "smtp_default")
    assert len(smtp_sink.messages) == 1
    return smtp_sink.messages[0], before


def test_a_sent_report_has_a_utc_date_and_a_message_id_on_the_senders_domain(smtp_sink):
    received, before = _sent(smtp_sink)  # From: the smtp_default connection's from_email, fraudcal@example.com
    assert received["Date"], "RFC 5322 3.6: the origination date is required"
    sent_at = parsedate_to_datetime(received["Date"])
    assert sent_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=2) <= sent_at <= datetime.now(UTC) + timedelta(seconds=1)

    message_id = received["Message-ID"]
    assert message_id.startswith("<") and message_id.endswith(">")
    left, at, right = parseaddr(message_id)[1].partition("@")
    assert left and at and right == "example.com"
    assert len(received.get_all("Message-ID")) == 1 and len(received.get_all("Date")) == 1


def test_without_a_domain_in_the_sender_the_message_id_still_has_a_dotted_domain(smtp_sink):
    received, _ = _sent(smtp_sink, sender="fraudcal@localhost")
    right = parseaddr(received["Message-ID"])[1].rpartition("@")[2]
    assert DOTTED_DOMAIN.fullmatch(right) and "localhost" not in right.split(".")


def test_message_id_domain_prefers_the_sender_and_never_returns_a_bare_name():
    from fraudcal_airflow.reporting.mail import message_id_domain

    assert message_id_domain("Fraud ops <ops@Fraud.Example.org>") == "fraud.example.org"
    for sender in (None, "", "fraudcal@localhost", "x@localhost.localdomain", "x@[127.0.0.1]", "nodomain"):
        domain = message_id_domain(sender)
        assert DOTTED_DOMAIN.fullmatch(domain) and "localhost" not in domain.split("."), (sender, domain)
