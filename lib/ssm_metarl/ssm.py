"""Linear, diagonal (S4D) and selective (Mamba-style) state space models.

The continuous-time linear SSM is

    x'(t) = A x(t) + B u(t),        y(t) = C x(t) + D u(t)

and, after discretization with step dt (:func:`discretize`), the recurrence

    x_t = A_bar x_{t-1} + B_bar u_t,  y_t = C x_t + D u_t

which unrolls into the causal convolution y = K * u + D u with kernel
K_l = C A_bar^l B_bar (:func:`ssm_kernel`, :func:`causal_conv`).

Glossary of dimension letters used in every shape below (the *matrix* B never
appears inside a shape tuple, so B there always means batch):

    B        batch
    L        sequence length (time steps); Lk the length of a kernel
    N        state dimension (for S4DLayer: number of complex modes is N/2)
    P        input dimension of a LinearSSM (u_t is P-dimensional)
    Q        output dimension of a LinearSSM (y_t is Q-dimensional)
    H        channels of an S4DLayer (d_model); one diagonal SSM per channel
    M        positions at which a HiPPO memory is read out
    d_model  width of the residual stream entering a SelectiveSSM
    D_inner  expanded width inside a SelectiveSSM (expand * d_model)
    R        rank of the dt projection of a SelectiveSSM (dt_rank)
    W        width of the causal depthwise convolution (d_conv)
    ...      any number of leading batch dimensions

References: Gu et al. 2020 (HiPPO, arXiv 2008.07669), Gu et al. 2022 (S4D,
arXiv 2206.11893), Gu & Dao 2023 (Mamba, arXiv 2312.00752), the Annotated S4
and mamba-minimal for the code layout.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validate import (
    check_bool,
    check_callable,
    check_device,
    check_dtype,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_like,
    check_reset,
    training_step,
)
from .checkpoints import check_config, check_state_dict, load_checkpoint, save_checkpoint
from .profiles import progress_bar
from .scan import _zero_rows, scan

__all__ = [
    "LINEAR_SSM_INITS",
    "METHODS",
    "MODES",
    "S4D_INITS",
    "LinearSSM",
    "S4DLayer",
    "SelectiveSSM",
    "SelectiveState",
    "SelectiveTrace",
    "causal_conv",
    "check_dt_range",
    "discretize",
    "discretize_bilinear",
    "discretize_euler",
    "discretize_zoh",
    "fit_on_batches",
    "hippo_legs",
    "hippo_legs_memory",
    "init_dt_bias",
    "legendre_basis",
    "legendre_reconstruct",
    "random_stable_matrix",
    "s4d_init",
    "selective_discretize",
    "ssm_kernel",
    "zoh_decay",
]

METHODS = ("zoh", "bilinear", "euler")
S4D_INITS = ("lin", "inv", "real")
LINEAR_SSM_INITS = ("random", "hippo", "diag")
MODES = ("recurrent", "conv")

# --------------------------------------------------------------------------- #
# Input checks shared by the discretizations                                  #
# --------------------------------------------------------------------------- #


def _require_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def _is_diagonal(A: torch.Tensor, diagonal: Any, name: str = "A") -> bool:
    """Decide dense vs diagonal: 1-D A is diagonal, 2-D square A is dense.

    A batch of diagonal systems (..., N) can look like a square matrix, so it
    must be asked for with ``diagonal=True`` rather than guessed. ``diagonal``
    must be None, True or False (a string such as ``"no"`` would count as True).
    """
    if diagonal is not None:
        return check_bool("diagonal", diagonal)
    if A.ndim == 1:
        return True
    if A.ndim == 2 and A.shape[0] == A.shape[1]:
        return False
    raise ValueError(
        f"{name} must be a dense (N, N) matrix or a diagonal (N,) vector, got shape "
        f"{tuple(A.shape)}; pass diagonal=True for a batch of diagonal systems (..., N) or "
        "diagonal=False for a batch of dense systems (..., N, N)."
    )


def _positive_dt(dt: Any, like: torch.Tensor) -> torch.Tensor:
    """Return dt as a real tensor of A's real dtype on A's device; refuse dt <= 0, NaN or inf.

    A number, a NumPy scalar or array, or an integer tensor is converted; a
    floating tensor must already have A's real dtype (no silent change of the
    result's precision), a 0-d one may sit on the CPU.
    """
    real_dtype = like.dtype.to_real()
    if not isinstance(dt, torch.Tensor):
        if isinstance(dt, (bool, str, bytes)):
            raise TypeError(f"dt must be a positive number or a real tensor, got {dt!r}")
        try:
            dt = torch.as_tensor(dt, dtype=real_dtype, device=like.device)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"dt must be a positive number or a real tensor, got "
                            f"{type(dt).__name__}") from None
    if dt.dtype == torch.bool:
        raise TypeError("dt must be a positive number or a real tensor, got a bool tensor")
    if dt.is_complex():
        raise ValueError(f"dt must be real and positive, got complex dtype {dt.dtype}")
    if dt.numel() == 0:
        raise ValueError("dt must be finite and > 0 everywhere, got an empty tensor")
    try:
        invalid = not bool(torch.isfinite(dt).all()) or bool((dt <= 0).any())
    except RuntimeError:
        # Under torch.func.vmap/grad (MAML over a layer's learnable log-dt) values
        # cannot be read; the layers' dt = exp(log_dt) is positive by construction.
        invalid = False
    if invalid:
        shown = dt.detach().flatten()[:4].tolist()
        raise ValueError(f"dt must be finite and > 0 everywhere, got {shown}")
    if not dt.is_floating_point():
        dt = dt.to(real_dtype)  # an integer step typed in by hand
    elif dt.dtype != real_dtype:
        raise TypeError(f"dt must have the real dtype of A and B ({real_dtype}), got "
                        f"{dt.dtype}; convert with dt.to({real_dtype})")
    if dt.device != like.device:
        if dt.ndim != 0:
            raise ValueError(f"dt must be on the device of A and B ({like.device}), "
                             f"got {dt.device}")
        dt = dt.to(like.device)
    return dt


def _validate_system(
    A: torch.Tensor, B: torch.Tensor, dt: Any, diagonal: bool | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Check types, shapes and values of (A, B, dt) and bring A and B to one dtype."""
    A, B = _require_tensor("A", A), _require_tensor("B", B)
    for name, value in (("A", A), ("B", B)):
        if value.dtype == torch.bool:
            raise TypeError(f"{name} must be a real or complex tensor, got dtype torch.bool")
    if A.device != B.device:
        raise ValueError(f"A and B must be on one device, got A on {A.device} and B on "
                         f"{B.device}")
    diagonal = _is_diagonal(A, diagonal)
    if A.ndim < 1 or (not diagonal and (A.ndim < 2 or A.shape[-1] != A.shape[-2])):
        raise ValueError(f"A must be a square (..., N, N) matrix, got shape {tuple(A.shape)}")
    N = A.shape[-1]
    if N == 0:
        raise ValueError(f"A must have N >= 1 states, got shape {tuple(A.shape)}")
    if B.ndim < 2 or B.shape[-2] != N:
        expected = "(N, P)" if not diagonal and A.ndim == 2 else "(..., N, P)"
        raise ValueError(f"B must have shape {expected} with N={N}, got {tuple(B.shape)}")
    dtype = torch.promote_types(A.dtype, B.dtype)
    if not (dtype.is_floating_point or dtype.is_complex):
        dtype = torch.get_default_dtype()  # integer matrices typed in by hand
    A, B = A.to(dtype), B.to(dtype)
    try:
        finite = bool(torch.isfinite(A).all() & torch.isfinite(B).all())  # one read for both
    except RuntimeError:
        finite = True  # under torch.func.vmap/grad values cannot be read
    if not finite:
        check_finite("A", A)
        check_finite("B", B)
    dt = _positive_dt(dt, A)
    try:
        if diagonal:
            torch.broadcast_shapes(torch.broadcast_shapes(dt.shape, A.shape) + (1,), B.shape)
        else:
            torch.broadcast_shapes(dt.shape, A.shape[:-2], B.shape[:-2])
    except RuntimeError:
        expected = "A (..., N)" if diagonal else "the batch dims of A (..., N, N)"
        raise ValueError(
            f"dt {tuple(dt.shape)}, A {tuple(A.shape)} and B {tuple(B.shape)} do not "
            f"broadcast: dt must broadcast against {expected} and B must be (..., N, P)"
        ) from None
    return A, B, dt, diagonal


def _dense_dt(dt: torch.Tensor) -> torch.Tensor:
    """dt of shape (...) becomes (..., 1, 1) so it scales whole (N, N) matrices."""
    return dt[..., None, None]


# --------------------------------------------------------------------------- #
# Discretization                                                              #
# --------------------------------------------------------------------------- #


def _phi1(z: torch.Tensor) -> torch.Tensor:
    """phi1(z) = (exp(z) - 1) / z, with the limit 1 + z/2 near z = 0.

    ``expm1`` keeps full relative precision for small |z| (real and complex);
    the series branch only guards the 0/0 at z = 0 and its gradient.
    """
    tiny = torch.finfo(z.dtype.to_real()).eps ** 0.5
    near_zero = z.abs() < tiny
    z_safe = torch.where(near_zero, torch.ones_like(z), z)
    return torch.where(near_zero, 1 + z / 2, torch.expm1(z_safe) / z_safe)


def discretize_zoh(
    A: torch.Tensor, B: torch.Tensor, dt: Any, *, diagonal: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold: the exact solution for an input held constant over dt.

    A_bar = exp(dt A),  B_bar = A^{-1} (exp(dt A) - I) B    (S4 paper, eq. 4)

    Dense: A (..., N, N), B (..., N, P) and dt scalar or (...), batch dims
    broadcasting -> A_bar (..., N, N), B_bar (..., N, P). B_bar is read off the
    matrix exponential of the augmented system (Van Loan's block trick)
    expm(dt [[A, B], [0, 0]]) = [[A_bar, B_bar], [0, I]], which needs no
    inverse and so also works for singular A.
    Diagonal: A (..., N) real or complex, B (..., N, P), dt broadcasting against
    A -> A_bar (..., N), B_bar (..., N, P) with B_bar = (exp(dt A) - 1)/A * B
    (= dt B in the limit A -> 0).

    A and B must be finite tensors (integer ones are read as the default float
    dtype); dt a positive number or a tensor of A's real dtype.
    """
    return _zoh(*_validate_system(A, B, dt, diagonal))


def _zoh(
    A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor, diagonal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`discretize_zoh` on checked inputs (dt a tensor of A's real dtype)."""
    if diagonal:
        dtA = dt * A
        return torch.exp(dtA), (dt * _phi1(dtA)).unsqueeze(-1) * B
    N, P = B.shape[-2:]
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    top = torch.cat([A.expand(*batch, N, N), B.expand(*batch, N, P)], dim=-1)
    bottom = torch.zeros(*batch, P, N + P, dtype=A.dtype, device=A.device)
    exp_augmented = torch.linalg.matrix_exp(_dense_dt(dt) * torch.cat([top, bottom], dim=-2))
    return exp_augmented[..., :N, :N], exp_augmented[..., :N, N:]


def discretize_bilinear(
    A: torch.Tensor, B: torch.Tensor, dt: Any, *, diagonal: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear (Tustin) transform, the discretization used by S4 and HiPPO.

    A_bar = (I - dt/2 A)^{-1} (I + dt/2 A),  B_bar = (I - dt/2 A)^{-1} dt B
    (S4 paper, eq. 3). Shapes and checks as in :func:`discretize_zoh`; a dt
    for which I - dt/2 A is singular (an eigenvalue of A equal to 2/dt) is a
    ``ValueError``.
    """
    A, B, dt, diagonal = _validate_system(A, B, dt, diagonal)
    singular = "I - dt/2 A is singular: A has an eigenvalue equal to 2/dt; use another dt"
    if diagonal:
        try:
            hits = bool((1 - dt / 2 * A == 0).any())
        except RuntimeError:
            hits = False  # under torch.func.vmap/grad values cannot be read
        if hits:
            raise ValueError(f"A and dt do not fit the bilinear transform: {singular}")
        return _bilinear(A, B, dt, diagonal)
    try:
        return _bilinear(A, B, dt, diagonal)
    except torch.linalg.LinAlgError:
        raise ValueError(f"A and dt do not fit the bilinear transform: {singular}") from None


def _bilinear(
    A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor, diagonal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`discretize_bilinear` on checked inputs."""
    if diagonal:
        denominator = 1 - dt / 2 * A
        return (1 + dt / 2 * A) / denominator, (dt / denominator).unsqueeze(-1) * B
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    half_step = _dense_dt(dt) / 2 * A
    left = eye - half_step
    return torch.linalg.solve(left, eye + half_step), torch.linalg.solve(left, _dense_dt(dt) * B)


def discretize_euler(
    A: torch.Tensor, B: torch.Tensor, dt: Any, *, diagonal: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward Euler: A_bar = I + dt A, B_bar = dt B.

    First order and only conditionally stable: a stable eigenvalue lambda of A
    maps to 1 + dt lambda, which leaves the unit disc once dt is large.
    Shapes and checks as in :func:`discretize_zoh`.
    """
    return _euler(*_validate_system(A, B, dt, diagonal))


def _euler(
    A: torch.Tensor, B: torch.Tensor, dt: torch.Tensor, diagonal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`discretize_euler` on checked inputs."""
    if diagonal:
        return 1 + dt * A, dt.unsqueeze(-1) * B
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    return eye + _dense_dt(dt) * A, _dense_dt(dt) * B


_DISCRETIZATIONS = {
    "zoh": discretize_zoh,
    "bilinear": discretize_bilinear,
    "euler": discretize_euler,
}
# the same maths on checked inputs, for the layers that discretize their own parameters
_DISCRETIZE_CHECKED = {"zoh": _zoh, "bilinear": _bilinear, "euler": _euler}


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def discretize(
    A: torch.Tensor,
    B: torch.Tensor,
    dt: Any,
    method: str = "zoh",
    *,
    diagonal: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn the continuous (A, B) into the discrete (A_bar, B_bar) for step dt.

    ``method`` is ``"zoh"`` (:func:`discretize_zoh`), ``"bilinear"``
    (:func:`discretize_bilinear`) or ``"euler"`` (:func:`discretize_euler`).
    A is dense (N, N) with B (N, P), or diagonal: a 1-D (N,) tensor, or with
    ``diagonal=True`` a batch (..., N), with B (..., N, P). dt is a positive
    scalar or tensor (dense: (...) batch of steps; diagonal: broadcasting
    against A, e.g. (H, 1) per-channel steps for A (H, N)).
    Returns (A_bar, B_bar) with A_bar 1-D/(..., N) for diagonal A.
    """
    return _DISCRETIZATIONS[_check_method(method)](A, B, dt, diagonal=diagonal)


# --------------------------------------------------------------------------- #
# Structured initialisations: HiPPO-LegS and S4D                              #
# --------------------------------------------------------------------------- #


def hippo_legs(
    N: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegS matrices (Gu et al. 2020, eq. (8); sign folded into A).

    A_nk = -sqrt(2n+1) sqrt(2k+1) for n > k, -(n+1) for n = k, 0 for n < k;
    B_n = sqrt(2n+1). Returns A (N, N) lower triangular (eigenvalues -1..-N)
    and B (N, 1). ``dtype`` must be a real floating dtype.
    """
    N = check_int("N", N)
    check_dtype("dtype", dtype)
    check_device("device", device)
    return _hippo_legs(N, dtype, device)


def _hippo_legs(N: int, dtype: torch.dtype, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`hippo_legs` on checked arguments."""
    n = torch.arange(N, dtype=dtype, device=device)
    root = torch.sqrt(2 * n + 1)
    A = -torch.tril(root[:, None] * root[None, :], diagonal=-1) - torch.diag(n + 1)
    return A, root[:, None].clone()


def hippo_legs_memory(u: torch.Tensor, N: int) -> torch.Tensor:
    """Run the online HiPPO-LegS memory over a sampled signal.

    LegS is time-varying: c'(t) = (1/t) A c(t) + (1/t) B u(t) (Gu et al. 2020,
    Theorem 2, with A, B from :func:`hippo_legs`). With samples u_k at
    t = k dt, k = 1..L, the step dt / t = 1/k does not depend on dt (LegS is
    timescale-invariant, Prop. 3), so step k is the bilinear discretization of
    (A/k, B/k) with unit step, as in the HiPPO code:
    (I - A/2k) c_k = (I + A/2k) c_{k-1} + (B/k) u_k.
    u (..., L) -> coefficients c (..., L, N); c[..., k-1, :] remembers
    u_1..u_k, with sample j at relative position j/k (read it back with
    :func:`legendre_reconstruct`). ``u`` is a finite float32/float64 tensor
    (an integer one is read as float64).
    """
    u = _require_tensor("u", u)
    N = check_int("N", N, hint="the number of Legendre coefficients")
    if u.ndim < 1 or u.shape[-1] < 1 or u.is_complex():
        raise ValueError(f"u must be real with shape (..., L), L >= 1, got {tuple(u.shape)}")
    if u.dtype == torch.bool or (u.is_floating_point()
                                 and u.dtype not in (torch.float32, torch.float64)):
        raise TypeError(f"u must be a float32 or float64 tensor (an integer one is read as "
                        f"float64), got {u.dtype}")
    check_finite("u", u)
    dtype = u.dtype if u.is_floating_point() else torch.float64
    A, B = _hippo_legs(N, dtype, u.device)
    eye = torch.eye(N, dtype=dtype, device=u.device)
    c = torch.zeros(*u.shape[:-1], N, 1, dtype=dtype, device=u.device)
    history = []
    for k in range(1, u.shape[-1] + 1):
        rhs = (eye + A / (2 * k)) @ c + B / k * u[..., k - 1, None, None].to(dtype)
        # I - A/2k is lower triangular, so the implicit half-step is a cheap triangular solve
        c = torch.linalg.solve_triangular(eye - A / (2 * k), rhs, upper=False)
        history.append(c[..., 0])
    return torch.stack(history, dim=-2)


def _check_positions(positions: Any) -> torch.Tensor:
    """positions (M,): a real floating tensor of fractions in [0, 1] (a few ulps of slack)."""
    positions = _require_tensor("positions", positions)
    if positions.ndim != 1:
        raise ValueError(f"positions must have shape (M,), got {tuple(positions.shape)}")
    if not positions.is_floating_point():
        raise TypeError(f"positions must be a real floating tensor (fractions in [0, 1]), got "
                        f"{positions.dtype}")
    slack = 8 * torch.finfo(positions.dtype).eps
    outside = ~((positions >= -slack) & (positions <= 1 + slack))
    if bool(outside.any()):
        shown = positions[outside][:4].tolist()
        raise ValueError(f"positions must lie in [0, 1] (fractions of the elapsed time), got "
                         f"values {shown}")
    return positions


def legendre_basis(N: int, positions: torch.Tensor) -> torch.Tensor:
    """Scaled Legendre basis of LegS: g_n(s) = sqrt(2n+1) P_n(2 s - 1).

    ``positions`` (M,) are fractions s = (time) / (elapsed time) in [0, 1]
    (a real floating tensor); returns (M, N). The g_n are orthonormal for the
    uniform measure on [0, 1].
    Legendre polynomials come from Bonnet's recurrence
    (n+1) P_{n+1}(x) = (2n+1) x P_n(x) - n P_{n-1}(x).
    """
    N = check_int("N", N, hint="the number of Legendre coefficients")
    return _legendre_basis(N, _check_positions(positions))


def _legendre_basis(N: int, positions: torch.Tensor) -> torch.Tensor:
    """:func:`legendre_basis` on checked arguments."""
    x = 2 * positions - 1
    legendre = [torch.ones_like(x), x]
    for n in range(1, N - 1):
        legendre.append(((2 * n + 1) * x * legendre[n] - n * legendre[n - 1]) / (n + 1))
    n = torch.arange(N, dtype=x.dtype, device=x.device)
    return torch.stack(legendre[:N], dim=-1) * torch.sqrt(2 * n + 1)


def legendre_reconstruct(c: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Read the remembered history out of LegS coefficients.

    u(s t) ~ sum_n c_n g_n(s) for s in [0, 1] (Gu et al. 2020, Sec. 3:
    the memory is the projection onto the scaled Legendre basis of [0, t]).
    c (..., N) a finite real floating tensor, positions (M,) in [0, 1] (a real
    tensor, read in c's dtype) -> reconstruction (..., M).
    """
    c = _require_tensor("c", c)
    if c.ndim < 1 or c.shape[-1] < 1:
        raise ValueError(f"c must have shape (..., N) with N >= 1, got {tuple(c.shape)}")
    if not c.is_floating_point():
        raise TypeError(f"c must be a real floating tensor (LegS coefficients), got {c.dtype}")
    check_finite("c", c)
    positions = _require_tensor("positions", positions)
    if positions.is_complex() or positions.dtype == torch.bool:
        raise TypeError(f"positions must be a real tensor (fractions in [0, 1]), got "
                        f"{positions.dtype}")
    if positions.device != c.device:
        raise ValueError(f"positions must be on the device of c ({c.device}), got "
                         f"{positions.device}")
    positions = _check_positions(positions.to(c.dtype))
    return c @ _legendre_basis(c.shape[-1], positions).T


def s4d_init(
    N: int,
    kind: str = "lin",
    *,
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Diagonal state matrices of S4D (Gu et al. 2022, Sec. 4, eqs. for S4D-*).

    kind "lin":  A_n = -1/2 + i pi n
    kind "inv":  A_n = -1/2 + i N/pi (N/(2n+1) - 1)
    kind "real": A_n = -(n+1)
    for n = 0..N-1; returns A (N,) of complex ``dtype`` (imaginary part 0 for
    "real"). With the conjugate-pair trick a state of size N keeps the first
    N/2 of these, exactly as the S4D code does.
    """
    N = check_int("N", N)
    check_device("device", device)
    _check_s4d_kind(kind)
    if not isinstance(dtype, torch.dtype) or not dtype.is_complex:
        raise ValueError(f"dtype must be a complex dtype (torch.complex64 or torch.complex128), "
                         f"got {dtype!r}")
    return _s4d_init(N, kind, dtype, device)


def _check_s4d_kind(kind: Any, prefix: str = "") -> str:
    """``kind`` must be one of :data:`S4D_INITS`; ``prefix`` names the argument it came from."""
    if not isinstance(kind, str) or kind not in S4D_INITS:
        raise ValueError(f"{prefix}kind must be one of {', '.join(S4D_INITS)}, got {kind!r}")
    return kind


def _s4d_init(N: int, kind: str, dtype: torch.dtype, device: Any) -> torch.Tensor:
    """:func:`s4d_init` on checked arguments."""
    n = torch.arange(N, dtype=dtype.to_real(), device=device)
    if kind == "real":
        return torch.complex(-(n + 1), torch.zeros_like(n)).to(dtype)
    imag = math.pi * n if kind == "lin" else N / math.pi * (N / (2 * n + 1) - 1)
    return torch.complex(torch.full_like(n, -0.5), imag).to(dtype)


def random_stable_matrix(
    N: int,
    *,
    generator: torch.Generator | None = None,
    min_decay: float = 0.1,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A random dense A (N, N) with every eigenvalue's real part <= -min_decay.

    A = S + K with S = -(G G^T)/N - min_decay I negative definite and K
    skew-symmetric; Re(lambda) <= lambda_max((A + A^T)/2) = lambda_max(S) < 0,
    so the continuous system is stable whatever the draw.
    """
    check_int("N", N)
    check_dtype("dtype", dtype)
    check_device("device", device)
    check_float("min_decay", min_decay, minimum=0)
    if generator is not None:
        check_instance("generator", generator, torch.Generator)
    draws = torch.randn(2, N, N, generator=generator, dtype=dtype, device=device)
    eye = torch.eye(N, dtype=dtype, device=device)
    symmetric = -(draws[0] @ draws[0].T) / N - min_decay * eye
    skew = (draws[1] - draws[1].T) / math.sqrt(2 * N)
    return symmetric + skew


# --------------------------------------------------------------------------- #
# Convolution view: kernel and causal FFT convolution                         #
# --------------------------------------------------------------------------- #


def _matrix_powers(A_bar: torch.Tensor, count: int) -> torch.Tensor:
    """A_bar^0 .. A_bar^{count-1} stacked (count, N, N), by repeated doubling.

    Each round multiplies all powers found so far by the next power of two,
    so log2(count) batched products replace count sequential ones.
    """
    powers = torch.eye(A_bar.shape[-1], dtype=A_bar.dtype, device=A_bar.device)[None]
    doubling = A_bar
    while powers.shape[0] < count:
        powers = torch.cat([powers, powers @ doubling], dim=0)
        doubling = doubling @ doubling
    return powers[:count]


def _vandermonde(A_bar: torch.Tensor, L: int, stride: int = 1) -> torch.Tensor:
    """A_bar (..., N) -> powers A_bar^(l * stride) for l = 0..L-1, shape (..., N, L)."""
    exponents = torch.arange(L, device=A_bar.device, dtype=A_bar.dtype.to_real()) * stride
    if not A_bar.is_complex():
        return A_bar.unsqueeze(-1) ** exponents
    # polar form |A|^l e^{i l arg A}: real exp, cos and sin run ~9x faster than complex pow
    is_zero = A_bar == 0
    safe = torch.where(is_zero, torch.ones_like(A_bar), A_bar).unsqueeze(-1)
    powers = torch.polar(torch.exp(exponents * torch.log(safe.abs())), exponents * safe.angle())
    return torch.where(is_zero.unsqueeze(-1), (exponents == 0).to(powers.dtype), powers)


def _power_tables(A_bar: torch.Tensor, L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Baby-step/giant-step powers: A^l = A^j (A^T)^k with l = k T + j, T = ceil(sqrt(L)).

    A_bar (..., N) -> low (..., N, T) holding A^j, high (..., N, K) holding A^{kT},
    K = ceil(L / T). Two tables of sqrt(L) powers replace one of L, and every sum
    over powers becomes a small batched matmul instead of exp/cos/sin on H*N*L numbers.
    """
    T = max(1, math.isqrt(L - 1) + 1) if L > 1 else 1
    # The giant steps come from A's own magnitude and angle, not from A^T: once
    # |A|^T underflows (long kernels, float32) the angle of A^T has no gradient.
    return _vandermonde(A_bar, T), _vandermonde(A_bar, -(-L // T), stride=T)


def _vandermonde_sum(weights: torch.Tensor, A_bar: torch.Tensor, L: int) -> torch.Tensor:
    """sum_n w_n A_n^l for l = 0..L-1: weights (..., N) broadcasting A_bar (..., N) -> (..., L)."""
    low, high = _power_tables(A_bar, L)
    blocks = torch.einsum("...nj,...nk->...kj", weights.unsqueeze(-1) * low, high)
    return blocks.flatten(-2)[..., :L]


def _vandermonde_apply(A_bar: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """sum_l A_n^{L-1-l} x_l, the state reached from zero.

    A_bar (H, N), x (B, L, H) -> (B, H, N).
    """
    L = x.shape[1]
    low, high = _power_tables(A_bar, L)
    T, K = low.shape[-1], high.shape[-1]
    # r = L-1-l = k T + j: reverse time, pad to K*T, fold into (K, T) blocks
    reversed_x = F.pad(x.flip(1).transpose(1, 2), (0, K * T - L))
    blocks = reversed_x.reshape(x.shape[0], x.shape[2], K, T).to(low.dtype)
    per_block = torch.einsum("bhkj,hnj->bhkn", blocks, low)
    return torch.einsum("bhkn,hnk->bhn", per_block, high)


def ssm_kernel(
    A_bar: torch.Tensor,
    B_bar: torch.Tensor,
    C: torch.Tensor,
    L: int,
    *,
    diagonal: bool | None = None,
) -> torch.Tensor:
    """Convolution kernel K = (C B_bar, C A_bar B_bar, ..., C A_bar^{L-1} B_bar).

    Annotated S4 ``K_conv``; S4 paper eq. (5).
    Dense: A_bar (N, N), B_bar (N, P), C (Q, N) -> K (L, Q, P); powers by
    repeated doubling.
    Diagonal (1-D A_bar, or ``diagonal=True``): A_bar, B_bar, C broadcasting
    (..., N) -> K (..., L) with K_l = sum_n C_n B_n A_n^l (a Vandermonde
    product, no matrix powers). Complex in, complex out: S4D takes 2 Re K.
    """
    A_bar, B_bar = _require_tensor("A_bar", A_bar), _require_tensor("B_bar", B_bar)
    C = _require_tensor("C", C)
    L = check_int("L", L)
    for name, value in (("B_bar", B_bar), ("C", C)):
        if value.device != A_bar.device:
            raise ValueError(f"{name} must be on the device of A_bar ({A_bar.device}), "
                             f"got {value.device}")
    if _is_diagonal(A_bar, diagonal, "A_bar"):
        try:
            weights = C * B_bar * torch.ones_like(A_bar)
            dtype = torch.promote_types(A_bar.dtype, weights.dtype)
            return _vandermonde_sum(weights.to(dtype), A_bar.to(dtype), L)
        except RuntimeError:
            raise ValueError(
                f"for a diagonal SSM A_bar {tuple(A_bar.shape)}, B_bar {tuple(B_bar.shape)} "
                f"and C {tuple(C.shape)} must broadcast as (..., N)"
            ) from None
    if A_bar.ndim != 2 or A_bar.shape[0] != A_bar.shape[1]:
        raise ValueError(f"A_bar of a dense SSM must be a square (N, N) matrix, got shape "
                         f"{tuple(A_bar.shape)}")
    N = A_bar.shape[-1]
    if B_bar.ndim != 2 or B_bar.shape[0] != N or C.ndim != 2 or C.shape[1] != N:
        raise ValueError(
            f"dense SSM needs B_bar (N, P) and C (Q, N) with N={N}, got B_bar "
            f"{tuple(B_bar.shape)} and C {tuple(C.shape)}"
        )
    dtype = torch.promote_types(torch.promote_types(A_bar.dtype, B_bar.dtype), C.dtype)
    powers = _matrix_powers(A_bar.to(dtype), L)
    return torch.einsum("qn,lnm,mp->lqp", C.to(dtype), powers, B_bar.to(dtype))


def causal_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Causal convolution y_t = sum_{j=0}^{min(t, Lk-1)} K_j u_{t-j}, by FFT.

    Both signals are zero-padded to L + Lk (>= 2L - 1 when Lk = L) so the
    FFT's circular convolution equals the linear one (Annotated S4
    ``causal_convolution``). Two layouts:
    - per channel (S4D): u (..., L, H), K (H, Lk) -> y (..., L, H);
    - multi-input multi-output (LinearSSM): u (..., L, P), K (Lk, Q, P)
      -> y (..., L, Q) with y_t = sum_j K_j @ u_{t-j}.
    Real u and K give a real y; otherwise y is complex.
    """
    u, K = _require_tensor("u", u), _require_tensor("K", K)
    channel_dim = K.shape[0] if K.ndim == 2 else K.shape[-1] if K.ndim == 3 else None
    if u.ndim < 2 or channel_dim is None or u.shape[-1] != channel_dim:
        raise ValueError(
            f"causal_conv needs u (..., L, H) with K (H, Lk), or u (..., L, P) with "
            f"K (Lk, Q, P); got u {tuple(u.shape)} and K {tuple(K.shape)}"
        )
    if (K.shape[-1] if K.ndim == 2 else K.shape[0]) < 1:
        raise ValueError(f"K must hold at least one tap (Lk >= 1), got shape {tuple(K.shape)}")
    if K.device != u.device:
        raise ValueError(f"K must be on the device of u ({u.device}), got {K.device}")
    dtype = torch.promote_types(u.dtype, K.dtype)
    u, K = u.to(dtype), K.to(dtype)
    L, kernel_length = u.shape[-2], K.shape[-1] if K.ndim == 2 else K.shape[0]
    n = L + kernel_length
    real = not (u.is_complex() or K.is_complex())
    fft, ifft = (torch.fft.rfft, torch.fft.irfft) if real else (torch.fft.fft, torch.fft.ifft)
    if K.ndim == 2:
        # FFT along a contiguous time axis: about 2x faster than striding over channels
        u_f = fft(u.transpose(-1, -2).contiguous(), n=n, dim=-1)
        return ifft(u_f * fft(K, n=n, dim=-1), n=n, dim=-1)[..., :L].transpose(-1, -2)
    u_f = fft(u, n=n, dim=-2)
    y_f = torch.einsum("fqp,...fp->...fq", fft(K, n=n, dim=0), u_f)
    return ifft(y_f, n=n, dim=-2)[..., :L, :]


# --------------------------------------------------------------------------- #
# LinearSSM: dense learnable (A, B, C, D)                                     #
# --------------------------------------------------------------------------- #


def _check_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def _check_sequence(name: str, x: Any, width: int, like: torch.Tensor) -> torch.Tensor:
    """x (B, L, width), B, L >= 1, of the model's dtype and device (``like``: a parameter)."""
    x = _require_tensor(name, x)
    if x.ndim != 3 or x.shape[-1] != width or x.shape[1] < 1 or x.shape[0] < 1:
        raise ValueError(
            f"{name} must have shape (B, L, {width}) with B >= 1 and L >= 1, got "
            f"{tuple(x.shape)}"
        )
    return check_finite(name, check_like(name, x, like))


def _check_step_input(name: str, x: Any, width: int, like: torch.Tensor) -> torch.Tensor:
    x = _require_tensor(name, x)
    if x.ndim != 2 or x.shape[-1] != width or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (B, {width}) with B >= 1, got "
                         f"{tuple(x.shape)}")
    return check_finite(name, check_like(name, x, like))


def _check_state(
    state: torch.Tensor, expected: tuple[int, ...], like: torch.Tensor | None = None
) -> torch.Tensor:
    state = _require_tensor("state", state)
    if tuple(state.shape) != expected:
        raise ValueError(f"state must have shape {expected}, got {tuple(state.shape)}")
    return state if like is None else check_like("state", state, like)


class LinearSSM(nn.Module):
    """A learnable continuous-time linear SSM, discretized on the fly.

    Parameters ``A`` (N, N), ``B`` (N, P), ``C`` (Q, N), ``D`` (Q, P) live in
    continuous time; each call discretizes with the fixed step ``dt`` and
    ``method``. ``init`` picks the starting A: ``"random"`` (a random stable
    dense matrix, :func:`random_stable_matrix`), ``"hippo"`` (HiPPO-LegS A and
    B, :func:`hippo_legs`) or ``"diag"`` (A = diag(-1, ..., -N)). Every init is
    stable. All random draws come from ``seed`` (drawn from torch's global RNG
    when None), so :meth:`reset` restores exactly the construction-time values.

    Recurrence: x_t = A_bar x_{t-1} + B_bar u_t, y_t = C x_t + D u_t.
    """

    def __init__(
        self,
        state_dim: int,
        input_dim: int = 1,
        output_dim: int = 1,
        *,
        dt: float = 0.1,
        method: str = "zoh",
        init: str = "random",
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        state_dim = check_int("state_dim", state_dim)
        input_dim = check_int("input_dim", input_dim)
        output_dim = check_int("output_dim", output_dim)
        dt = check_float("dt", dt, minimum=0, strict=True)
        if not isinstance(init, str) or init not in LINEAR_SSM_INITS:
            raise ValueError(f"init must be one of {', '.join(LINEAR_SSM_INITS)}, got {init!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        check_device("device", device)
        if seed is not None:
            seed = check_int("seed", seed, 0, hint="or None")
        self.state_dim, self.input_dim, self.output_dim = state_dim, input_dim, output_dim
        self.dt, self.method, self.init = dt, _check_method(method), init
        self.seed = int(torch.randint(0, 2**31 - 1, ()).item()) if seed is None else seed
        initial = self._initial_parameters(dtype, device)
        for name, value in initial.items():
            setattr(self, name, nn.Parameter(value))

    def _initial_parameters(self, dtype: torch.dtype, device: Any) -> dict[str, torch.Tensor]:
        """A, B, C, D drawn from ``self.seed``; the same values on every call."""
        N, P, Q = self.state_dim, self.input_dim, self.output_dim
        generator = torch.Generator().manual_seed(self.seed)
        if self.init == "random":
            A = random_stable_matrix(N, generator=generator)
            B = torch.randn(N, P, generator=generator, dtype=torch.float64) / math.sqrt(P)
        elif self.init == "hippo":
            A, B = _hippo_legs(N, torch.float64, None)
            B = B.expand(N, P).clone()
        else:
            A = -torch.diag(torch.arange(1, N + 1, dtype=torch.float64))
            B = torch.randn(N, P, generator=generator, dtype=torch.float64) / math.sqrt(P)
        C = torch.randn(Q, N, generator=generator, dtype=torch.float64) / math.sqrt(N)
        D = torch.zeros(Q, P, dtype=torch.float64)
        named = {"A": A, "B": B, "C": C, "D": D}
        return {name: value.to(dtype=dtype, device=device) for name, value in named.items()}

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (stored by :meth:`save`)."""
        return {
            "state_dim": self.state_dim,
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "dt": self.dt,
            "method": self.method,
            "init": self.init,
            "seed": self.seed,
            "dtype": str(self.A.dtype).removeprefix("torch."),
        }

    def reset(self) -> None:
        """Put A, B, C, D back to their construction-time values (same seed)."""
        initial = self._initial_parameters(self.A.dtype, self.A.device)
        with torch.no_grad():
            for name, value in initial.items():
                getattr(self, name).copy_(value)

    def discretized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A_bar (N, N), B_bar (N, P)) for the current parameters."""
        # the parameters are the module's own (one dtype and device), dt was checked at
        # construction: the unchecked maths of :func:`discretize`, no values read
        dt = torch.as_tensor(self.dt, dtype=self.A.dtype, device=self.A.device)
        return _DISCRETIZE_CHECKED[self.method](self.A, self.B, dt, False)

    def init_state(self, batch: int) -> torch.Tensor:
        """Zero state (B, N)."""
        batch = check_int("batch", batch)
        return torch.zeros(batch, self.state_dim, dtype=self.A.dtype, device=self.A.device)

    def step(
        self, u_t: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: u_t (B, P), state (B, N) or None (zeros) -> (y_t (B, Q), state)."""
        u_t = _check_step_input("u_t", u_t, self.input_dim, self.A)
        state = self._state_or_zeros(state, u_t.shape[0])
        A_bar, B_bar = self.discretized()
        return self._step(A_bar, B_bar, u_t, state)

    def _step(self, A_bar, B_bar, u_t, x):
        x = x @ A_bar.T + u_t @ B_bar.T
        return x @ self.C.T + u_t @ self.D.T, x

    def _state_or_zeros(self, state: torch.Tensor | None, batch: int) -> torch.Tensor:
        if state is None:
            return self.init_state(batch)
        return _check_state(state, (batch, self.state_dim), self.A)

    def forward(
        self, u: torch.Tensor, state: torch.Tensor | None = None, mode: str = "recurrent"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a sequence: u (B, L, P) -> (y (B, L, Q), final state (B, N)).

        ``mode="recurrent"`` loops :meth:`step`'s update; ``mode="conv"`` uses
        y = K * u + D u plus the free response C A_bar^{t+1} x_0 of the initial
        state, and x_L = A_bar^L x_0 + sum_j A_bar^{L-1-j} B_bar u_j. Both give
        the same outputs and state.
        """
        u = _check_sequence("u", u, self.input_dim, self.A)
        mode = _check_mode(mode)
        state = self._state_or_zeros(state, u.shape[0])
        A_bar, B_bar = self.discretized()
        if mode == "conv":
            return self._forward_conv(A_bar, B_bar, u, state)
        outputs = []
        for t in range(u.shape[1]):
            y_t, state = self._step(A_bar, B_bar, u[:, t], state)
            outputs.append(y_t)
        return torch.stack(outputs, dim=1), state

    def _forward_conv(self, A_bar, B_bar, u, x0):
        L = u.shape[1]
        powers = _matrix_powers(A_bar, L + 1)  # A_bar^0 .. A_bar^L
        state_kernel = powers[:L] @ B_bar  # (L, N, P): impulse response of the state
        y = causal_conv(u, self.C @ state_kernel) + u @ self.D.T
        y = y + torch.einsum("qn,lnm,bm->blq", self.C, powers[1:], x0)
        x_final = x0 @ powers[L].T + torch.einsum("lnp,blp->bn", state_kernel.flip(0), u)
        return y, x_final

    def save(self, path: str | os.PathLike) -> None:
        """Write config + state dict with ``torch.save`` (load with :meth:`load`).

        ``path`` is a file name (str or ``os.PathLike``) in an existing folder,
        not a folder.
        """
        if isinstance(path, (str, os.PathLike)) and os.path.isdir(path):
            raise ValueError(f"path {os.fspath(path)!r} is a folder; give a file name such as "
                             f"{os.path.join(os.fspath(path), 'linear_ssm.pt')!r}")
        save_checkpoint(path, _CHECKPOINT_FORMAT, self.config(), self)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        *,
        expected_config: dict[str, Any] | None = None,
        map_location: torch.device | str | None = None,
    ) -> LinearSSM:
        """Rebuild a module saved by :meth:`save`.

        Uses ``torch.load(..., weights_only=True)``. Raises ``ValueError`` when
        the file is corrupt or not a LinearSSM checkpoint (message names the
        path), when a key of ``expected_config`` differs from the stored config,
        or when a stored tensor's shape does not fit the stored config.
        """
        payload = load_checkpoint(path, _CHECKPOINT_FORMAT, map_location)
        config = payload["config"]
        check_config(path, config, expected_config)
        options = dict(config)
        options["dtype"] = _DTYPES.get(options.get("dtype"), options.get("dtype"))
        # a dict or function map_location only moves the stored tensors: build on the default
        device = map_location if isinstance(map_location, (str, torch.device)) else None
        try:
            model = cls(**options, device=device)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: checkpoint config is invalid: {exc}") from exc
        check_state_dict(path, model.state_dict(), payload["state_dict"])
        model.load_state_dict(payload["state_dict"])
        return model


_CHECKPOINT_FORMAT = "ssm_metarl.LinearSSM/1"
_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------- #
# S4DLayer: H channels of diagonal complex SSMs                               #
# --------------------------------------------------------------------------- #


class S4DLayer(nn.Module):
    """S4D: one diagonal SSM per channel, trained as a convolution (Gu et al. 2022).

    Per channel h: continuous A_h = -exp(log_A_real) + i A_imag with N/2 complex
    modes (the other N/2 are their conjugates, which the output 2 Re(.)
    accounts for: conjugate-pair trick), B = 1 (absorbed into C, as in the
    S4D code), learnable complex C, step dt_h = exp(log_dt_h) with log dt
    uniform in [log dt_min, log dt_max], and a skip D. Discretized with
    ``method`` (ZOH by default).

    Recurrence per channel: x_t = A_bar x_{t-1} + B_bar u_t (x_t complex N/2),
    y_t = 2 Re(C x_t) + D u_t. No nonlinearity or mixing across channels: this
    is the SSM layer alone.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        init: str = "lin",
        method: str = "zoh",
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        d_model = check_int("d_model", d_model)
        if isinstance(d_state, bool) or not isinstance(d_state, (int, np.integer)) \
                or d_state < 2 or d_state % 2:
            raise ValueError(f"d_state must be an even int >= 2, got {d_state!r}")
        d_state = int(d_state)
        check_dt_range(dt_min, dt_max)
        init = _check_s4d_kind(init, "init: ")
        check_dtype("dtype", dtype)
        check_device("device", device)
        self.d_model, self.d_state, self.method = d_model, d_state, _check_method(method)
        modes = d_state // 2
        factory = {"dtype": dtype, "device": device}
        A = _s4d_init(d_state, init, torch.complex128, None)[:modes].repeat(d_model, 1)
        log_dt = torch.rand(d_model, **factory) * math.log(dt_max / dt_min) + math.log(dt_min)
        C = torch.randn(d_model, modes, dtype=torch.complex128)
        self.log_dt = nn.Parameter(log_dt)
        self.log_A_real = nn.Parameter(torch.log(-A.real).to(**factory))
        self.A_imag = nn.Parameter(A.imag.to(**factory))
        self.C = nn.Parameter(torch.view_as_real(C).to(**factory))  # (H, N/2, 2): real storage
        self.D = nn.Parameter(torch.randn(d_model, **factory))

    def discretized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A_bar, B_bar), both complex (H, N/2), for B = 1 and per-channel dt."""
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)
        dt = torch.exp(self.log_dt)[:, None]  # > 0 by construction
        B = torch.ones_like(A).unsqueeze(-1)
        # the layer's own parameters: the unchecked maths of :func:`discretize`, which
        # reads no values (so no device sync per call, and it runs under torch.func)
        A_bar, B_bar = _DISCRETIZE_CHECKED[self.method](A, B, dt, True)
        return A_bar, B_bar.squeeze(-1)

    def kernel(self, L: int) -> torch.Tensor:
        """Real convolution kernel K (H, L) = 2 Re(sum_n C_n B_bar_n A_bar_n^l)."""
        A_bar, B_bar = self.discretized()
        return 2 * ssm_kernel(A_bar, B_bar, torch.view_as_complex(self.C), L, diagonal=True).real

    def init_state(self, batch: int) -> torch.Tensor:
        """Zero state, complex (B, H, N/2)."""
        batch = check_int("batch", batch)
        complex_dtype = self.log_dt.dtype.to_complex()
        return torch.zeros(
            batch, self.d_model, self.d_state // 2, dtype=complex_dtype, device=self.log_dt.device
        )

    def _state_or_zeros(self, state: torch.Tensor | None, batch: int) -> torch.Tensor:
        if state is None:
            return self.init_state(batch)
        state = _check_state(state, (batch, self.d_model, self.d_state // 2))
        expected = self.log_dt.dtype.to_complex()
        if state.dtype != expected:
            raise TypeError(f"state must have the layer's complex dtype {expected} (as "
                            f"init_state returns it), got {state.dtype}")
        if state.device != self.log_dt.device:
            raise ValueError(f"state must be on the layer's device {self.log_dt.device}, "
                             f"got {state.device}")
        return state

    def step(
        self, x_t: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x_t (B, H), state (B, H, N/2) complex or None -> (y_t (B, H), state)."""
        x_t = _check_step_input("x_t", x_t, self.d_model, self.log_dt)
        state = self._state_or_zeros(state, x_t.shape[0])
        return self._step(*self.discretized(), x_t, state)

    def _step(self, A_bar, B_bar, x_t, state):
        state = A_bar * state + B_bar * x_t.unsqueeze(-1)
        y_t = 2 * (torch.view_as_complex(self.C) * state).sum(-1).real + self.D * x_t
        return y_t, state

    def forward(
        self, x: torch.Tensor, state: torch.Tensor | None = None, mode: str = "conv"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, H) -> (y (B, L, H), final state (B, H, N/2) complex).

        ``mode="conv"`` (training): y = K * x + D x via :meth:`kernel` and
        :func:`causal_conv`, plus the free response of a given initial state.
        ``mode="recurrent"``: loops :meth:`step`. Same outputs and final state.
        """
        x = _check_sequence("x", x, self.d_model, self.log_dt)
        mode = _check_mode(mode)
        has_initial_state = state is not None
        state = self._state_or_zeros(state, x.shape[0])
        A_bar, B_bar = self.discretized()
        if mode == "conv":
            return self._forward_conv(A_bar, B_bar, x, state if has_initial_state else None)
        outputs = []
        for t in range(x.shape[1]):
            y_t, state = self._step(A_bar, B_bar, x[:, t], state)
            outputs.append(y_t)
        return torch.stack(outputs, dim=1), state

    def _forward_conv(self, A_bar, B_bar, x, x0):
        """y = K * x + D x (+ free response 2 Re C A_bar^{t+1} x0); x_L from the same powers."""
        L, C = x.shape[1], torch.view_as_complex(self.C)
        y = causal_conv(x, 2 * ssm_kernel(A_bar, B_bar, C, L, diagonal=True).real) + self.D * x
        x_final = B_bar * _vandermonde_apply(A_bar, x)
        if x0 is not None:
            free = _vandermonde_sum(C * A_bar * x0, A_bar, L)  # (B, H, L): C A^{t+1} x0
            y = y + 2 * free.real.transpose(1, 2)
            x_final = x_final + A_bar**L * x0
        return y, x_final


# --------------------------------------------------------------------------- #
# SelectiveSSM: the Mamba block                                               #
# --------------------------------------------------------------------------- #


class SelectiveState(NamedTuple):
    """Recurrent state of a :class:`SelectiveSSM`.

    ``h`` (B, D_inner, N): SSM hidden state. ``conv`` (B, D_inner, W-1): the
    last W-1 inputs of the causal depthwise convolution.
    """

    h: torch.Tensor
    conv: torch.Tensor


class SelectiveTrace(NamedTuple):
    """What the selection mechanism did at every step (for figures).

    ``h`` (B, L, D_inner, N) hidden states, ``dt`` (B, L, D_inner) steps,
    ``B`` (B, L, N) and ``C`` (B, L, N) input-dependent projections.
    """

    h: torch.Tensor
    dt: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor


def _check_selective(
    dt: Any, A_log: Any, **others: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """dt (..., D) and A_log (D, N): real floating tensors of one dtype and device.

    ``others`` are ``name=(tensor, "D" or "N")``: tensors of shape (..., D) or
    (..., N) with the leading dims of dt, and dt's dtype and device.
    """
    A_log = _require_tensor("A_log", A_log)
    if A_log.ndim != 2:
        raise ValueError(f"A_log must have shape (D, N), got {tuple(A_log.shape)}")
    if not A_log.is_floating_point():
        raise TypeError(f"A_log must be a real floating tensor, got {A_log.dtype}")
    D, N = A_log.shape
    checked = {}
    for name, (value, letter) in {"dt": (dt, "D"), **others}.items():
        value = _require_tensor(name, value)
        size = D if letter == "D" else N
        if value.ndim < 1 or value.shape[-1] != size:
            raise ValueError(f"{name} must have shape (..., {letter}) with {letter} = {size} "
                             f"from A_log (D, N) = {tuple(A_log.shape)}, got "
                             f"{tuple(value.shape)}")
        if value.dtype != A_log.dtype or value.device != A_log.device:
            raise TypeError(f"{name} must have the dtype and device of A_log ({A_log.dtype} on "
                            f"{A_log.device}), got {value.dtype} on {value.device}")
        if name != "dt" and value.shape[:-1] != checked["dt"].shape[:-1]:
            raise ValueError(f"{name} must have the leading dims of dt "
                             f"{tuple(checked['dt'].shape[:-1])}, got {tuple(value.shape)}")
        checked[name] = value
    return checked["dt"], A_log


def selective_discretize(
    dt: torch.Tensor, A_log: torch.Tensor, B: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The selective SSM's discretisation (Gu & Dao 2023, Sec. 3.2, Algorithm 2 line 5).

    ``A = -exp(A_log)`` (D, N); ``A_bar = exp(dt A)`` (ZOH) and ``B_bar x = dt x B``
    (Euler, as in Mamba): dt (..., D), B (..., N), x (..., D) -> A_bar, B_bar x
    (..., D, N) each. All four are real floating tensors of one dtype and
    device, with the same leading dims. Used by :class:`SelectiveSSM`.
    """
    _check_selective(dt, A_log, B=(B, "N"), x=(x, "D"))
    return _selective_discretize(dt, A_log, B, x)


def _selective_discretize(dt, A_log, B, x):
    """:func:`selective_discretize` on checked inputs."""
    return _zoh_decay(dt, A_log), (dt * x).unsqueeze(-1) * B.unsqueeze(-2)


def zoh_decay(dt: torch.Tensor, A_log: torch.Tensor) -> torch.Tensor:
    """``A_bar = exp(dt A)`` with ``A = -exp(A_log)``: dt (..., D), A_log (D, N) -> (..., D, N).

    dt and A_log are real floating tensors of one dtype and device.
    """
    return _zoh_decay(*_check_selective(dt, A_log))


def _zoh_decay(dt: torch.Tensor, A_log: torch.Tensor) -> torch.Tensor:
    """:func:`zoh_decay` on checked inputs."""
    A = -torch.exp(A_log)
    return (dt.unsqueeze(-1) * A).exp_()  # in place: one (..., D, N) tensor less to allocate


def init_dt_bias(bias: torch.Tensor, dt_min: float, dt_max: float,
                 floor: float | None = None) -> None:
    """Mamba's dt init (Sec. 3.6): set ``bias`` so that softplus(bias) is log-uniform
    in [dt_min, dt_max] (clamped below at ``floor``), in place.

    ``bias`` is a real floating tensor (a parameter), ``0 < dt_min <= dt_max``
    and ``floor`` None or a number >= 0.
    """
    bias = _require_tensor("bias", bias)
    if not bias.is_floating_point():
        raise TypeError(f"bias must be a real floating tensor, got {bias.dtype}")
    check_dt_range(dt_min, dt_max)
    if floor is not None:
        check_float("floor", floor, minimum=0)
    _init_dt_bias(bias, dt_min, dt_max, floor)


def _init_dt_bias(bias: torch.Tensor, dt_min: float, dt_max: float,
                  floor: float | None = None) -> None:
    """:func:`init_dt_bias` on checked arguments."""
    with torch.no_grad():
        log_dt = torch.rand_like(bias) * math.log(dt_max / dt_min)
        dt = torch.exp(log_dt + math.log(dt_min))
        if floor is not None:
            dt = dt.clamp(min=floor)
        bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # softplus^{-1}(dt)


def check_dt_range(dt_min: Any, dt_max: Any) -> None:
    """``0 < dt_min <= dt_max < inf`` (numbers, NumPy scalars too), else ``ValueError``
    naming both."""
    check_float("dt_min", dt_min, minimum=0, strict=True)
    check_float("dt_max", dt_max, minimum=0, strict=True)
    if not 0 < dt_min <= dt_max < math.inf:
        raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={dt_min}, dt_max={dt_max}")


def _last_reset(reset: torch.Tensor, before: int) -> torch.Tensor:
    """reset (B, L) -> (B, L): index of the latest reset at or before each step, or -before."""
    steps = torch.arange(reset.shape[1], device=reset.device).expand_as(reset)
    marked = torch.where(reset, steps, torch.full_like(steps, -before))
    return torch.cummax(marked, dim=1).values


class SelectiveSSM(nn.Module):
    """Mamba block (Gu & Dao 2023, Sec. 3.2 Algorithm 2, Fig. 3; mamba-minimal layout).

    x -> in_proj -> (x, z); x -> causal depthwise conv1d (width W) -> SiLU;
    (dt, B, C) = x_proj(x) with dt = softplus(dt_proj(dt)) (B, C shared across
    channels, dt per channel); A = -exp(A_log), A_log init log(1..N) (S4D-real);
    A_bar = exp(dt A) (ZOH), B_bar x = dt B x (Euler, as in Mamba);
    h_t = A_bar_t h_{t-1} + B_bar_t x_t by :func:`ssm_metarl.scan.scan`;
    y = C h + D x, gated by SiLU(z), then out_proj.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | str = "auto",
        *,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        d_model = check_int("d_model", d_model)
        d_state = check_int("d_state", d_state)
        d_conv = check_int("d_conv", d_conv)
        expand = check_int("expand", expand)
        if isinstance(dt_rank, str) and dt_rank == "auto":
            dt_rank = math.ceil(d_model / 16)
        dt_rank = check_int("dt_rank", dt_rank, hint="or 'auto'")
        check_dt_range(dt_min, dt_max)
        check_float("dt_init_floor", dt_init_floor, minimum=0)
        conv_bias = check_bool("conv_bias", conv_bias)
        bias = check_bool("bias", bias)
        check_dtype("dtype", dtype)
        check_device("device", device)
        factory = {"dtype": dtype, "device": device}
        self.d_model, self.d_state, self.d_conv, self.dt_rank = d_model, d_state, d_conv, dt_rank
        self.d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **factory)
        self.conv1d = nn.Conv1d(
            self.d_inner, self.d_inner, d_conv, groups=self.d_inner, bias=conv_bias, **factory
        )
        self.x_proj = nn.Linear(self.d_inner, dt_rank + 2 * d_state, bias=False, **factory)
        self.dt_proj = nn.Linear(dt_rank, self.d_inner, bias=True, **factory)
        self._init_dt_proj(dt_min, dt_max, dt_init_floor)
        A = torch.arange(1, d_state + 1, **factory).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))  # (D_inner, N)
        self.D = nn.Parameter(torch.ones(self.d_inner, **factory))
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **factory)

    def _init_dt_proj(self, dt_min: float, dt_max: float, floor: float) -> None:
        """Mamba's dt init: softplus(bias) log-uniform in [dt_min, dt_max]."""
        bound = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -bound, bound)
        _init_dt_bias(self.dt_proj.bias, dt_min, dt_max, floor)

    def init_state(self, batch: int) -> SelectiveState:
        """Zero state: h (B, D_inner, N) and conv buffer (B, D_inner, W-1)."""
        batch = check_int("batch", batch)
        weight = self.A_log
        return SelectiveState(
            h=weight.new_zeros(batch, self.d_inner, self.d_state),
            conv=weight.new_zeros(batch, self.d_inner, self.d_conv - 1),
        )

    def _state_or_zeros(self, state: SelectiveState | None, batch: int) -> SelectiveState:
        if state is None:
            return self.init_state(batch)
        if not isinstance(state, tuple):
            raise TypeError(f"state must be a SelectiveState(h, conv) as returned by this "
                            f"layer (or None), got {type(state).__name__}")
        if len(state) != 2:
            raise ValueError(f"state must be a SelectiveState(h, conv) as returned by this "
                             f"layer, got a tuple of {len(state)} entries")
        h = _check_state(state[0], (batch, self.d_inner, self.d_state), self.A_log)
        conv = _check_state(state[1], (batch, self.d_inner, self.d_conv - 1), self.A_log)
        return SelectiveState(h, conv)

    def _selection(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (..., D_inner) -> dt (..., D_inner), B (..., N), C (..., N): Algorithm 2, l. 2-4."""
        dt_low, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.softplus(self.dt_proj(dt_low)), B, C

    def _causal_depthwise_conv(
        self, x: torch.Tensor, buffer: torch.Tensor, reset: torch.Tensor | None = None
    ):
        """x (B, L, D_inner) with the previous W-1 inputs -> (conv out, new buffer).

        ``reset`` (B, L): inputs before the latest reset at or before step t do
        not reach output t (the buffer is zeroed at a reset, as in :meth:`step`).
        """
        padded = torch.cat([buffer, x.transpose(1, 2)], dim=-1)  # (B, D_inner, W-1+L)
        lag = self.d_conv - 1
        if reset is None:
            out = F.conv1d(padded, self.conv1d.weight, self.conv1d.bias, groups=self.d_inner)
            return out.transpose(1, 2), padded[..., padded.shape[-1] - lag :]
        length = x.shape[1]
        start = _last_reset(reset, lag)  # (B, L); -lag: the whole buffer is live
        steps = torch.arange(length, device=x.device)
        weight = self.conv1d.weight.squeeze(1)  # (D_inner, W)
        out = torch.zeros_like(x.transpose(1, 2))
        for k in range(self.d_conv):  # input t - k, padded index t - k + lag
            live = (steps - k >= start).unsqueeze(1)  # (B, 1, L)
            tap = padded[..., lag - k : lag - k + length]
            out = out + weight[:, lag - k, None] * torch.where(live, tap, torch.zeros_like(tap))
        if self.conv1d.bias is not None:
            out = out + self.conv1d.bias[:, None]
        positions = torch.arange(padded.shape[-1] - lag, padded.shape[-1], device=x.device) - lag
        keep = (positions >= start[:, -1:]).unsqueeze(1)  # (B, 1, W-1)
        tail = padded[..., padded.shape[-1] - lag :]
        return out.transpose(1, 2), torch.where(keep, tail, torch.zeros_like(tail))

    def forward(
        self,
        x: torch.Tensor,
        state: SelectiveState | None = None,
        *,
        reset: torch.Tensor | None = None,
        return_states: bool = False,
    ):
        """x (B, L, d_model) -> (y (B, L, d_model), final SelectiveState).

        ``reset`` (B, L) bool zeroes the state (hidden state and convolution
        buffer) before the flagged steps, so a sequence can hold several trials
        and nothing leaks from one to the next; :meth:`step` with the same
        flags gives the same outputs. With ``return_states=True`` returns
        (y, state, trace) where ``trace`` is a :class:`SelectiveTrace` with
        every hidden state and every dt. Running the halves of a sequence one
        after the other with the state handed over gives the same outputs as
        one call on the whole sequence.
        """
        x = _check_sequence("x", x, self.d_model, self.A_log)
        state = self._state_or_zeros(state, x.shape[0])
        reset = check_reset(reset, tuple(x.shape[:2]))
        return_states = check_bool("return_states", return_states)
        if reset is not None and not bool(reset.any()):
            reset = None  # no trial starts inside: the plain call, bit for bit
        x_in, z = self.in_proj(x).chunk(2, dim=-1)
        x_conv, conv_buffer = self._causal_depthwise_conv(x_in, state.conv, reset)
        x_conv = F.silu(x_conv)
        dt, B, C = self._selection(x_conv)
        A_bar, Bx = _selective_discretize(dt, self.A_log, B, x_conv)  # (B, L, D_inner, N)
        batch, L = x.shape[:2]
        h = scan(A_bar.flatten(2), Bx.flatten(2), h0=state.h.flatten(1), reset=reset)
        h = h.view(batch, L, self.d_inner, self.d_state)
        y = torch.einsum("bldn,bln->bld", h, C) + self.D * x_conv
        y = self.out_proj(y * F.silu(z))
        final = SelectiveState(h=h[:, -1], conv=conv_buffer)
        if return_states:
            return y, final, SelectiveTrace(h=h, dt=dt, B=B, C=C)
        return y, final

    def step(
        self, x_t: torch.Tensor, state: SelectiveState | None = None,
        reset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, SelectiveState]:
        """One step: x_t (B, d_model) -> (y_t (B, d_model), SelectiveState).

        ``reset`` (B,) bool zeroes the state of the flagged sequences first.
        """
        x_t = _check_step_input("x_t", x_t, self.d_model, self.A_log)
        state = self._state_or_zeros(state, x_t.shape[0])
        reset = check_reset(reset, (x_t.shape[0],))
        state = SelectiveState(*(_zero_rows(reset, t) for t in state))
        x_in, z = self.in_proj(x_t).chunk(2, dim=-1)
        window = torch.cat([state.conv, x_in.unsqueeze(-1)], dim=-1)  # (B, D_inner, W)
        x_conv = (window * self.conv1d.weight.squeeze(1)).sum(-1)
        if self.conv1d.bias is not None:
            x_conv = x_conv + self.conv1d.bias
        x_conv = F.silu(x_conv)
        dt, B, C = self._selection(x_conv)
        A_bar, Bx = _selective_discretize(dt, self.A_log, B, x_conv)
        h = A_bar * state.h + Bx
        y = torch.einsum("bdn,bn->bd", h, C) + self.D * x_conv
        return self.out_proj(y * F.silu(z)), SelectiveState(h=h, conv=window[..., 1:])


# ----------------------------------------------------------------------------- training


def fit_on_batches(
    model: nn.Module,
    make_batch: Any,
    loss_fn: Any,
    steps: int,
    lr: float,
    *,
    seed: int = 1,
    desc: str = "train",
    progress: bool = True,
) -> list[float]:
    """Adam on a fresh batch per step; returns the training loss of every step.

    ``make_batch(generator) -> (inputs, targets)`` draws from a
    ``torch.Generator`` seeded by ``seed``, so every model trained with the same
    seed sees the same data (the comparisons of notebooks 01a and 01b: the delay
    task and selective copying). ``loss_fn(model(inputs), targets)`` is a scalar
    tensor. A NaN/inf loss stops training before the weights are touched, with
    a message naming ``desc`` and the step (the learning rate is too large, or
    the SSM became unstable).
    """
    check_instance("model", model, nn.Module)
    check_callable("make_batch", make_batch, what="make_batch(generator) -> (inputs, targets)")
    check_callable("loss_fn", loss_fn, what="loss_fn(outputs, targets) -> scalar tensor")
    steps = check_int("steps", steps, 0)
    lr = check_float("lr", lr, minimum=0.0, strict=True)
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for step in progress_bar(range(steps), desc, progress):
        inputs, targets = make_batch(generator)
        loss = loss_fn(model(inputs), targets)
        losses.append(training_step(optimizer, loss, desc, step,
                                    f"the learning rate {lr} is probably too large, or the "
                                    "SSM became unstable"))
    return losses
