"""Report e-mails: one message layout, sent through the SMTP provider's hook.

Mail clients block remote and base64 images and run no JavaScript, so a report is static HTML
whose charts are ``image/png`` parts referenced by ``cid:``, in a ``multipart/related`` body.
"""

from __future__ import annotations

from email import policy as email_policy
from email.message import EmailMessage
from email.utils import make_msgid


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
    """multipart/mixed( multipart/related( text/plain|text/html, image/png cid parts ), text/csv )."""
    # RFC 5322 allows 998-character lines; Python's folding at 78 splits "Subject:" from its
    # value and clients then show a leading space.
    message = EmailMessage(policy=email_policy.SMTP.clone(max_line_length=998))
    message["Subject"] = subject
    if sender:
        message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(domain="fraudcal")
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
