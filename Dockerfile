# The Airflow image for fraudcal: the official image plus the pinned requirements.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /requirements.txt
# The image already holds apache-airflow==3.3.2; the pins in requirements.txt agree with it.
RUN pip install --no-cache-dir -r /requirements.txt && python -m compileall -q /home/airflow/.local || true
ENV PYTHONPATH=/opt/airflow/include:/opt/airflow/plugins
