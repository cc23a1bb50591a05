"""Report e-mails: one message layout, sent through the SMTP provider's hook.

Mail clients block remote and base64 images and run no JavaScript, so a report is static HTML
whose charts are ``image/png`` parts referenced by ``cid:``, in a ``multipart/related`` body.
Every message leaves with the two headers RFC 5322 (3.6) requires or recommends of an
originator: ``Date`` (when it is sent, UTC) and a ``Message-ID`` on a real domain
(:func:`message_id_domain`).
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

#: The right-hand side of a Message-ID when neither the sender nor the machine has a domain:
#: ``.invalid`` is reserved (RFC 2606, RFC 6761), so it can never be someone else's domain.
FALLBACK_DOMAIN = "fraudcal.invalid"
_DOMAIN = re.compile(r"(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")


def _is_real_domain(name: str) -> bool:
    """A dotted DNS name that is not a loopback alias (``localhost``, ``localhost.localdomain``)."""
    name = name.lower().rstrip(".")
    labels = name.split(".")
    return bool(_DOMAIN.fullmatch(name)) and "localhost" not in labels and labels[-1] != "localdomain"


def message_id_domain(sender: str | None) -> str:
    """The domain on the right of ``@`` in a Message-ID (RFC 5322 3.6.4).

    The sender address's domain when it is a real one: the organisation owns it, it is the same
    on every worker (a Celery worker in a container is often named ``3f9c2a`` with no domain),
    and mail filters like a Message-ID on the From domain. Else the machine's fully qualified
    name, when it has a dot. Else :data:`FALLBACK_DOMAIN`. Uniqueness comes from the left-hand
    side (:func:`email.utils.make_msgid`: time, process id and a random number).

    Examples
    --------
    >>> message_id_domain("Fraud ops <fraudcal@ops.example.com>")
    'ops.example.com'
    """
    domain = parseaddr(sender or "")[1].rpartition("@")[2]
    if _is_real_domain(domain):
        return domain.lower()
    fqdn = socket.getfqdn()
    if _is_real_domain(fqdn):
        return fqdn.lower().rstrip(".")
    return FALLBACK_DOMAIN


def stamp_origin(message: EmailMessage, now: datetime | None = None) -> None:
    """Set ``Date`` (``now``, UTC) and ``Message-ID`` (on the From domain) unless already set."""
    if not message["Date"]:
        message["Date"] = format_datetime((now or datetime.now(UTC)).astimezone(UTC))
    if not message["Message-ID"]:
        message["Message-ID"] = make_msgid(domain=message_id_domain(message["From"]))


def build_message(
    *,
    subject: str,
    sender: str | None,
    recipients: list[str],
    html: str,
    charts: dict[str, bytes],
    csv_text: str | None,
    csv_name: str = "coverage_report.csv",
) -> EmailMessage:
    """multipart/mixed( multipart/related( text/plain|text/html, image/png cid parts ), text/csv ).

    ``Date`` and ``Message-ID`` are set when the message is sent (:func:`send_message`), once
    its sender is known.
    """
    # RFC 5322 allows 998-character lines; Python's folding at 78 splits "Subject:" from its
    # value and clients then show a leading space.
    message = EmailMessage(policy=email_policy.SMTP.clone(max_line_length=998))
    message["Subject"] = subject
    if sender:
        message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(f"{subject}\n\nThis report is HTML; the tables are attached as CSV.")
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[-1]
    for name, data in charts.items():
        html_part.add_related(data, maintype="image", subtype="png", cid=f"<{name}>", filename=name)
    if csv_text is not None:
        message.add_attachment(csv_text.encode("utf-8"), maintype="text", subtype="csv", filename=csv_name)
    return message


def send_message(message: EmailMessage, smtp_conn_id: str) -> None:
    """Send through the SMTP provider's hook (connection, TLS and login from ``smtp_conn_id``)."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=smtp_conn_id) as hook:
        # The hook's own send_email_smtp attaches files as application/octet-stream; charts must be
        # image/png parts of a multipart/related body for mail clients to show them inline, so the
        # message is built here and sent on the hook's authenticated client.
        if not message["From"]:
            message["From"] = hook.from_email or "fraudcal@localhost"
        stamp_origin(message)
        recipients = [address.strip() for address in message["To"].split(",")]
        hook._smtp_client.sendmail(message["From"], recipients, message.as_bytes())


def run_url(dag_id: str, run_id: str) -> str:
    """Link to the run in the Airflow UI (``[api] base_url``)."""
    from urllib.parse import quote

    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="http://localhost:8080")
    except Exception:  # noqa: BLE001 - a link must never fail a report
        base = "http://localhost:8080"
    return f"{base.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
