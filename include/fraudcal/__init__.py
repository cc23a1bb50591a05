"""fraudcal: conformal calibration of a fraud model's scores.

The core library. It works on arrays of predicted probabilities and labels and knows
nothing of Airflow, PostgreSQL, Redis or Great Expectations, so every number it produces
can be checked in a plain Python session.

Modules
-------
conformal
    The residual split-conformal method of DESIGN.md section 4: scores, the exact rank k,
    the quantile q, intervals and the narrow flag.
metrics
    Calibration metrics (ECE on equal-mass bins, Brier) and the summary statistics the
    operators read.
calibration_set
    One calibration set: computed from a window of labeled outcomes, turned into the Redis
    payload of DESIGN.md section 3.3.
online
    What the online service does with a payload and a new score.
synthetic
    A seeded, XGBoost-scored synthetic prediction log for demos, tests and benchmarks.
"""

__version__ = "0.1.0"
