"""One module of exercises per notebook: ``ch01`` belongs to notebook 01, and so on.

Each module defines its exercises as module-level objects (``q1 = ValueExercise("title", ...)``) built
from the classes in :mod:`tensorlab.checking`, and ends with ``name_exercises(globals())``, which names
each exercise after its attribute, so a name is written once; the notebook imports it as ``ex`` and calls
``ex.q1.check(answer)`` after each exercise. The solution to each exercise lives in the solution
notebook (between the solution markers); what is expected, how it is judged and the hints live here.
"""

from __future__ import annotations

from types import ModuleType

from tensorlab.checking import Exercise


def exercises_of(module: ModuleType) -> dict[str, Exercise]:
    """The exercises a module defines, by name, in the order q1, q2, ..."""
    found = {name: value for name, value in vars(module).items() if isinstance(value, Exercise)}
    return dict(sorted(found.items(), key=lambda item: (len(item[0]), item[0])))


def name_exercises(namespace: dict) -> None:
    """Name every exercise in a module's namespace after the attribute that holds it (``q1``)."""
    for attribute, value in namespace.items():
        if isinstance(value, Exercise):
            value.name = attribute
