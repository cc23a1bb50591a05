"""Reports: figures → charts and HTML → archive → e-mail, shared by both report DAGs.

``render``
    The one Jinja2 environment (autoescape, StrictUndefined), the one PNG chart helper, and
    :func:`~fraudcal_airflow.reporting.render.json_ready` for figures that go to JSON.
``mail``
    The multipart message (HTML with ``cid:`` charts, CSV) and sending it through the SMTP
    provider's hook; the link to a run in the Airflow UI.
``archive``
    Files in the artifacts folder (``report.html`` for a browser, charts inlined; ``mail.html``,
    what is sent) and the ``fraudcal.report_runs`` row, written before a send.
``coverage``, ``drift``
    What each report shows: charts, subject, HTML and CSV of ``report_coverage`` and
    ``report_drift``. The numbers themselves come from the core (:mod:`fraudcal.coverage`,
    :mod:`fraudcal.drift`).
"""
