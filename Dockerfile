# The Airflow image for fraudcal: the official image plus the pinned requirements.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /requirements.txt
# The image already holds apache-airflow==3.3.2; the pins in requirements.txt agree with it.
# Bytecode at build time, as `make install` does (--compile-bytecode): without it every Airflow
# process imports about three times slower. compileall's status is ignored (some packages ship
# files meant for other Python versions); pip's is not.
RUN pip install --no-cache-dir -r /requirements.txt \
    && (python -m compileall -q /home/airflow/.local || true)
ENV PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins
