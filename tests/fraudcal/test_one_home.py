"""Every fact the core owns has one home: checked on the core's source code.

These read the syntax tree of each core module, so that a second copy of the interval
formula or of a supported level cannot come back unnoticed.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import fraudcal
from fraudcal import defaults
from fraudcal.drift import DriftThresholds

CORE = Path(fraudcal.__file__).parent
MODULES = sorted(CORE / f"{module.name}.py" for module in pkgutil.iter_modules(fraudcal.__path__))
#: Parameters whose default is a shared fact: it must be a name from fraudcal.defaults.
SHARED_PARAMETERS = {"level", "levels", "coverage_level", "width_level", "narrow_threshold", "min_samples"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _enclosing_functions(tree: ast.Module) -> dict[ast.AST, str]:
    """Map every node to the name of the function it is written in ('' at module level)."""
    owner: dict[ast.AST, str] = {}

    def visit(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else name
            owner[child] = inner
            visit(child, inner)

    visit(tree, "")
    return owner


def test_the_core_has_the_modules_the_package_docstring_lists():
    listed = {
        line.strip() for line in fraudcal.__doc__.split("Modules\n-------\n")[1].splitlines() if line[:1].isalpha()
    }
    assert listed == {path.stem for path in MODULES if path.stem != "__init__"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_only_interval_bounds_writes_the_interval_formula(path):
    tree = _tree(path)
    owner = _enclosing_functions(tree)
    clamps = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"maximum", "minimum"}
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in (0, 1)
    ]
    places = {(path.stem, owner[node]) for node in clamps}
    assert places <= {("conformal", "interval_bounds")}, places


# synthetic.py is left out: its numbers describe the simulated log (e.g. a 90-day period). online.py
# is left out because it is vendored alone: it carries copies, pinned by test_online_standalone.py.
@pytest.mark.parametrize(
    "path",
    [path for path in MODULES if path.stem not in ("defaults", "synthetic", "online")],
    ids=lambda path: path.stem,
)
def test_no_supported_level_is_written_outside_defaults(path):
    tree = _tree(path)
    literals = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and type(node.value) is int and node.value in (90, 95, 99)
    ]
    assert literals == [], f"{path.name}: levels written as numbers on lines {literals}"
    assigned = [
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name)
    ]
    shared_names = {name for name in vars(defaults) if name.isupper()}
    assert not set(assigned) & shared_names, f"{path.name} defines a name of fraudcal.defaults again"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.stem)
def test_shared_defaults_of_parameters_are_names_not_numbers(path):
    offenders = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.FunctionDef):
            arguments = node.args.args + node.args.kwonlyargs
            defaults_ = [None] * (len(node.args.args) - len(node.args.defaults)) + node.args.defaults
            defaults_ += node.args.kw_defaults
            for argument, default in zip(arguments, defaults_, strict=True):
                if argument.arg in SHARED_PARAMETERS and isinstance(default, ast.Constant | ast.Tuple):
                    offenders.append(f"{node.name}({argument.arg}=...)")
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if node.target.id in SHARED_PARAMETERS and isinstance(node.value, ast.Constant | ast.Tuple):
                offenders.append(node.target.id)
    assert offenders == []


def test_drift_thresholds_default_to_the_shared_defaults():
    assert DriftThresholds() == DriftThresholds(
        pr_auc_drop=defaults.DEFAULT_PR_AUC_DROP,
        psi_warn=defaults.DEFAULT_PSI_WARN,
        psi_alert=defaults.DEFAULT_PSI_ALERT,
        band_sigmas=defaults.DEFAULT_BAND_SIGMAS,
        coverage_level=defaults.DEFAULT_LEVEL,
    )
    assert defaults.DEFAULT_LEVEL in defaults.SUPPORTED_LEVELS
