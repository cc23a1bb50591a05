"""Development-only tooling of fraudcal: demos, tests, benchmarks and the local Airflow.

Finding or starting PostgreSQL and Redis (:mod:`.services`) under the rule that they write only
to scratch (:mod:`.scratch`), the service URLs as Airflow
connections (:mod:`.connection_urls`), the synthetic prediction log's loader and the demo data,
the local mail sink, ``dag.test()`` helpers (:mod:`.dagtest`) and the local Airflow stack of
``make airflow`` (:mod:`.airflow_stack`). The thin command-line entry points live in
``scripts/``; the tests import from here.

Never imported by DAGs or plugins (``fraudcal`` and ``fraudcal_airflow`` do not know this package),
and not shipped in the Docker image. ``make install`` puts ``dev/`` on the virtualenv's path.
"""
