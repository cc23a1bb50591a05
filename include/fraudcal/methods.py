"""Which calibration methods a model's set carries, and which one the online service uses.

A calibration run computes the residual set of DESIGN.md section 4 in every case (its numbers
are the payload's version-1 fields, which older readers use), and the further methods its
Params name: ``methods`` (a list drawn from :data:`fraudcal.defaults.METHODS`; by default
:data:`fraudcal.defaults.DEFAULT_METHODS`, without ``mondrian_aci``, whose levels adapt only as
labels mature) and ``default_method`` (the one the online service uses when it asks for none). This module
checks that pair once, for the trigger form's validation and for the step, and raises a
named error for each way it can be wrong. It imports nothing but :mod:`fraudcal.defaults`,
so that Param code can use it without loading numpy.

Examples
--------
>>> checked_methods(["venn_abers", "mondrian"], "mondrian")
('mondrian', 'venn_abers')
>>> checked_methods(["mondrian_aci", "residual", "mondrian"], "mondrian")
('residual', 'mondrian', 'mondrian_aci')
>>> checked_methods(["mondrian", "isotonic"], "mondrian")
Traceback (most recent call last):
...
fraudcal.methods.UnknownMethodError: methods: 'isotonic' is not a calibration method; choose from residual, mondrian, venn_abers, mondrian_aci
"""

from __future__ import annotations

from collections.abc import Iterable

from fraudcal.defaults import METHODS


class MethodSelectionError(ValueError):
    """Raised when the ``methods`` / ``default_method`` Params are not a valid selection."""


class UnknownMethodError(MethodSelectionError):
    """A name in ``methods`` (or ``default_method``) is not one of :data:`fraudcal.defaults.METHODS`."""


class EmptyMethodsError(MethodSelectionError):
    """``methods`` names no method at all."""


class DuplicateMethodError(MethodSelectionError):
    """``methods`` names a method twice."""


class DefaultMethodNotSelectedError(MethodSelectionError):
    """``default_method`` is not among the selected ``methods``."""


def checked_methods(methods: Iterable[str], default_method: str) -> tuple[str, ...]:
    """Return the selected methods in :data:`~fraudcal.defaults.METHODS` order, or refuse them.

    Parameters
    ----------
    methods : iterable of str
        The Param ``methods``: a non-empty list of distinct method names.
    default_method : str
        The Param ``default_method``: one of ``methods``.

    Returns
    -------
    tuple of str
        The methods, in the canonical order (so that the payload does not depend on how the
        form listed them).

    Raises
    ------
    EmptyMethodsError
        If ``methods`` is empty.
    UnknownMethodError
        If a name (or ``default_method``) is not a calibration method; names the value.
    DuplicateMethodError
        If a name appears twice.
    DefaultMethodNotSelectedError
        If ``default_method`` is not among ``methods``.

    Examples
    --------
    >>> checked_methods([], "mondrian")
    Traceback (most recent call last):
    ...
    fraudcal.methods.EmptyMethodsError: methods is empty; choose at least one of residual, mondrian, venn_abers, mondrian_aci
    >>> checked_methods(["residual"], "mondrian")
    Traceback (most recent call last):
    ...
    fraudcal.methods.DefaultMethodNotSelectedError: default_method 'mondrian' is not among methods ['residual']
    """
    if isinstance(methods, str):  # "mondrian" would otherwise read as m, o, n, ...
        raise UnknownMethodError(f"methods must be a list of names, not the string {methods!r}")
    selected = list(methods)
    choices = ", ".join(METHODS)
    if not selected:
        raise EmptyMethodsError(f"methods is empty; choose at least one of {choices}")
    for name in selected:
        if name not in METHODS:
            raise UnknownMethodError(f"methods: {name!r} is not a calibration method; choose from {choices}")
    repeated = sorted({name for name in selected if selected.count(name) > 1})
    if repeated:
        raise DuplicateMethodError(f"methods names {', '.join(repeated)} more than once: {selected}")
    if default_method not in METHODS:
        raise UnknownMethodError(
            f"default_method: {default_method!r} is not a calibration method; choose from {choices}"
        )
    if default_method not in selected:
        raise DefaultMethodNotSelectedError(f"default_method {default_method!r} is not among methods {selected}")
    return tuple(name for name in METHODS if name in selected)
