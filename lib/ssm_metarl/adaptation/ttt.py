"""Linear attention is an SSM, and both are online gradient descent (TTT layers).

Sun et al. (2024), "Learning to (Learn at Test Time)", Sec. 2: causal linear
attention ``o_t = sum_{s<=t} (q_t . k_s) v_s`` (:func:`linear_attention`) is
an SSM whose state ``S_t = S_{t-1} + v_t k_t^T`` has transition ``A = I``
(:func:`linear_attention_as_ssm`), and the same state is gradient descent on
``||W k_t - v_t||^2`` with every gradient taken at ``W_0 = 0``
(:func:`ttt_linear_batch`). Taking each gradient at the current ``W``
instead gives the delta rule (DeltaNet, :func:`delta_rule`,
:func:`ttt_linear_online`), an SSM with the input-dependent transition
``A_t = I - beta_t k_t k_t^T`` (:func:`delta_rule_as_ssm`). Each form sits
next to the others so the tests can check that they agree.

Dimension letters used in shapes:

====  =====================================================================
B'    all leading (batch) dimensions ``...`` flattened into one
L     tokens (time steps)
Dk    key (and query) size; Dv value size
====  =====================================================================
"""

from __future__ import annotations

from typing import Any

import torch

from ..scan import scan

__all__ = [
    "delta_rule",
    "delta_rule_as_ssm",
    "delta_rule_step",
    "linear_attention",
    "linear_attention_as_ssm",
    "ttt_linear_batch",
    "ttt_linear_online",
]


# ----------------------------------------------------------------------------- shapes


def _flatten_batch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor):
    """Check ``q``, ``k`` (..., L, Dk) and ``v`` (..., L, Dv); flatten ``...`` to one dim."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor of shape (..., L, D), got "
                            f"{type(t).__name__}")
        if t.ndim < 2:
            raise ValueError(f"{name} must be a tensor of shape (..., L, D), got "
                             f"{tuple(t.shape)}")
    for t in (q, k, v):
        if t.dtype != k.dtype or t.device != k.device or not t.is_floating_point():
            raise TypeError(f"q, k and v must share one floating dtype and device, got q "
                            f"{q.dtype}, k {k.dtype}, v {v.dtype} on {q.device}, {k.device}, "
                            f"{v.device}")
    if q.shape != k.shape or v.shape[:-1] != k.shape[:-1]:
        raise ValueError(f"q and k must have the same shape (..., L, Dk) and v (..., L, Dv), "
                         f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.shape[-2] == 0 or q.shape[-1] == 0 or v.shape[-1] == 0 or q.numel() == 0:
        raise ValueError(f"q, k and v must hold at least one token and feature (L, Dk, Dv >= 1), "
                         f"got q {tuple(q.shape)}, v {tuple(v.shape)}")
    lead = q.shape[:-2]
    return q.reshape(-1, *q.shape[-2:]), k.reshape(-1, *k.shape[-2:]), \
        v.reshape(-1, *v.shape[-2:]), lead


def _step_size(rate: Any, like: torch.Tensor, name: str = "beta") -> torch.Tensor:
    """A step size (float or tensor) as a finite tensor of ``like``'s dtype, or a clear error."""
    try:
        rate = torch.as_tensor(rate, dtype=like.dtype, device=like.device)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} (the step size) must be a float or a tensor, got "
                        f"{type(rate).__name__} {rate!r:.40}") from None
    if not torch.isfinite(rate).all():
        raise ValueError(f"{name} (the step size) must be finite, got NaN or inf")
    return rate


def _per_token_rate(rate: Any, lead: torch.Size, length: int, like: torch.Tensor,
                    name: str = "beta"):
    """A float or a tensor broadcastable to (..., L) -> (B', L), ``...`` flattened."""
    rate = _step_size(rate, like, name)
    try:
        return rate.expand(*lead, length).reshape(-1, length)
    except RuntimeError:
        raise ValueError(f"{name} (the step size) must be a float or broadcastable to (..., L) = "
                         f"{(*lead, length)}, got shape {tuple(rate.shape)}") from None


# ----------------------------------------------------------------------------- linear attention


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal, unnormalised linear attention ``o_t = sum_{s<=t} (q_t . k_s) v_s``.

    ``q``, ``k`` (..., L, Dk), ``v`` (..., L, Dv) -> (..., L, Dv). The
    "attention" form: an (L, L) score matrix masked to ``s <= t``
    (Katharopoulos et al. 2020, Eq. 2 without the normaliser and feature map).
    """
    _flatten_batch(q, k, v)  # checks the shapes
    scores = q @ k.transpose(-1, -2)
    causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    return scores.masked_fill(~causal, 0) @ v


def linear_attention_as_ssm(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The same outputs from the recurrence ``S_t = S_{t-1} + v_t k_t^T``, ``o_t = S_t q_t``.

    An SSM whose state ``S`` (Dv, Dk) has transition ``A = I`` and input
    ``v_t k_t^T``; run with :func:`ssm_metarl.scan.scan` (``a = 1``) over the
    flattened state. Shapes as in :func:`linear_attention`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    inputs = (v[..., :, None] * k[..., None, :]).flatten(2)  # (B', L, Dv Dk)
    states = scan(torch.ones_like(inputs), inputs).unflatten(2, (v.shape[-1], k.shape[-1]))
    return torch.einsum("blvk,blk->blv", states, q).reshape(*lead, *v.shape[-2:])


def ttt_linear_batch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    lr: float = 0.5,
    initial_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """TTT-linear in its batch form: every token's gradient taken at ``W_0``.

    Inner loss of token ``s``: ``l_s(W) = ||W k_s - v_s||^2`` (no 1/2), with
    gradient ``2 (W k_s - v_s) k_s^T``, computed by ``torch.func.grad``.
    ``W_t = W_0 - lr sum_{s<=t} grad l_s(W_0)``, ``o_t = W_t q_t``. With
    ``W_0 = 0`` (default) and ``lr = 1/2``, ``W_t = sum_{s<=t} v_s k_s^T``:
    linear attention exactly. Shapes as in :func:`linear_attention`;
    ``initial_weights`` (Dv, Dk).
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    lr = _step_size(lr, k, "lr")
    batch, length = k.shape[:2]
    if initial_weights is None:
        initial_weights = k.new_zeros(v.shape[-1], k.shape[-1])
    elif not isinstance(initial_weights, torch.Tensor) or initial_weights.dtype != k.dtype \
            or initial_weights.device != k.device:
        got = f"{initial_weights.dtype} on {initial_weights.device}" if isinstance(
            initial_weights, torch.Tensor) else type(initial_weights).__name__
        raise TypeError(f"initial_weights must be a tensor of k's dtype {k.dtype} on "
                        f"{k.device}, got {got}")
    elif initial_weights.shape != (v.shape[-1], k.shape[-1]):
        raise ValueError(f"initial_weights must have shape (Dv, Dk) = "
                         f"{(v.shape[-1], k.shape[-1])}, got {tuple(initial_weights.shape)}")

    def token_loss(weights: torch.Tensor, key: torch.Tensor, value: torch.Tensor):
        return ((weights @ key - value) ** 2).sum()

    grads = torch.func.vmap(torch.func.grad(token_loss), in_dims=(None, 0, 0))(
        initial_weights, k.flatten(0, 1), v.flatten(0, 1))
    weights = initial_weights - lr * grads.unflatten(0, (batch, length)).cumsum(dim=1)
    return torch.einsum("blvk,blk->blv", weights, q).reshape(*lead, *v.shape[-2:])


# ----------------------------------------------------------------------------- delta rule


def delta_rule_step(
    state: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Any
) -> torch.Tensor:
    """One delta-rule update ``S' = S + beta (v - S k) k^T``.

    ``state`` (..., Dv, Dk), ``k`` (..., Dk), ``v`` (..., Dv), ``beta`` a float or
    (...). Equal to one gradient step of size ``beta`` on ``1/2 ||S k - v||^2``
    at the current ``S`` (Schlag et al. 2021; Yang et al. 2024, DeltaNet).
    """
    for name, t in (("state", state), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(t).__name__}")
    for t in (state, k, v):
        if t.dtype != state.dtype or t.device != state.device or not t.is_floating_point():
            raise TypeError(f"state, k and v must share one floating dtype and device, got "
                            f"state {state.dtype}, k {k.dtype}, v {v.dtype}")
    if k.ndim < 1 or v.ndim < 1:
        raise ValueError(f"k must have shape (..., Dk) and v (..., Dv), got k {tuple(k.shape)} "
                         f"and v {tuple(v.shape)}")
    if state.ndim < 2 or state.shape[-2:] != (v.shape[-1], k.shape[-1]):
        raise ValueError(f"state must have shape (..., Dv, Dk) = (..., {v.shape[-1]}, "
                         f"{k.shape[-1]}) for v {tuple(v.shape)} and k {tuple(k.shape)}, got "
                         f"{tuple(state.shape)}")
    lead = state.shape[:-2]
    if k.shape[:-1] != lead or v.shape[:-1] != lead:
        raise ValueError(f"k must have shape (..., Dk) and v (..., Dv) with ... = {tuple(lead)} "
                         f"from state {tuple(state.shape)}, got k {tuple(k.shape)} and v "
                         f"{tuple(v.shape)}")
    beta = _step_size(beta, state)
    if not _broadcasts(beta.shape, lead) or torch.broadcast_shapes(beta.shape, lead) != lead:
        raise ValueError(f"beta (the step size) must be a float or broadcastable to (...) = "
                         f"{tuple(lead)} from state, got shape {tuple(beta.shape)}")
    return _delta_step(state, k, v, beta)


def _broadcasts(shape: torch.Size, lead: torch.Size) -> bool:
    try:
        torch.broadcast_shapes(shape, lead)
    except RuntimeError:
        return False
    return True


def _delta_step(state: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                beta: torch.Tensor) -> torch.Tensor:
    """:func:`delta_rule_step` on checked arguments."""
    error = v - torch.einsum("...vk,...k->...v", state, k)
    return state + beta[..., None, None] * error[..., :, None] * k[..., None, :]


def delta_rule(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Any) -> torch.Tensor:
    """DeltaNet: ``o_t = S_t q_t``, ``S_t`` = :func:`delta_rule_step` from ``S_{-1} = 0``.

    Expanded, ``S_t = S_{t-1} (I - beta_t k_t k_t^T) + beta_t v_t k_t^T``.
    ``beta``: a float or (..., L). Shapes as in :func:`linear_attention`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    rate = _per_token_rate(beta, lead, k.shape[1], k)
    state, outputs = k.new_zeros(k.shape[0], v.shape[-1], k.shape[-1]), []
    for t in range(k.shape[1]):
        state = _delta_step(state, k[:, t], v[:, t], rate[:, t])
        outputs.append(torch.einsum("bvk,bk->bv", state, q[:, t]))
    return torch.stack(outputs, dim=1).reshape(*lead, *v.shape[-2:])


def ttt_linear_online(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lr: Any) -> torch.Tensor:
    """TTT-linear online: ``W_t = W_{t-1} - lr_t grad (1/2 ||W k_t - v_t||^2)`` at ``W_{t-1}``.

    Gradients by ``torch.func.grad`` (not the closed form), ``W_{-1} = 0``,
    ``o_t = W_t q_t``. Equals :func:`delta_rule` with ``beta = lr``.
    ``lr``: a float or (..., L). Shapes as in :func:`linear_attention`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    rate = _per_token_rate(lr, lead, k.shape[1], k, "lr")

    def token_loss(weights: torch.Tensor, key: torch.Tensor, value: torch.Tensor):
        return 0.5 * ((weights @ key - value) ** 2).sum()

    gradient = torch.func.vmap(torch.func.grad(token_loss))
    weights, outputs = k.new_zeros(k.shape[0], v.shape[-1], k.shape[-1]), []
    for t in range(k.shape[1]):
        weights = weights - rate[:, t, None, None] * gradient(weights, k[:, t], v[:, t])
        outputs.append(torch.einsum("bvk,bk->bv", weights, q[:, t]))
    return torch.stack(outputs, dim=1).reshape(*lead, *v.shape[-2:])


def delta_rule_as_ssm(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: Any
) -> torch.Tensor:
    """The delta rule as a time-varying SSM: ``S_t = S_{t-1} A_t + B_t``, ``o_t = S_t q_t``.

    Transition ``A_t = I - beta_t k_t k_t^T`` (Dk, Dk), input
    ``B_t = beta_t v_t k_t^T`` (Dv, Dk), both built explicitly and applied in
    a loop. Shapes as in :func:`delta_rule`.
    """
    q, k, v, lead = _flatten_batch(q, k, v)
    rate = _per_token_rate(beta, lead, k.shape[1], k)[..., None, None]
    eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device)
    transitions = eye - rate * k[..., :, None] * k[..., None, :]  # (B', L, Dk, Dk)
    drives = rate * v[..., :, None] * k[..., None, :]  # (B', L, Dv, Dk)
    state, outputs = k.new_zeros(k.shape[0], v.shape[-1], k.shape[-1]), []
    for t in range(k.shape[1]):
        state = state @ transitions[:, t] + drives[:, t]
        outputs.append(torch.einsum("bvk,bk->bv", state, q[:, t]))
    return torch.stack(outputs, dim=1).reshape(*lead, *v.shape[-2:])
