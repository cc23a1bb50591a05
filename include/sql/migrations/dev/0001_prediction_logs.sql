-- The two prediction logs, mirrored for local runs and tests (DESIGN.md 3.1).
-- Production already has them: this file is applied by `make schema` only, never by a DAG.
CREATE TABLE IF NOT EXISTS noc_fraud_prediction_log (
    id                        bigserial PRIMARY KEY,
    person_id                 bigint,
    site_id                   bigint,
    model_type                text NOT NULL,
    model_version             text NOT NULL,
    predicted_at              timestamptz NOT NULL DEFAULT now(),
    fraud_probability         double precision,
    risk_level                text CHECK (risk_level IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    actual_fraud_detected     boolean,
    prediction_lower_bound    double precision,
    prediction_upper_bound    double precision,
    confidence_interval_width double precision,
    calibration_score         double precision
);
CREATE INDEX IF NOT EXISTS fraud_pred_log_ci_width_idx
    ON noc_fraud_prediction_log (confidence_interval_width);
CREATE INDEX IF NOT EXISTS fraud_pred_log_model_time_idx
    ON noc_fraud_prediction_log (model_type, model_version, predicted_at);

CREATE TABLE IF NOT EXISTS ml_prediction_log (
    id                        bigserial PRIMARY KEY,
    model_type                text NOT NULL,
    model_version             text NOT NULL,
    predicted_at              timestamptz NOT NULL DEFAULT now(),
    prediction                double precision,
    actual_outcome            smallint,
    prediction_lower_bound    double precision,
    prediction_upper_bound    double precision,
    confidence_interval_width double precision,
    calibration_score         double precision
);
CREATE INDEX IF NOT EXISTS ml_pred_log_ci_width_idx
    ON ml_prediction_log (confidence_interval_width);
CREATE INDEX IF NOT EXISTS ml_pred_log_model_time_idx
    ON ml_prediction_log (model_type, model_version, predicted_at);
