"""A local mail sink for ``make demo`` and ``make airflow``: a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from fraudcal_dev.services import free_port, stop_process


@contextlib.contextmanager
def local_mail_sink(maildir: Path) -> Iterator[int]:
    """A real SMTP server (aiosmtpd) that files every message in ``maildir``; yields its port."""
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Mailbox",
            str(maildir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a terminal's Ctrl-C must not stop it before Airflow has stopped
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the local mail sink (aiosmtpd) did not start")
            time.sleep(0.1)
        yield port
    finally:
        stop_process(server)


def smtp_connection(port: int, from_email: str, **extra: object) -> str:
    """``AIRFLOW_CONN_SMTP_DEFAULT`` for a local server: plain SMTP (the hook defaults to SSL and
    STARTTLS), plus any further connection ``extra`` (e.g. ``timeout``)."""
    return json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": from_email, **extra},
        }
    )
