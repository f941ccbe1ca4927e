"""Checkers for notebook 00 (welcome)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._core import assert_close, call_student, exercise_check, passed


@exercise_check
def check_euler_step(euler_step: Callable[..., torch.Tensor]) -> None:
    """Check ``euler_step(x, u, a, b, dt) -> x + dt * (a * x + b * u)``.

    One forward-Euler step of the scalar SSM ``x' = a x + b u`` (notebook 00).
    Compared on a seeded batch against the closed form above.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, generator=gen, dtype=torch.float64)
    u = torch.randn(7, generator=gen, dtype=torch.float64)
    a, b, dt = -0.7, 1.3, 0.05
    expected = x + dt * (a * x + b * u)
    got = call_student("euler_step", euler_step, x, u, a, b, dt)
    assert_close(
        "euler_step", got, expected, atol=1e-10,
        hint="x_{k+1} = x_k + dt * (a * x_k + b * u_k)",
    )
    passed("euler_step", "matches x + dt*(a*x + b*u) on 7 seeded states")
