"""Trust-region policy optimisation (TRPO), the outer step of MAML-RL in the paper.

Schulman et al. (2015), *Trust Region Policy Optimization*, Sec. 6 and
Appendix C; Finn et al. (2017), Sec. 5.3, use it for MAML's outer loop. One
step minimises a surrogate loss L(theta) within a KL ball around theta_old:

    minimise  L(theta)   subject to  KL(pi_old || pi_theta) <= delta        (TRPO, Eq. 12)

With L linearised (gradient g) and the KL expanded to second order
(``1/2 d^T F d``, F the Fisher information matrix), the solution is the
natural-gradient step

    d = -sqrt(2 delta / (s^T F s)) s,   s = F^{-1} g                        (App. C)

``s`` comes from :func:`conjugate_gradient`, which needs only products
``F v`` (:func:`fisher_vector_product`), never F itself. A backtracking line
search (:func:`line_search`) then tries ``theta_old + beta^j d`` for j = 0, 1,
... and accepts the first point that lowers L and keeps the *exact* KL within
delta; if none does, theta stays where it was.

**Fisher-vector products with torch.func.** Let eta(theta) be the tensors of
the action distributions on every sample (a Gaussian's mean and standard
deviation, a categorical's logits) and ``J = d eta / d theta``. Then

    F v = J^T M J v,    M = Hessian over eta of KL(pi_eta_old || pi_eta) at eta_old

``J v`` is one forward-mode pass (``torch.func.jvp``), ``M u`` a
forward-over-reverse product on the small eta space, ``J^T w`` one
reverse-mode pass (``torch.func.vjp``, built once per step and reused by
every conjugate-gradient iteration). At theta = theta_old this *is* the
Hessian of the mean KL: the other term of its chain rule is multiplied by
``grad_eta KL``, which is zero at eta_old. For MAML eta is the post-adaptation
policy's, so J runs through the inner gradient step (second order).

Dimension letters used in shapes:

====  =====================================================================
P     parameters being optimised, flattened into one vector
N     samples the KL is averaged over (time steps x trajectories x tasks)
====  =====================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch.distributions import Categorical, Distribution, Independent, Normal

from ._validate import (
    Params,
    check_callable,
    check_finite,
    check_float,
    check_instance,
    check_int,
    check_tensor,
)
from .functional import check_params, loss_gradient

__all__ = [
    "TRPOConfig",
    "TRPOStep",
    "conjugate_gradient",
    "distribution_from",
    "distribution_tensors",
    "fisher_vector_product",
    "flatten",
    "line_search",
    "trpo_step",
    "unflatten",
]

Eta = Any
"""The distribution tensors of :func:`distribution_tensors`: a tensor or a tuple/list of them."""


@dataclass
class TRPOConfig:
    """TRPO's constants: rllab's ``ConjugateGradientOptimizer`` defaults (the MAML paper's).

    ``max_kl`` delta = 0.01 (Finn et al. 2017, Sec. 5.3, "max KL 0.01");
    ``cg_iterations`` 10 and ``cg_damping`` 1e-5 (F + damping I keeps the
    system positive definite); the line search shrinks the step by
    ``backtrack_ratio`` 0.8 up to ``line_search_steps`` 15 times.
    ``subsample`` (0, 1]: the fraction of the data the Fisher-vector products
    use (rllab's ``subsample_factor``; the gradient, the line search and its
    KL always use all of it). The caller decides what a unit of data is
    (MAML-RL: whole tasks).
    """

    max_kl: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 1e-5
    line_search_steps: int = 15
    backtrack_ratio: float = 0.8
    subsample: float = 1.0

    def __post_init__(self) -> None:
        check_float("max_kl", self.max_kl, minimum=0, strict=True)
        check_int("cg_iterations", self.cg_iterations)
        check_float("cg_damping", self.cg_damping, minimum=0)
        check_int("line_search_steps", self.line_search_steps)
        check_float("backtrack_ratio", self.backtrack_ratio, minimum=0, strict=True)
        if self.backtrack_ratio >= 1:
            raise ValueError(f"backtrack_ratio must be in (0, 1), got {self.backtrack_ratio!r}")
        check_float("subsample", self.subsample, minimum=0, strict=True, maximum=1)


class TRPOStep(NamedTuple):
    """What one :func:`trpo_step` did.

    ``params``: the new parameters (theta_old if nothing was accepted);
    ``loss_before`` / ``loss_after``: the surrogate at theta_old / at them;
    ``kl``: the exact mean KL(pi_old || pi_new) (0 if rejected);
    ``step_fraction``: beta^j of the accepted step, 0 if none was.
    """

    params: Params
    loss_before: float
    loss_after: float
    kl: float
    step_fraction: float


# ----------------------------------------------------------------------------- vectors


def _check_dict(name: str, params: Any) -> Params:
    """A non-empty dict of tensors of one dtype (they are flattened into one vector)."""
    params = check_params(params, name)
    dtypes = sorted({str(value.dtype) for value in params.values()})
    if len(dtypes) > 1:
        raise TypeError(f"{name} must hold tensors of one dtype, got {dtypes}")
    return params


def _check_like(name: str, value: Any, like: Params, like_name: str) -> Params:
    """``value``: a dict with the names, shapes and dtype of ``like``."""
    value = check_params(value, name)
    if set(value) != set(like):
        raise ValueError(f"{name} must have the names of {like_name} {list(like)}, "
                         f"got {list(value)}")
    for key, tensor in like.items():
        if (value[key].shape, value[key].dtype) != (tensor.shape, tensor.dtype):
            raise ValueError(f"{name}[{key!r}] must have the shape and dtype of "
                             f"{like_name}[{key!r}] ({tuple(tensor.shape)}, {tensor.dtype}), got "
                             f"({tuple(value[key].shape)}, {value[key].dtype})")
    return value


def flatten(params: Params, names: tuple[str, ...] | None = None) -> torch.Tensor:
    """The tensors of ``params`` (in ``names`` order, default: the dict's) as one vector (P,)."""
    params = _check_dict("params", params)
    if names is not None:
        if isinstance(names, str) or not isinstance(names, (tuple, list)) or not names:
            raise TypeError(f"names must be None or a non-empty tuple of parameter names, got "
                            f"{names!r:.60}")
        unknown = [name for name in names if name not in params]
        if unknown:
            raise ValueError(f"names {unknown} are not in params {list(params)}")
    return _flatten(params, names)


def _flatten(params: Params, names: tuple[str, ...] | None = None) -> torch.Tensor:
    names = tuple(params) if names is None else names
    return torch.cat([params[name].reshape(-1) for name in names])


def unflatten(vector: torch.Tensor, like: Params) -> Params:
    """The inverse of :func:`flatten`: ``vector`` (P,) cut into tensors shaped like ``like``."""
    like = _check_dict("like", like)
    vector = check_tensor("vector", vector, 1, "(P,)")
    size = sum(tensor.numel() for tensor in like.values())
    if vector.numel() != size:
        raise ValueError(f"vector must have {size} entries (the parameters of like), "
                         f"got {vector.numel()}")
    dtype = next(iter(like.values())).dtype
    if vector.dtype != dtype:
        raise TypeError(f"vector must have the dtype of like ({dtype}), got {vector.dtype}")
    return _unflatten(vector, like)


def _unflatten(vector: torch.Tensor, like: Params) -> Params:
    out, start = {}, 0
    for name, tensor in like.items():
        out[name] = vector[start:start + tensor.numel()].view_as(tensor)
        start += tensor.numel()
    return out


def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int = 10,
    tolerance: float = 1e-10,
) -> torch.Tensor:
    """Approximate ``x = A^{-1} b`` for a symmetric positive definite A given only ``v -> A v``.

    Hestenes and Stiefel (1952); TRPO, Appendix C. Starts from x = 0 and stops
    after ``iterations`` steps or once the squared residual ``|b - A x|^2``
    falls below ``tolerance``. In exact arithmetic it solves an n x n system
    in n steps.
    """
    iterations = check_int("iterations", iterations)
    check_float("tolerance", tolerance, minimum=0)
    if not callable(matvec):
        raise TypeError(f"matvec must be a function v -> A v, got {type(matvec).__name__}")
    if not isinstance(b, torch.Tensor) or b.dim() != 1 or not b.is_floating_point():
        raise TypeError(f"b must be a 1-D floating torch.Tensor, got "
                        f"{type(b).__name__} {tuple(getattr(b, 'shape', ()))}")
    check_finite("b", b)
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_sq = residual @ residual
    for _ in range(iterations):
        if residual_sq <= tolerance:
            break
        a_direction = matvec(direction)
        if not isinstance(a_direction, torch.Tensor) or a_direction.shape != b.shape:
            raise TypeError(f"matvec must return a tensor of the shape of b {tuple(b.shape)}, "
                            f"got {type(a_direction).__name__} "
                            f"{tuple(getattr(a_direction, 'shape', ()))}")
        curvature = direction @ a_direction
        if curvature <= 0:
            raise ValueError(f"matvec is not positive definite: d^T A d = {curvature.item():.3g}")
        step = residual_sq / curvature
        x = x + step * direction
        residual = residual - step * a_direction
        new_residual_sq = residual @ residual
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


# ----------------------------------------------------------------------------- distributions


def distribution_tensors(dist: Distribution) -> tuple[torch.Tensor, ...]:
    """The tensors eta that define ``dist``: (mean, std) of a (diagonal) Gaussian, (logits,)."""
    base = dist.base_dist if isinstance(dist, Independent) else dist
    if isinstance(base, Normal):
        return base.loc, base.scale
    if isinstance(base, Categorical):
        return (base.logits,)
    raise TypeError(f"dist must be a Normal, an Independent Normal or a Categorical, "
                    f"got {type(dist).__name__}")


def distribution_from(eta: tuple[torch.Tensor, ...], like: Distribution) -> Distribution:
    """The distribution of the same kind as ``like`` with tensors ``eta`` (inverse of the above)."""
    count = len(distribution_tensors(like))  # same kinds only
    if not isinstance(eta, (tuple, list)) or len(eta) != count or not all(
            isinstance(t, torch.Tensor) for t in eta):
        raise TypeError(f"eta must be a tuple of {count} tensor(s) "
                        f"({'logits' if count == 1 else 'mean, std'}) for a "
                        f"{type(like).__name__}, got {type(eta).__name__} {eta!r:.60}")
    if isinstance(like, Categorical):
        return Categorical(logits=eta[0], validate_args=False)
    normal = Normal(eta[0], eta[1], validate_args=False)
    if isinstance(like, Independent):
        return Independent(normal, like.reinterpreted_batch_ndims, validate_args=False)
    return normal


# ----------------------------------------------------------------------------- the step


def fisher_vector_product(
    outputs: Callable[[Params], Eta],
    kl: Callable[[Eta, Eta], torch.Tensor],
    params: Params,
    vector: Params,
) -> Params:
    """``F v`` with F the Hessian of ``kl(eta(params), eta(theta))`` over theta at ``params``.

    ``outputs(theta)`` returns the distribution tensors eta; ``kl(eta_old,
    eta)`` the mean KL between the distributions they define. Computed as
    ``J^T M J v`` (module docstring) with one ``jvp``, one forward-over-reverse
    product and one ``vjp``. For many products at one point use
    :func:`trpo_step`, which builds the ``vjp`` once.
    """
    check_callable("outputs", outputs, what="outputs(params) -> eta")
    check_callable("kl", kl, what="kl(eta_old, eta) -> mean KL")
    params = _check_dict("params", params)
    vector = _check_like("vector", vector, params, "params")
    return _fisher_operator(outputs, kl, params)(vector)


def _fisher_operator(outputs, kl, params: Params) -> Callable[[Params], Params]:
    eta_old, vjp_fn = torch.func.vjp(outputs, params)
    eta_old = torch.utils._pytree.tree_map(torch.Tensor.detach, eta_old)

    def kl_gradient(eta: Eta) -> Eta:
        return torch.func.grad(lambda e: kl(eta_old, e))(eta)

    def product(vector: Params) -> Params:
        _, j_v = torch.func.jvp(outputs, (params,), (vector,))
        _, m_j_v = torch.func.jvp(kl_gradient, (eta_old,), (j_v,))
        (result,) = vjp_fn(m_j_v)
        return result

    return product


def line_search(
    evaluate: Callable[[Params], tuple[float, float]],
    params: Params,
    full_step: Params,
    loss_before: float,
    max_kl: float,
    steps: int = 15,
    backtrack_ratio: float = 0.8,
) -> tuple[Params, float, float, float]:
    """The first ``params + beta^j full_step`` (j = 0..steps-1) that lowers the loss within the KL.

    ``evaluate(theta) -> (loss, kl)``: the surrogate and the exact mean KL
    from the old policy. A point is accepted only if ``loss < loss_before``
    and ``kl <= max_kl`` (and both are finite). Returns (params, loss, kl,
    fraction); if no point qualifies, ``(params, loss_before, 0.0, 0.0)``
    unchanged (rllab's and TRPO's rule: better no step than a bad one).
    """
    check_callable("evaluate", evaluate, what="evaluate(params) -> (loss, kl)")
    check_params(params)  # returned unchanged (the same dict) when no step qualifies
    _check_like("full_step", full_step, params, "params")
    if isinstance(loss_before, torch.Tensor) and loss_before.numel() == 1:
        loss_before = loss_before.item()
    loss_before = check_float("loss_before", loss_before)
    check_float("max_kl", max_kl, minimum=0, strict=True)
    if not isinstance(backtrack_ratio, (int, float)) or not 0 < backtrack_ratio < 1:
        raise ValueError(f"backtrack_ratio must be in (0, 1), got {backtrack_ratio!r}")
    fraction = 1.0
    for _ in range(check_int("steps", steps)):
        candidate = {name: p + fraction * full_step[name] for name, p in params.items()}
        result = evaluate(candidate)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"evaluate must return a pair (loss, kl) of numbers, got "
                            f"{type(result).__name__}")
        loss, kl = result
        if math.isfinite(loss) and math.isfinite(kl) and loss < loss_before and kl <= max_kl:
            return candidate, loss, kl, fraction
        fraction *= backtrack_ratio
    return params, loss_before, 0.0, 0.0


def trpo_step(
    evaluate: Callable[[Params], tuple[torch.Tensor, Eta]],
    kl: Callable[[Eta, Eta], torch.Tensor],
    params: Params,
    config: TRPOConfig | None = None,
    fisher_outputs: Callable[[Params], Eta] | None = None,
    fisher_kl: Callable[[Eta, Eta], torch.Tensor] | None = None,
) -> TRPOStep:
    """One TRPO step from ``params`` (a dict of tensors, theta_old; left untouched).

    ``evaluate(theta) -> (loss, eta)``: the surrogate loss to minimise (with
    the importance ratio against the data's own log-probs, so its gradient at
    theta_old is the policy gradient) and the distribution tensors on the
    samples; ``kl(eta_old, eta)``: their mean KL. ``evaluate`` must be
    composable with ``torch.func`` (use ``engine="func"`` for inner gradients).
    ``fisher_outputs`` / ``fisher_kl``: the same on a subsample of the data for
    the Fisher-vector products (default: ``evaluate``'s eta and ``kl``).
    Returns a :class:`TRPOStep`; raises ``FloatingPointError`` if the loss or
    the gradient at theta_old is NaN/inf.
    """
    config = check_instance("config", config, TRPOConfig, TRPOConfig())
    if not isinstance(params, Mapping) or not all(
            isinstance(p, torch.Tensor) for p in params.values()):
        raise TypeError(f"params must be a dict name -> tensor, got {type(params).__name__}")
    params = _check_dict("params", params)
    check_callable("evaluate", evaluate, what="evaluate(params) -> (loss, eta)")
    check_callable("kl", kl, what="kl(eta_old, eta) -> mean KL")
    check_callable("fisher_outputs", fisher_outputs, optional=True,
                   what="fisher_outputs(params) -> eta")
    check_callable("fisher_kl", fisher_kl, optional=True, what="fisher_kl(eta_old, eta)")
    theta = {name: p.detach() for name, p in params.items()}
    loss_before, gradient = _loss_and_gradient(evaluate, theta)
    if not math.isfinite(loss_before) or not torch.isfinite(gradient).all():
        raise FloatingPointError(f"TRPO: the surrogate or its gradient at theta_old is not "
                                 f"finite (loss {loss_before})")
    fisher = _fisher_operator(fisher_outputs or (lambda p: evaluate(p)[1]), fisher_kl or kl,
                              theta)
    damping = config.cg_damping

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return _flatten(fisher(_unflatten(v, theta))) + damping * v

    direction = conjugate_gradient(matvec, gradient, config.cg_iterations)
    curvature = direction @ matvec(direction)
    if not torch.isfinite(curvature) or curvature <= 0:
        return TRPOStep(theta, loss_before, loss_before, 0.0, 0.0)
    full_step = _unflatten(-torch.sqrt(2 * config.max_kl / curvature) * direction, theta)
    eta_old = torch.utils._pytree.tree_map(torch.Tensor.detach, evaluate(theta)[1])

    @torch.no_grad()
    def loss_and_kl(candidate: Params) -> tuple[float, float]:
        loss, eta = evaluate(candidate)
        return loss.item(), kl(eta_old, eta).item()

    new, loss_after, step_kl, fraction = line_search(
        loss_and_kl, theta, full_step, loss_before, config.max_kl, config.line_search_steps,
        config.backtrack_ratio)
    return TRPOStep(new, loss_before, loss_after, step_kl, fraction)


def _loss_and_gradient(evaluate, theta: Params) -> tuple[float, torch.Tensor]:
    """The surrogate at theta and its gradient, flattened (``functional.loss_gradient``)."""
    losses = []

    def loss_of(params: Params) -> torch.Tensor:
        result = evaluate(params)
        if not (isinstance(result, (tuple, list)) and len(result) == 2
                and isinstance(result[0], torch.Tensor) and result[0].numel() == 1):
            raise TypeError(f"evaluate must return (loss, eta): a scalar tensor and the "
                            f"distribution tensors, got {type(result).__name__} {result!r:.60}")
        losses.append(result[0])
        return losses[-1]

    grads = loss_gradient(loss_of, theta, tuple(theta), create_graph=False)
    return losses[0].item(), _flatten(grads)
