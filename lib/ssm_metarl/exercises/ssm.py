"""Checkers for notebooks 01a and 01b (SSM dynamics; selective SSMs and the SSD).

Glossary: N state size, L kernel length, B batch, D channels of a scan;
for the SSD, Q chunk size and P head dim.

Each checker calls the student's function on seeded inputs and compares with
the tested library (:mod:`ssm_metarl.ssm`, :mod:`ssm_metarl.scan`,
:mod:`ssm_metarl.ssd`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .. import scan, ssd
from .. import ssm as ssm_module
from ..scan import scan_reference
from ..ssm import discretize_zoh, s4d_init, ssm_kernel
from ._core import ExerciseCheckFailed, assert_close, call_student, exercise_check, passed


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


@exercise_check(forbid=(discretize_zoh,))
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


@exercise_check(forbid=(ssm_kernel,))
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


@exercise_check(forbid=(scan,))
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


def _chunk_case(resets: tuple[int, ...], seed: int) -> dict[str, torch.Tensor]:
    """One chunk of Q = 8 steps, P = 3, N = 5, float64, with resets at the given steps."""
    gen = torch.Generator().manual_seed(seed)
    steps, head_dim, state_size = 8, 3, 5
    reset = torch.zeros(steps, dtype=torch.bool)
    reset[list(resets)] = True
    return {
        "h_in": torch.randn(head_dim, state_size, generator=gen, dtype=torch.float64),
        "x": torch.randn(steps, head_dim, generator=gen, dtype=torch.float64),
        "log_a": -0.7 * torch.rand(steps, generator=gen, dtype=torch.float64),  # a in (0.5, 1]
        "B": torch.randn(steps, state_size, generator=gen, dtype=torch.float64),
        "reset": reset,
    }


def _library_chunk_state(case: dict[str, torch.Tensor]) -> torch.Tensor:
    """The state after the chunk: ``ssd_chunked`` on one sequence, one head, one chunk."""
    as_sequence = lambda t: t[None, :, None]  # (Q, ...) -> (B=1, Q, H=G=1, ...)
    _, final = ssd.ssd_chunked(
        as_sequence(case["x"]), as_sequence(case["log_a"]), as_sequence(case["B"]),
        as_sequence(torch.zeros_like(case["B"])), state=case["h_in"][None, None],
        reset=case["reset"][None], chunk_size=case["x"].shape[0],
    )
    return final[0, 0]


_CHUNK_HINTS = {
    "no reset": (
        "h_out = (a_0 a_1 ... a_{Q-1}) h_in + sum_s (a_{s+1} ... a_{Q-1}) x_s B_s^T with "
        "a_r = exp(log_a_r): the incoming state decays over all Q steps, the input of step s "
        "only over the steps after s, and x_s B_s^T is a (P, N) outer product."
    ),
    "reset": (
        "a reset at step r zeroes the state before step r: the incoming state and every "
        "input before the last reset are gone; an input at or after the last reset decays "
        "to the chunk end as without resets."
    ),
}


@exercise_check(forbid=(ssd,))
def check_ssd_chunk_state(fn: Callable[..., Any]) -> None:
    """Check ``fn(h_in, x, log_a, B, reset) -> h_out``: the state one chunk hands to the next.

    One head of the SSD (:mod:`ssm_metarl.ssd`) over one chunk of Q steps:
    h_in (P, N) the state entering the chunk, x (Q, P), log_a (Q,) log-decays,
    B (Q, N), reset (Q,) bool. Expected h_out (P, N), the state after the last
    step of ``h_t = a_t h_{t-1} + x_t B_t^T`` (``h_{t-1} := 0`` where reset),
    as :func:`ssm_metarl.ssd.ssd_chunked` computes it. A solution that calls
    the functions of :mod:`ssm_metarl.ssd` is refused.
    """
    cases = [("no reset", (), 11), ("a reset at step 3", (3,), 12),
             ("resets at steps 2 and 5", (2, 5), 13), ("a reset at step 0", (0,), 14)]
    for label, resets, seed in cases:
        case = _chunk_case(resets, seed)
        expected = _library_chunk_state(case)
        got = call_student("chunk_end_state", fn, *(v.clone() for v in case.values()))
        assert_close(f"h_out ({label})", got, expected, atol=1e-10,
                     hint=_CHUNK_HINTS["reset" if resets else "no reset"])
    passed("chunk_end_state", "matches the library's chunk state without resets and with "
           "resets at steps 0, 3, and 2 and 5")


RECURRENCE_HINT = ("y_t = sum_n C_n h_t[n] reads the state after u_t entered it, "
                   "h_t = A_bar * h_{t-1} + B_bar * u_t with h_{-1} = 0, so y_0 = "
                   "sum C * B_bar * u_0 (the kernel's K_0 multiplies the current input).")


@exercise_check(forbid=(ssm_module, scan), bug_hunt=True)
def check_ssm_recurrence(fn: Callable[..., Any]) -> None:
    """Find the bug: check ``fn(A_bar, B_bar, C, u) -> y``, the recurrent mode of a diagonal SSM.

    A_bar, B_bar, C complex (N,), u real (L,); expected y complex (L,) with
    h_t = A_bar h_{t-1} + B_bar u_t (h_{-1} = 0), y_t = sum_n C_n h_t[n]: the
    same numbers as the convolution y = K * u with K from :func:`check_ssm_kernel`.
    """
    gen = torch.Generator().manual_seed(5)
    for label, n, length in (("N=4, L=12", 4, 12), ("N=8, L=40", 8, 40)):
        A_bar, B_bar = discretize_zoh(s4d_init(n, "lin", dtype=torch.complex128),
                                      torch.ones(n, 1, dtype=torch.complex128), 0.1)
        B_bar = B_bar[:, 0] * torch.randn(n, generator=gen, dtype=torch.complex128)
        C = torch.randn(n, generator=gen, dtype=torch.complex128)
        u = torch.randn(length, generator=gen, dtype=torch.float64)
        y = call_student("ssm_recurrence", fn, A_bar, B_bar, C, u)
        K = ssm_kernel(A_bar, B_bar, C, length)
        expected = torch.stack([(K[: t + 1].flip(0) * u[: t + 1]).sum() for t in range(length)])
        assert_close(f"y ({label})", y, expected, atol=1e-10, hint=RECURRENCE_HINT)
    passed("ssm_recurrence", "the recurrent mode equals the convolution with the SSM kernel")


S4D_HINTS = {
    "kernel": "ZOH: A_bar = exp(dt A), B_bar = (A_bar - 1) / A (B = 1 in S4D), then the real "
              "kernel K[h, l] = 2 Re(sum_n C[h, n] B_bar[h, n] A_bar[h, n]**l)",
    "conv": "your kernel (the response to an impulse at t = 0) is right; the convolution is "
            "not. y[b, t, h] = sum_{l <= t} K[h, l] u[b, t - l, h]: an FFT computes a CIRCULAR "
            "convolution, so pad u and K with zeros to length >= 2L - 1 first, then keep the "
            "first L outputs",
}


def _s4d_recurrent(A: torch.Tensor, C: torch.Tensor, dt: torch.Tensor,
                   u: torch.Tensor) -> torch.Tensor:
    """The independent oracle: h_t = A_bar h_{t-1} + B_bar u_t, y_t = 2 Re(C h_t)."""
    A_bar = torch.exp(dt[:, None] * A)
    B_bar = (A_bar - 1) / A
    h = torch.zeros(u.shape[0], *A.shape, dtype=A.dtype)
    ys = []
    for t in range(u.shape[1]):
        h = A_bar * h + B_bar * u[:, t, :, None]
        ys.append(2 * (C * h).sum(-1).real)
    return torch.stack(ys, dim=1)


def _kernel_is_right(fn: Callable[..., Any], A, C, dt, length: int) -> bool:
    """Whether the student's response to an impulse at t = 0 (the kernel itself) is right."""
    impulse = torch.zeros(1, length, A.shape[0], dtype=torch.float64)
    impulse[:, 0] = 1.0
    response = call_student("s4d_convolution", fn, A, C, dt, impulse)
    return (isinstance(response, torch.Tensor) and response.shape == impulse.shape
            and not response.is_complex() and torch.allclose(
                response.detach().double(), _s4d_recurrent(A, C, dt, impulse), atol=1e-9))


@exercise_check(forbid=(ssm_module, scan))
def check_s4d_convolution(fn: Callable[..., Any]) -> None:
    """Larger exercise: check ``fn(A, C, dt, u) -> y``, an S4D layer's convolution from scratch.

    A, C complex (H, N) (A the continuous diagonal, real part < 0), dt real
    (H,), u real (Bt, L, H); expected y real (Bt, L, H): ZOH discretisation,
    the real kernel 2 Re(sum_n C B_bar A_bar^l) (Gu et al. 2022, S4D, Sec. 3)
    and the causal convolution of each channel by FFT. Compared with the
    recurrence, which gives the same numbers (the SSM's two modes).
    """
    gen = torch.Generator().manual_seed(8)
    cases = (("H=2, N=4, L=16", 2, 4, 16), ("H=3, N=8, L=37 (not a power of 2)", 3, 8, 37))
    for label, h, n, length in cases:
        A = torch.complex(-torch.rand(h, n, generator=gen, dtype=torch.float64) - 0.1,
                          torch.pi * torch.arange(n, dtype=torch.float64).expand(h, n))
        C = torch.randn(h, n, generator=gen, dtype=torch.complex128)
        dt = torch.exp(torch.rand(h, generator=gen, dtype=torch.float64) * -3.0 - 1.0)
        u = torch.randn(2, length, h, generator=gen, dtype=torch.float64)
        y = call_student("s4d_convolution", fn, A, C, dt, u)
        expected = _s4d_recurrent(A, C, dt, u)
        if isinstance(y, torch.Tensor) and y.is_complex():
            raise ExerciseCheckFailed(f"s4d_convolution ({label}): expected a real y; the "
                                      "kernel is 2 Re(...), a real signal.")
        right = (isinstance(y, torch.Tensor) and y.shape == expected.shape
                 and torch.allclose(y.detach().double(), expected, atol=1e-9, rtol=1e-7))
        hint = "" if right else S4D_HINTS[
            "conv" if _kernel_is_right(fn, A, C, dt, length) else "kernel"]
        assert_close(f"y ({label})", y, expected, atol=1e-9, rtol=1e-7, hint=hint)
    passed("s4d_convolution", "the FFT convolution equals the S4D recurrence on two layers")


MASK_HINT = ("L[t, s] = prod_{s < r <= t} a_r = exp(sum of log_a over r = s+1 .. t) for s <= t, "
             "and 0 above the diagonal (s > t); the diagonal is 1: step t's own input is "
             "not decayed at step t")


def _oracle_mask(log_a: torch.Tensor) -> torch.Tensor:
    """(L,) log-decays -> (L, L) mask, entry by entry (an independent oracle)."""
    length = log_a.shape[0]
    mask = torch.zeros(length, length, dtype=log_a.dtype)
    for t in range(length):
        for s in range(t + 1):
            mask[t, s] = torch.exp(log_a[s + 1 : t + 1].sum())
    return mask


@exercise_check(forbid=(ssd,), bug_hunt=True)
def check_ssd_mask(fn: Callable[..., Any]) -> None:
    """Find the bug: check ``fn(log_a) -> mask``, the 1-semiseparable mask of one SSD head.

    log_a (L,) log-decays; expected mask (L, L) with mask[t, s] = prod_{s < r <= t} a_r
    for s <= t and 0 above the diagonal (Dao & Gu 2024, Sec. 3.2), the same
    numbers as :func:`ssm_metarl.ssd.semiseparable_mask` for one head.
    """
    gen = torch.Generator().manual_seed(21)
    for label, length in (("L=6", 6), ("L=17", 17)):
        log_a = -0.8 * torch.rand(length, generator=gen, dtype=torch.float64)
        got = call_student("ssd_mask", fn, log_a.clone())
        expected = _oracle_mask(log_a)
        torch.testing.assert_close(ssd.semiseparable_mask(log_a[None, :, None])[0, 0], expected)
        assert_close(f"mask ({label})", got, expected, atol=1e-10, hint=MASK_HINT)
    passed("ssd_mask", "equals prod_{s<r<=t} a_r below the diagonal and 0 above, for L = 6 and 17")


CHUNKED_HINTS = {
    "one chunk": "inside one chunk, y_t = sum_{s <= t} (C_t . B_s) L[t, s] x_s with the mask "
                 "L[t, s] = prod_{s < r <= t} a_r (the quadratic form on that chunk)",
    "several chunks": "your chunks are right on their own; what a chunk inherits is not. The "
                      "state entering chunk c is h = (prod of a over chunk c-1) * (state "
                      "entering c-1) + sum_s (prod_{s < r <= end} a_r) x_s B_s^T over chunk "
                      "c-1, and it adds (prod_{start <= r <= t} a_r) * h C_t to y_t for every "
                      "step t of chunk c",
}


def _chunked_case(length: int, seed: int) -> dict[str, torch.Tensor]:
    """One head: x (L, P=3), log_a (L,), B and C (L, N=4), float64."""
    gen = torch.Generator().manual_seed(seed)
    return {"x": torch.randn(length, 3, generator=gen, dtype=torch.float64),
            "log_a": -0.5 * torch.rand(length, generator=gen, dtype=torch.float64),
            "B": torch.randn(length, 4, generator=gen, dtype=torch.float64) / 2,
            "C": torch.randn(length, 4, generator=gen, dtype=torch.float64) / 2}


def _oracle_head(case: dict[str, torch.Tensor]) -> torch.Tensor:
    """y (L, P) of h_t = a_t h_{t-1} + x_t B_t^T, y_t = h_t C_t, by a loop (the oracle)."""
    h = torch.zeros(case["x"].shape[1], case["B"].shape[1], dtype=torch.float64)
    ys = []
    for x_t, log_a_t, B_t, C_t in zip(case["x"], case["log_a"], case["B"], case["C"], strict=True):
        h = torch.exp(log_a_t) * h + torch.outer(x_t, B_t)
        ys.append(h @ C_t)
    return torch.stack(ys)


@exercise_check(forbid=(ssd,))
def check_ssd_chunked_head(fn: Callable[..., Any]) -> None:
    """Larger exercise: check ``fn(x, log_a, B, C, chunk) -> y``, SSD's chunked algorithm.

    One head, no batch: x (L, P), log_a (L,), B and C (L, N), chunk the chunk
    size Q (the last chunk may be shorter). Expected y (L, P) of the
    recurrence h_t = a_t h_{t-1} + x_t B_t^T, y_t = h_t C_t from h_{-1} = 0
    (Dao & Gu 2024, Sec. 6: diagonal blocks as masked attention, off-diagonal
    blocks through the state each chunk hands to the next). Checked first on a
    sequence that is one chunk, then with L = 37 in chunks of 8, 5 and 1. A
    solution that calls :mod:`ssm_metarl.ssd` is refused.
    """
    cases = [("one chunk: L=8, chunk=8", 8, 8, 31, "one chunk"),
             ("L=37, chunk=8", 37, 8, 32, "several chunks"),
             ("L=37, chunk=5", 37, 5, 32, "several chunks"),
             ("L=37, chunk=1", 37, 1, 32, "several chunks")]
    for label, length, chunk, seed, hint in cases:
        case = _chunked_case(length, seed)
        got = call_student("ssd_chunked_head", fn, *(v.clone() for v in case.values()), chunk)
        assert_close(f"y ({label})", got, _oracle_head(case), atol=1e-9,
                     hint=CHUNKED_HINTS[hint])
    passed("ssd_chunked_head", "equals the recurrence on one chunk and with L = 37 in chunks "
           "of 8, 5 and 1")
