"""Checkers for notebook 01 (SSM dynamics).

Glossary: N state size, L kernel length, B batch, D channels of a scan.

Each checker calls the student's function on seeded inputs and compares with
the tested library (:mod:`ssm_metarl.ssm`, :mod:`ssm_metarl.scan`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..scan import scan_reference
from ..ssm import discretize_zoh, s4d_init, ssm_kernel
from ._core import ExerciseCheckFailed, assert_close, call_student, passed


def _pair(name: str, result: Any) -> tuple[Any, Any]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise ExerciseCheckFailed(
            f"{name}: expected a pair (A_bar, B_bar), got {type(result).__name__}."
        )
    return result[0], result[1]


def _diagonal_systems(gen: torch.Generator) -> list[tuple[str, torch.Tensor, torch.Tensor, float]]:
    """A complex S4D-Lin system and a real one, both (N,) with B (N,)."""
    complex_A = s4d_init(8, "lin", dtype=torch.complex128)
    complex_B = torch.randn(8, generator=gen, dtype=torch.complex128)
    real_A = -torch.rand(6, generator=gen, dtype=torch.float64) * 5 - 0.1
    real_B = torch.randn(6, generator=gen, dtype=torch.float64)
    return [("complex S4D-Lin A", complex_A, complex_B, 0.05), ("real A", real_A, real_B, 0.3)]


def check_discretize_zoh_diagonal(fn: Callable[..., Any]) -> None:
    """Check ``fn(A, B, dt) -> (A_bar, B_bar)``: zero-order hold of a diagonal SSM.

    A (N,) real or complex, B (N,), dt a float; expected
    A_bar = exp(dt A), B_bar = (exp(dt A) - 1) / A * B, each (N,).
    """
    gen = torch.Generator().manual_seed(1)
    for label, A, B, dt in _diagonal_systems(gen):
        A_bar, B_bar = _pair("discretize_zoh", call_student("discretize_zoh", fn, A, B, dt))
        expected_A_bar, expected_B_bar = discretize_zoh(A, B[:, None], dt)
        assert_close(
            f"A_bar ({label}, dt={dt})",
            A_bar,
            expected_A_bar,
            atol=1e-10,
            hint="A_bar = exp(dt * A), elementwise for a diagonal A",
        )
        assert_close(
            f"B_bar ({label}, dt={dt})",
            B_bar,
            expected_B_bar[:, 0],
            atol=1e-10,
            hint="B_bar = (exp(dt * A) - 1) / A * B",
        )
    passed("discretize_zoh", "matches the library's ZOH on a complex and a real diagonal A")


def check_ssm_kernel(fn: Callable[..., Any]) -> None:
    """Check ``fn(A_bar, B_bar, C, L) -> K``: kernel of a diagonal SSM.

    A_bar, B_bar, C complex (N,), L int; expected K (L,) complex with
    K_l = sum_n C_n B_bar_n A_bar_n^l.
    """
    gen = torch.Generator().manual_seed(2)
    A_bar, B_bar = discretize_zoh(
        s4d_init(8, "inv", dtype=torch.complex128), torch.ones(8, 1, dtype=torch.complex128), 0.1
    )
    C = torch.randn(8, generator=gen, dtype=torch.complex128)
    L = 32
    K = call_student("ssm_kernel", fn, A_bar, B_bar[:, 0], C, L)
    assert_close(
        "K",
        K,
        ssm_kernel(A_bar, B_bar[:, 0], C, L),
        atol=1e-10,
        hint="K_l = sum_n C_n * B_bar_n * A_bar_n**l for l = 0..L-1 (K_0 = sum C*B_bar)",
    )
    passed("ssm_kernel", f"matches the library's kernel for L={L}, N=8 complex modes")


def check_scan_step(fn: Callable[..., Any]) -> None:
    """Check ``fn(h_prev, a_t, b_t, reset_t) -> h_t``: one scan step with reset.

    h_prev, a_t, b_t (B, D), reset_t bool (B,); expected
    h_t = a_t * h_prev + b_t, with h_prev replaced by 0 where reset_t is True.
    """
    gen = torch.Generator().manual_seed(3)
    h_prev, a_t, b_t = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    reset_t = torch.tensor([False, True, False, True, False, False])
    h_t = call_student("scan_step", fn, h_prev, a_t, b_t, reset_t)
    expected = scan_reference(a_t[:, None], b_t[:, None], h0=h_prev, reset=reset_t[:, None])
    assert_close(
        "h_t",
        h_t,
        expected[:, 0],
        atol=1e-10,
        hint="h_t = a_t * h_prev + b_t; rows with reset_t True start from h_prev = 0",
    )
    passed("scan_step", "matches the reference scan on 6 rows, 2 of them reset")
