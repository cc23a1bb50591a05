"""Errors that mean "the input is wrong", as opposed to "something broke".

An input error fails a task at once (no retry can fix bad data) with a message that names
the value and the rule it broke.
"""


class CalibrationInputError(ValueError):
    """Bad input to a calibration run: a Param, a CSV file, or the labeled outcomes."""
