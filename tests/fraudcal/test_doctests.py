"""The examples in the core's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import fraudcal

MODULES = sorted(module.name for module in pkgutil.iter_modules(fraudcal.__path__, "fraudcal."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_of_each_module_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0


def test_the_public_functions_carry_examples():
    attempted = {name: doctest.testmod(importlib.import_module(name), verbose=False).attempted for name in MODULES}
    # conformal_rank, interval_bounds, wilson_interval and the input checks each show one.
    for name in ("fraudcal.conformal", "fraudcal.coverage", "fraudcal.inputs"):
        assert attempted[name] >= 3, attempted
    assert sum(attempted.values()) >= 20, attempted
