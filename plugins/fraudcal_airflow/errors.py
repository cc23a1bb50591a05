"""Errors that mean "the input is wrong", as opposed to "something broke".

An input error names the value and the rule it broke. It is an ``AirflowFailException``, so a
task that raises it fails at once: no retry can fix bad data, while a dropped connection or a
restarting Redis (any other exception) is retried with backoff. Each DAG's steps raise their
own subclass, so a log line says which kind of run was given bad input.
"""

from airflow.sdk.exceptions import AirflowFailException

from fraudcal import names


class InputError(AirflowFailException, ValueError):
    """Bad input: a Param, a connection, a file, or the data itself."""


class CalibrationInputError(InputError):
    """Bad input to ``calibrate_fraud_model``: a Param, a CSV file, or the labeled outcomes."""


class BackfillInputError(InputError):
    """Bad input to ``backfill_prediction_intervals`` or the daily repair."""


class ReportInputError(InputError):
    """Bad input to ``report_coverage`` or ``report_drift``."""


class ReplayInputError(InputError):
    """Bad input to ``replay_methods``: a Param, or a label in the log that is neither 0 nor 1."""


class UnsafeNameError(InputError, names.UnsafeNameError):
    """A model type or version that would reach a Redis key, a file name or a mail header but
    breaks :data:`fraudcal.names.SAFE_NAME_PATTERN` (e.g. ``v1:previous``, ``a/b``)."""


class VerificationError(AirflowFailException):
    """A check of written values failed: a defect to look at, which no retry can fix."""


class VersionFailedError(AirflowFailException):
    """A model version's calibration failed; raised by the leaf that keeps the run failed."""
