"""``check_*`` functions for the exercise cells of every notebook.

Each notebook's checkers live in their own submodule and are re-exported here,
so an exercise cell only needs ``from ssm_metarl.exercises import check_...``.
"""

from ._core import ExerciseCheckFailed, assert_close, call_student, passed
from .welcome import check_euler_step

__all__ = [
    "ExerciseCheckFailed",
    "assert_close",
    "call_student",
    "passed",
    "check_euler_step",
]
