"""Airflow glue of fraudcal: hooks, SQL, validation, storage, publishing, Assets.

Modules here may import Airflow and the database/Redis clients, but only inside the
functions that need them: Airflow imports every file of the plugins folder, and DAG files
import these modules at parse time, which must stay cheap.
"""
