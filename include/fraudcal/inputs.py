"""The core's input contract, checked at its door: probabilities and labels.

Every core function that takes labeled outcomes passes them through
:func:`checked_outcomes` first, so that bad input fails at once with an error that names the
first offending index, its value and the rule, instead of turning into a wrong number later:
a NaN probability would otherwise be counted in ``n`` and could become the conformal
quantile, and a label ``2``, ``NaN`` or ``'0'`` would be read as fraud.

The rules
---------
- probabilities are finite real numbers in ``[0, 1]``;
- labels are exactly 0 or 1: booleans, or numbers equal to 0 or 1 (``0.0``/``1.0`` too),
  never strings, NaN or any other number;
- probabilities and labels are one-dimensional and of the same length, and so is every
  per-row column that goes with them (:func:`checked_column`).

Examples
--------
>>> p, y = checked_outcomes([0.25, 0.75], [0, 1.0])
>>> p.tolist(), y.tolist()
([0.25, 0.75], [False, True])
>>> checked_labels([0, 1, 2])
Traceback (most recent call last):
...
fraudcal.inputs.InvalidOutcomesError: labels must be exactly 0 or 1 (bool, or a number equal to 0 or 1): index 2 is 2 (1 of 3 values break the rule)
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: The rule for probabilities, as the errors state it.
PROBABILITY_RULE = "finite numbers in [0, 1]"
#: The rule for labels, as the errors state it.
LABEL_RULE = "exactly 0 or 1 (bool, or a number equal to 0 or 1)"


class InvalidOutcomesError(ValueError):
    """Raised when probabilities or labels break the core's input contract."""


def _refuse(name: str, rule: str, array: np.ndarray, offending: NDArray[np.bool_]) -> InvalidOutcomesError:
    """Build the error naming the first offending index and value, and how many break the rule."""
    index = int(np.argmax(offending))
    value = array[index]
    # A plain Python value reads better than numpy's repr (``nan``, not ``np.float64(nan)``).
    shown = value.item() if isinstance(value, np.generic) else value
    return InvalidOutcomesError(
        f"{name} must be {rule}: index {index} is {shown!r} "
        f"({int(offending.sum())} of {array.size} values break the rule)"
    )


def _is_real_number(value: object, allow_bool: bool) -> bool:
    """True for int/float-like values (numpy scalars included), False for str, None, pd.NA.

    ``bool`` is a subclass of ``int`` in Python, so it is let through only when asked.
    """
    if isinstance(value, bool | np.bool_):
        return allow_bool
    return isinstance(value, numbers.Real)


def _one_dimensional(values: ArrayLike, name: str) -> np.ndarray:
    """Return ``values`` as a 1-D numpy array, or raise naming the shape it has."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidOutcomesError(f"{name} must be one-dimensional; got shape {array.shape}")
    return array


def _elements_are_numbers(values: ArrayLike, name: str, rule: str, allow_bool: bool) -> np.ndarray:
    """Return values of no numeric dtype as float64 if each is a number; else refuse the first.

    The values are looked at one by one as Python objects: numpy would turn ``[0, 1, "0"]``
    into three strings, and the error would then blame index 0 instead of index 2.
    """
    array = np.asarray(values, dtype=object)
    not_numbers = np.fromiter((not _is_real_number(value, allow_bool) for value in array), dtype=bool, count=array.size)
    if not_numbers.any():
        raise _refuse(name, rule, array, not_numbers)
    return array.astype(np.float64)


def checked_probabilities(values: ArrayLike, name: str = "probabilities") -> NDArray[np.float64]:
    """Return predicted probabilities as a float64 array, refusing anything but [0, 1].

    Parameters
    ----------
    values : array-like of shape (n,)
        Real numbers (any integer or float dtype, or Python numbers).
    name : str, default="probabilities"
        What the error message calls the values.

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    InvalidOutcomesError
        If a value is not a real number, NaN, infinite or outside [0, 1]; the message names
        the first offending index and value. Booleans are refused: a boolean column passed
        as probabilities is a mix-up of columns, not a probability.

    Examples
    --------
    >>> checked_probabilities([0, 0.5, 1]).tolist()
    [0.0, 0.5, 1.0]
    >>> checked_probabilities([0.1, float("nan")])
    Traceback (most recent call last):
    ...
    fraudcal.inputs.InvalidOutcomesError: probabilities must be finite numbers in [0, 1]: index 1 is nan (1 of 2 values break the rule)
    """
    array = _one_dimensional(values, name)
    if array.dtype.kind not in "iuf":
        array = _elements_are_numbers(values, name, PROBABILITY_RULE, allow_bool=False)
    probabilities = array.astype(np.float64, copy=False)
    # NaN fails both comparisons, so one test covers NaN, infinities and the range.
    outside = ~((probabilities >= 0.0) & (probabilities <= 1.0))
    if outside.any():
        raise _refuse(name, PROBABILITY_RULE, probabilities, outside)
    return probabilities


def checked_labels(values: ArrayLike, name: str = "labels") -> NDArray[np.bool_]:
    """Return observed labels as a boolean array (True = fraud), refusing anything but 0 or 1.

    Parameters
    ----------
    values : array-like of shape (n,)
        Booleans, or numbers (any integer or float dtype) equal to 0 or 1.
    name : str, default="labels"
        What the error message calls the values.

    Returns
    -------
    ndarray of bool, shape (n,)

    Raises
    ------
    InvalidOutcomesError
        If a value is a string, None, NaN or a number other than 0 and 1; the message names
        the first offending index and value.

    Examples
    --------
    >>> checked_labels([0.0, 1.0, True]).tolist()
    [False, True, True]
    >>> checked_labels(["0", "1"])
    Traceback (most recent call last):
    ...
    fraudcal.inputs.InvalidOutcomesError: labels must be exactly 0 or 1 (bool, or a number equal to 0 or 1): index 0 is '0' (2 of 2 values break the rule)
    """
    array = _one_dimensional(values, name)
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind not in "iuf":
        array = _elements_are_numbers(values, name, LABEL_RULE, allow_bool=True)
    # NaN differs from both 0 and 1, so it is refused here as well.
    neither = (array != 0) & (array != 1)
    if neither.any():
        raise _refuse(name, LABEL_RULE, array, neither)
    return array == 1


def checked_outcomes(probabilities: ArrayLike, labels: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Return checked probabilities and labels of the same labeled outcomes.

    Parameters
    ----------
    probabilities, labels : array-like of shape (n,)
        See :func:`checked_probabilities` and :func:`checked_labels`.

    Returns
    -------
    probabilities : ndarray of float64, shape (n,)
    labels : ndarray of bool, shape (n,)

    Raises
    ------
    InvalidOutcomesError
        If either breaks its rule, or their lengths differ.

    Examples
    --------
    >>> checked_outcomes([0.2, 0.4], [1])
    Traceback (most recent call last):
    ...
    fraudcal.inputs.InvalidOutcomesError: probabilities and labels must be of the same length; got 2 and 1
    """
    p = checked_probabilities(probabilities)
    y = checked_labels(labels)
    if p.shape != y.shape:
        raise InvalidOutcomesError(
            f"probabilities and labels must be of the same length; got {p.shape[0]} and {y.shape[0]}"
        )
    return p, y


def checked_column(values: ArrayLike, n: int, name: str) -> np.ndarray:
    """Return a column that goes with ``n`` checked outcomes as a 1-D array of length ``n``.

    For the per-row companions of probabilities and labels (days, risk flags, quantiles):
    their values have rules of their own, their length must match.

    Raises
    ------
    InvalidOutcomesError
        If the column is not one-dimensional or its length is not ``n``.

    Examples
    --------
    >>> checked_column([0.1, 0.2, 0.3], 2, "quantiles[90]")
    Traceback (most recent call last):
    ...
    fraudcal.inputs.InvalidOutcomesError: quantiles[90] must hold one value per outcome (2); got 3
    """
    array = _one_dimensional(values, name)
    if array.shape[0] != n:
        raise InvalidOutcomesError(f"{name} must hold one value per outcome ({n}); got {array.shape[0]}")
    return array
