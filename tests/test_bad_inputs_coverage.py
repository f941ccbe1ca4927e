"""Every public callable of the library is in a bad-input table, or exempt with a reason.

A public callable is a function or class in a module's ``__all__`` (or, for a
module without one, any public function or class) defined in that module, not
re-exported, and every public method a class defines itself.
It counts as covered when a case of its module's table
(``tests/test_bad_inputs_<table>.py``) has an id whose first word names it:
``ssm.LinearSSM dt=nan`` covers ``LinearSSM``, ``maml.MetaMAMLTrainer.predict
numpy`` covers ``MetaMAMLTrainer.predict``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ssm_metarl

# module (after ``ssm_metarl.``) -> the table that holds its cases; others use their own name.
TABLE_OF = {
    "envs": "envs", "adaptation": "adaptation",
    "navigation_runs": "runs", "metaworld_runs": "runs", "sinusoid_runs": "runs",
    "bandit_runs": "runs",
}



def _exempt() -> dict[str, str]:
    """Each table's ``EXEMPT = {qualified name: reason}``: callables that take no
    argument that could be wrong, or records the library builds and returns
    (their fields are checked by the function that makes them)."""
    exempt = {}
    for table in sorted({_table(m) for m in _public_modules()}):
        try:
            exempt.update(getattr(importlib.import_module(f"test_bad_inputs_{table}"),
                                  "EXEMPT", {}))
        except ModuleNotFoundError:
            pass
    return exempt




def _public_modules():
    for info in pkgutil.walk_packages(ssm_metarl.__path__, "ssm_metarl."):
        parts = info.name.split(".")[1:]
        if parts[0] == "exercises" or any(part.startswith("_") for part in parts):
            continue
        yield info.name


def _table(module_name: str) -> str:
    first = module_name.split(".")[1]
    return TABLE_OF.get(first, first)


def public_callables():
    """(table, qualified name, name path) for every public function, class and method."""
    found = []
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:  # no __all__: every public function and class defined here
            names = [n for n, v in vars(module).items() if not n.startswith("_")
                     and (inspect.isfunction(v) or inspect.isclass(v))]
        for name in names:
            value = getattr(module, name)
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            if value.__module__ != module_name:
                continue  # re-exported: covered where it is defined
            found.append((_table(module_name), f"{module_name}.{name}", (name,)))
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_"):
                        continue
                    if inspect.isfunction(member) or isinstance(member, (classmethod,
                                                                         staticmethod)):
                        found.append((_table(module_name), f"{module_name}.{name}.{attr}",
                                      (name, attr)))
    return found


def _named(case_id: str, path: tuple[str, ...]) -> bool:
    words = case_id.split()[0].split(".")
    return any(tuple(words[i:i + len(path)]) == path for i in range(len(words)))


def _cases(table: str):
    try:
        return importlib.import_module(f"test_bad_inputs_{table}").CASES
    except ModuleNotFoundError:
        return []


EXEMPT = _exempt()


def test_every_public_callable_has_a_bad_input_case_or_a_reason():
    missing = []
    for table, qualified, path in public_callables():
        if qualified in EXEMPT:
            continue
        if not any(_named(case[0], path) for case in _cases(table)):
            missing.append(f"{qualified} (table test_bad_inputs_{table}.py)")
    assert not missing, f"{len(missing)} public callables without a bad-input case:\n" + \
        "\n".join(missing)


@pytest.mark.parametrize("qualified", sorted(EXEMPT))
def test_exemptions_name_real_callables_and_give_a_reason(qualified):
    names = {q for _, q, _ in public_callables()}
    assert qualified in names, f"{qualified} is not a public callable (stale exemption)"
    assert len(EXEMPT[qualified]) > 15, "say why it needs no bad-input case"
