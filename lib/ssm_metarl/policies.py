"""Policies for meta-RL: a feed-forward MLP (MAML-RL) and recurrent policies (RL^2).

Dimension letters used in shapes:

====  =====================================================================
B     batch: parallel environments, trials or trajectories
L     time steps of a sequence (a rollout, one or more trials)
O     observation features (``obs_dim``, the env's observation size)
A     actions: number of arms/actions (discrete) or action size (continuous)
P     input features of a recurrent policy: ``O`` or ``O + A + 2`` with RL^2 inputs
H     hidden width of a recurrent policy (``hidden_dim``)
N     state size of the core (``ssm_state_dim``; per channel for the selective SSM)
====  =====================================================================

- :class:`MLPPolicy` is the MAML-RL policy (Finn et al. 2017, Section 5.3): two
  hidden layers of 100 ReLU units and a Gaussian head whose log-std is a
  learned, state-independent vector (rllab's ``GaussianMLPPolicy``), or a
  categorical head for discrete actions. ``forward`` returns the head's raw
  output, so ``torch.func.functional_call(policy, fast_params, (obs,))`` and
  :meth:`MLPPolicy.distribution` with ``params=`` run it with MAML's fast weights.
- :class:`SSMMetaPolicy` is an RL^2 policy (Duan et al. 2016) whose memory is a
  sequence core of :mod:`ssm_metarl.cores` (``core=``: "selective" by default,
  "ssd", "s4d", "linear", "gru", or any instance of the core interface). The
  default is a selective diagonal SSM (Mamba's recurrence, Gu & Dao 2023,
  Section 3.2):

      u_t = SiLU(W_in x_t)                                 (B, H)
      dt_t = softplus(W_dt u_t + b_dt),  B_t = W_B u_t,  C_t = W_C u_t
      a_t = exp(dt_t A)                  (ZOH of the diagonal A = -exp(A_log))
      b_t = (dt_t * u_t) outer B_t       (Euler input, as in Mamba)
      h_t = a_t * h_{t-1} + b_t          (B, H, N); h_{t-1} := 0 at a trial start
      y_t = h_t C_t + D * u_t            (B, H)

  followed by an actor head (logits or Gaussian mean) and a critic head (the
  value V(h_t)). That core, :class:`~ssm_metarl.cores.SelectiveCore` (also
  importable here as ``SelectiveDiagonalSSM``, its old name), is the selective
  scan of :class:`~ssm_metarl.ssm.SelectiveSSM` without its convolution, gate
  and low-rank dt (a lighter parametrisation that every stored RL^2 result was
  trained with); the core lives in ``policy.ssm`` whichever it is.
- :class:`GRUPolicy` is the RL^2 paper's own memory (a GRU,
  :class:`~ssm_metarl.cores.GRUCore`) with the same input embedding and heads,
  the baseline for the SSM policy.

Both recurrent policies have two modes that compute the same numbers:
``step(x_t, state, reset)`` for acting one step at a time and
``forward(x, state, reset)`` for training on whole sequences (each core's
sequence mode: the chunked scan, the chunked SSD, ``nn.GRU`` on the pieces
between resets). ``reset`` flags the steps that start a new trial: the state
is zeroed *before* them, so memory persists across the episodes of a trial
and never leaks into the next.

Speed on a CPU (``benchmarks/bench_rl.py``, 64 trials, H = 64, N = 16, one
thread): the selective core's sequence mode materialises (B, L, H, N) decays
and states and is memory-bound, so it runs about as fast as the step loop at
L = 100 and slower at L = 500 (0.7x), where the step loop's (B, H, N)
tensors stay in cache. The scan pays off where those tensors fit in fast
memory (fused GPU kernels); here its value is one differentiable call for
PPO. ``nn.GRU``'s C++ sequence loop is 2-2.5x faster than its step loop.
The benchmark times every core side by side.

RL^2 feeds its policy ``(s_t, a_{t-1}, r_{t-1}, d_{t-1})``. With
``rl2_inputs=True`` (default) the policy builds that input itself with
:meth:`SSMMetaPolicy.rl2_input`; ``rl2_inputs=False`` uses the observation
alone, for envs whose observation already carries those features (the
bandit of :mod:`ssm_metarl.envs.bandit`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal
from torch.func import functional_call, vmap

from ._validate import (
    check_device,
    check_dtype,
    check_finite,
    check_int,
    check_like,
    check_params_fit,
    check_reset,
    check_tensor,
)
from .cores import DT_RANGE_CORES, GRUCore, SelectiveCore, make_core
from .functional import vmap_or_loop
from .ssm import check_dt_range

__all__ = [
    "AdaptedPolicy",
    "GRUPolicy",
    "MLPPolicy",
    "SSMMetaPolicy",
    "SelectiveDiagonalSSM",
    "act_with",
    "act_with_groups",
    "action_distribution",
    "recurrent_call",
    "rl2_input",
    "stack_params",
]


# ----------------------------------------------------------------------------- checks


def _check_input(
    name: str, x: Any, leading: tuple[int | None, ...] | None, width: int, like: torch.Tensor
) -> torch.Tensor:
    """``x`` (*leading, width) of the policy's dtype and device (``like``, a parameter).

    ``None`` leads match any size; ``leading=None`` any number of them.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of dtype {like.dtype}, got "
                        f"{type(x).__name__}; convert with torch.as_tensor({name}, "
                        f"dtype={like.dtype})")
    if leading is None:
        leading = (None,) * max(x.dim() - 1, 0)
    expected = "(" + ", ".join("?" if n is None else str(n) for n in leading) + f", {width})"
    if x.dim() != len(leading) + 1 or x.shape[-1] != width or any(
        n is not None and n != s for n, s in zip(leading, x.shape, strict=False)
    ):
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    return check_finite(name, check_like(name, x, like))


def _check_params(name: str, params: Any, module: nn.Module, kind: str = "a dict") -> dict:
    """``params`` must be a dict name -> tensor holding every parameter of ``module``."""
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be {kind} name -> tensor (fast weights), "
                        f"got {type(params).__name__}")
    missing = [n for n, _ in module.named_parameters() if n not in params]
    if missing:
        raise ValueError(f"{name} lacks the policy parameters {missing}; expected the keys of "
                         f"dict(policy.named_parameters())")
    return dict(params)


def _check_recurrent(policy: Any) -> nn.Module:
    """``policy`` must be a recurrent policy module (``is_recurrent``: SSMMetaPolicy, GRUPolicy)."""
    if not isinstance(policy, nn.Module) or not getattr(policy, "is_recurrent", False):
        raise TypeError(f"policy must be a recurrent policy (SSMMetaPolicy, GRUPolicy or an "
                        f"AdaptedPolicy of one), got {type(policy).__name__}")
    return policy


def _check_state(state: Any, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """``state`` of ``shape`` in x's dtype (its complex version for a complex state, S4D)."""
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != shape:
        got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ValueError(f"state must be a tensor of shape {shape} (init_state), got {got}")
    return state.to(like.dtype.to_complex() if state.is_complex() else like.dtype)


# ----------------------------------------------------------------------------- heads


def action_distribution(head: torch.Tensor, log_std: torch.Tensor | None) -> Distribution:
    """The action distribution of a policy head.

    ``log_std is None``: ``Categorical(logits=head)``, head (..., A).
    Otherwise a diagonal Gaussian ``N(head, diag(exp(log_std))^2)`` over the A
    action coordinates (``Independent``, so ``log_prob`` sums them), head (..., A),
    log_std (A,) state-independent as in rllab's ``GaussianMLPPolicy``.
    """
    check_tensor("head", head)
    if not head.is_floating_point() or head.dim() < 1:
        raise TypeError(f"head must be a floating tensor (..., A), got dtype {head.dtype} and "
                        f"shape {tuple(head.shape)}")
    if log_std is not None:
        check_tensor("log_std", log_std)
        if log_std.dtype != head.dtype or log_std.dim() < 1 \
                or log_std.shape[-1] != head.shape[-1] or log_std.dim() > head.dim():
            raise ValueError(f"log_std must be a {head.dtype} tensor (A,) with A = "
                             f"{head.shape[-1]} (head's last size), got dtype {log_std.dtype} "
                             f"and shape {tuple(log_std.shape)}")
    if log_std is None:
        return Categorical(logits=head, validate_args=False)
    std = log_std.exp().expand(head.shape)
    return Independent(Normal(head, std, validate_args=False), 1, validate_args=False)


def _mlp(sizes: Sequence[int], activation: type[nn.Module], **factory: Any) -> nn.Sequential:
    """Linear layers of ``sizes`` with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(fan_in, fan_out, **factory))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- MLP policy


class MLPPolicy(nn.Module):
    """Feed-forward policy pi_theta(a | s): the MAML-RL policy (Finn et al. 2017, Sec. 5.3).

    ``MLPPolicy(obs_dim, action_dim, hidden_sizes=(100, 100), discrete=False)``:
    obs (..., O) -> ReLU MLP -> mean (..., A) of a Gaussian with learned
    state-independent ``log_std`` (A,) (initialised to ``init_log_std``), or
    logits (..., A) of a categorical distribution when ``discrete=True``.
    """

    is_recurrent = False

    def __init__(
        self,
        obs_dim: int,
        action_dim: int,
        hidden_sizes: Sequence[int] = (100, 100),
        *,
        discrete: bool = False,
        init_log_std: float = 0.0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = check_int("obs_dim", obs_dim)
        self.action_dim = check_int("action_dim", action_dim)
        if isinstance(hidden_sizes, (str, bytes)) \
                or not isinstance(hidden_sizes, (Sequence, np.ndarray)):
            raise TypeError(f"hidden_sizes must be a tuple of positive ints (layer widths), got "
                            f"{type(hidden_sizes).__name__} {hidden_sizes!r:.40}")
        for i, width in enumerate(hidden_sizes):
            check_int(f"hidden_sizes[{i}]", width)
        if isinstance(init_log_std, str) or not math.isfinite(init_log_std):
            raise ValueError(f"init_log_std must be finite, got {init_log_std!r}")
        check_dtype("dtype", dtype)
        check_device("device", device)
        self.discrete = bool(discrete)
        factory = {"dtype": dtype, "device": device}
        self.net = _mlp([self.obs_dim, *hidden_sizes, self.action_dim], nn.ReLU, **factory)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((self.action_dim,), init_log_std, **factory))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (..., O) -> the Gaussian mean (..., A), or the logits (..., A) if discrete."""
        return self.net(_check_input("obs", obs, None, self.obs_dim, self.net[0].weight))

    def distribution(
        self,
        obs: torch.Tensor,
        params: Mapping[str, torch.Tensor] | None = None,
        per_task: bool = False,
    ) -> Distribution:
        """pi(. | obs) over (...) for obs (..., O); ``params`` are fast weights (MAML).

        ``per_task=True``: ``params`` hold one set of weights per task, stacked
        along a leading G (``stack_params``), and obs is (G, ..., O); the G
        networks run at once under ``torch.func.vmap``.
        """
        obs = _check_input("obs", obs, None, self.obs_dim, self.net[0].weight)
        if params is None:
            return action_distribution(self(obs), getattr(self, "log_std", None))
        params = _check_params("params", params, self)
        if not per_task:
            head = functional_call(self, params, (obs,))
            return action_distribution(head, None if self.discrete else params["log_std"])
        head = vmap(lambda task_params, task_obs: functional_call(self, task_params, (task_obs,)))(
            params, obs
        )
        if self.discrete:
            return action_distribution(head, None)
        log_std = params["log_std"].view(head.shape[0], *[1] * (head.dim() - 2), -1)
        return action_distribution(head, log_std)

    @torch.no_grad()
    def act(
        self,
        obs: torch.Tensor,
        params: Mapping[str, torch.Tensor] | None = None,
        deterministic: bool = False,
        per_task: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample a ~ pi(. | obs): (action (..., A) or (...) long, log_prob (...)).

        ``deterministic=True`` returns the mean (Gaussian) or the argmax
        (categorical); ``params`` and ``per_task`` as in :meth:`distribution`.
        """
        dist = self.distribution(obs, params, per_task)
        action = _mode(dist) if deterministic else dist.sample()
        return action, dist.log_prob(action)


def stack_params(params: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """G fast-weight dicts -> one dict of tensors stacked along a leading G (for ``per_task``)."""
    if not isinstance(params, Sequence) or isinstance(params, (str, Mapping)):
        raise TypeError(f"params must be a list of fast-weight dicts, got {type(params).__name__}")
    if len(params) == 0:
        raise ValueError("params must hold at least one fast-weight dict, got an empty list")
    for g, task in enumerate(params):
        if not isinstance(task, Mapping):
            raise TypeError(f"params[{g}] must be a dict name -> tensor, got "
                            f"{type(task).__name__}")
        if set(task) != set(params[0]):
            raise ValueError(f"params[{g}] must have the names of params[0] "
                             f"{sorted(params[0])}, got {sorted(task)}")
        for name, value in task.items():
            first = params[0][name]
            if not isinstance(value, torch.Tensor) or not isinstance(first, torch.Tensor) \
                    or value.shape != first.shape or value.dtype != first.dtype:
                got = (f"{value.dtype} {tuple(value.shape)}" if isinstance(value, torch.Tensor)
                       else type(value).__name__)
                raise ValueError(f"params[{g}][{name!r}] must be a tensor like "
                                 f"params[0][{name!r}], got {got}")
    return {name: torch.stack([task[name] for task in params]) for name in params[0]}


def _mode(dist: Distribution) -> torch.Tensor:
    if isinstance(dist, Categorical):
        return dist.logits.argmax(-1)
    return dist.mean


# ----------------------------------------------------------------------------- fast weights


def recurrent_call(policy: nn.Module, params: Mapping[str, torch.Tensor] | None,
                   x: torch.Tensor, state: torch.Tensor | None, reset: torch.Tensor | None):
    """A recurrent policy's ``forward`` (x (B, L, P)) or ``step`` (x (B, P)) with ``params``.

    ``params`` None: the module's own weights; a dict name -> tensor: MAML's
    fast weights through ``torch.func.functional_call`` (the module is neither
    copied nor changed), differentiable w.r.t. them.
    """
    _check_recurrent(policy)
    if params is None:
        return policy(x, state, reset)
    return functional_call(policy, _check_params("params", params, policy, "None or a dict"),
                           (x, state, reset))


@torch.no_grad()
def act_with(policy: nn.Module, params: Mapping[str, torch.Tensor] | None, x_t: torch.Tensor,
             state: torch.Tensor | None, reset: torch.Tensor | None, deterministic: bool = False):
    """One action per sequence from a recurrent policy with ``params`` (None: its own).

    Returns (action, log_prob (B,), value (B,), state): x_t (B, P), ``reset``
    (B,) bool zeroes the state of the sequences that start a new trial.
    """
    dist, value, state = recurrent_call(policy, params, x_t, state, reset)
    action = _mode(dist) if deterministic else dist.sample()
    return action, dist.log_prob(action), value, state


class AdaptedPolicy(nn.Module):
    """A policy that acts with fast weights: ``policy`` called with another parameter dict.

    What ``MetaMAMLTrainer.adapt_to_new_task`` returns for RL: an object you
    act with like the policy itself (``act``, ``step``/``forward``,
    ``distribution``, ``init_state``, ``rl2_input``; :func:`~ssm_metarl.rl.collect_rollouts`
    takes it), running ``functional_call(policy, fast_params, ...)``. The
    meta-learned initialisation in ``policy`` is never changed; ``fast_params``
    are detached copies of the adapted weights.
    """

    def __init__(self, policy: nn.Module, fast_params: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        if not isinstance(policy, nn.Module):
            raise TypeError(f"policy must be a torch.nn.Module, got {type(policy).__name__}")
        if not isinstance(fast_params, Mapping):
            raise TypeError(f"fast_params must be a dict name -> tensor, got "
                            f"{type(fast_params).__name__}")
        names = [name for name, _ in policy.named_parameters()]
        missing = [name for name in names if name not in fast_params]
        if missing:
            raise ValueError(f"fast_params lacks the policy parameters {missing}")
        for name, own in policy.named_parameters():
            check_like(f"fast_params[{name!r}]", fast_params[name], own)
        check_params_fit("fast_params", {name: fast_params[name] for name in names}, policy)
        self.policy = policy
        self.fast_params = {name: fast_params[name].detach() for name in names}
        self.is_recurrent = getattr(policy, "is_recurrent", False)
        for attribute in ("discrete", "action_dim", "obs_dim", "input_dim", "rl2_inputs"):
            if hasattr(policy, attribute):
                setattr(self, attribute, getattr(policy, attribute))

    def forward(self, *args: Any) -> Any:
        """The policy's ``forward`` with the fast weights."""
        return functional_call(self.policy, self.fast_params, args)

    def distribution(self, obs: torch.Tensor) -> Distribution:
        """pi_fast(. | obs) of a feed-forward policy."""
        if self.is_recurrent:
            raise TypeError(f"distribution(obs) is for feed-forward policies; this AdaptedPolicy "
                            f"wraps the recurrent policy {type(self.policy).__name__}: use "
                            f"step/forward (x, state, reset) or act")
        return self.policy.distribution(obs, self.fast_params)

    @torch.no_grad()
    def act(self, x: torch.Tensor, second: Any = None, third: Any = None,
            deterministic: bool = False):
        """``act`` of the policy with the fast weights (same arguments and results).

        Recurrent: ``act(x_t, state, reset, deterministic=False)``; feed-forward:
        ``act(obs, None, deterministic=False)`` (``collect_rollouts`` passes
        ``params=None`` second; other fast weights are refused).
        """
        if self.is_recurrent:
            return act_with(self.policy, self.fast_params, x, second, third, deterministic)
        if second is not None:
            raise ValueError("an AdaptedPolicy acts with its own fast weights; got params too")
        return self.policy.act(x, self.fast_params, bool(third) or deterministic)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """The recurrent policy's zero memory (B, ...)."""
        return self._recurrent("init_state").init_state(batch_size)

    def rl2_input(self, *args: Any) -> torch.Tensor:
        """The recurrent policy's RL^2 input: ``rl2_input(obs, prev_action, prev_reward,
        prev_done)``."""
        return self._recurrent("rl2_input").rl2_input(*args)

    def _recurrent(self, method: str) -> nn.Module:
        if not self.is_recurrent:
            raise TypeError(f"{method} is for recurrent policies; this AdaptedPolicy wraps the "
                            f"feed-forward policy {type(self.policy).__name__}")
        return self.policy


def _head_tensors(policy: nn.Module, params, x, state, reset, engine: str = "func"):
    """What ``recurrent_call`` gives, as tensors (vmap cannot return a Distribution)."""
    dist, value, state = recurrent_call(policy, params, x, state, reset)
    if isinstance(dist, Categorical):
        return (dist.logits,), value, state
    return (dist.mean, dist.stddev), value, state


@torch.no_grad()
def act_with_groups(policy: nn.Module, params: Sequence[Mapping[str, torch.Tensor]],
                    x_t: torch.Tensor, state: torch.Tensor, reset: torch.Tensor,
                    deterministic: bool = False):
    """:func:`act_with` for G equal consecutive groups of the B sequences, group g with params[g].

    One call of the policy under ``torch.func.vmap`` over the stacked fast
    weights (about 10x faster than a loop over G tasks for G = 40), or the
    loop if the policy cannot be vmapped (:func:`~ssm_metarl.functional.vmap_or_loop`).
    x_t (B, P), state (B, ...), reset (B,) bool; returns (action, log_prob
    (B,), value (B,), state) like :func:`act_with`.
    """
    _check_recurrent(policy)
    stacked = stack_params(params)
    groups = len(params)
    check_tensor("x_t", x_t)
    if x_t.dim() < 1 or x_t.shape[0] % groups:
        raise ValueError(f"x_t must have shape (B, P) with B divisible by the {groups} groups "
                         f"of params, got {tuple(x_t.shape)}")
    check_tensor("state", state)
    if state.dim() < 1 or state.shape[0] != x_t.shape[0]:
        raise ValueError(f"state must have shape (B = {x_t.shape[0]}, ...) (init_state), got "
                         f"{tuple(state.shape)}")
    if reset is None:
        raise TypeError(f"reset must be a bool tensor of shape ({x_t.shape[0]},), got None")
    check_reset(reset, (x_t.shape[0],))

    def grouped(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(groups, t.shape[0] // groups, *t.shape[1:])

    def call(task_params, x, h, r, engine):
        return _head_tensors(policy, task_params, x, h, r)

    heads, value, state = vmap_or_loop(call, (stacked, grouped(x_t), grouped(state),
                                              grouped(reset)), model=policy, unit="group")
    heads = [h.flatten(0, 1) for h in heads]
    if len(heads) == 1:
        dist = Categorical(logits=heads[0], validate_args=False)
    else:
        dist = Independent(Normal(*heads, validate_args=False), 1, validate_args=False)
    action = _mode(dist) if deterministic else dist.sample()
    return action, dist.log_prob(action), value.flatten(0, 1), state.flatten(0, 1)


# ----------------------------------------------------------------------------- RL^2 inputs


def rl2_input(
    obs: torch.Tensor,
    prev_action: torch.Tensor,
    prev_reward: torch.Tensor,
    prev_done: torch.Tensor,
    action_dim: int,
    discrete: bool,
) -> torch.Tensor:
    """RL^2's input ``[s_t, a_{t-1}, r_{t-1}, d_{t-1}]`` (Duan et al. 2016, Sec. 2.2).

    obs (..., O); prev_action (...) long (one-hot encoded) if ``discrete`` else
    (..., A); prev_reward (...); prev_done (...) -> x (..., O + A + 2). At the
    start of a trial the previous action, reward and done are zeros (a discrete
    previous action of -1 means "none" and encodes as all zeros).
    """
    check_tensor("obs", obs)
    if not obs.is_floating_point() or obs.dim() < 1:
        raise TypeError(f"obs must be a floating tensor (..., O), got dtype {obs.dtype} and "
                        f"shape {tuple(obs.shape)}")
    action_dim = check_int("action_dim", action_dim)
    if not isinstance(discrete, (bool, np.bool_)):
        raise TypeError(f"discrete must be True or False, got {discrete!r}")
    batch = tuple(obs.shape[:-1])
    action_shape = batch if discrete else (*batch, action_dim)
    for name, value, shape in (("prev_action", prev_action, action_shape),
                               ("prev_reward", prev_reward, batch),
                               ("prev_done", prev_done, batch)):
        check_tensor(name, value)
        if tuple(value.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} (obs is {tuple(obs.shape)}), got "
                             f"{tuple(value.shape)}")
        if value.is_complex():
            raise TypeError(f"{name} must be real, got dtype {value.dtype}")
    if discrete:
        if prev_action.is_floating_point() or prev_action.dtype == torch.bool:
            raise TypeError(f"prev_action must be an integer tensor of action indices (-1: "
                            f"none), got dtype {prev_action.dtype}")
        if bool(((prev_action < -1) | (prev_action >= action_dim)).any()):
            bad = prev_action[(prev_action < -1) | (prev_action >= action_dim)][:4].tolist()
            raise ValueError(f"prev_action must hold action indices in [-1, action_dim="
                             f"{action_dim}), got {bad}")
    if discrete:
        prev_action = prev_action.long()
        action_features = F.one_hot(prev_action.clamp(min=0), action_dim).to(obs.dtype)
        action_features = action_features * (prev_action >= 0).unsqueeze(-1).to(obs.dtype)
    else:
        action_features = prev_action.to(obs.dtype)
    extras = [prev_reward.to(obs.dtype).unsqueeze(-1), prev_done.to(obs.dtype).unsqueeze(-1)]
    return torch.cat([obs, action_features, *extras], dim=-1)


class _ActorCritic(nn.Module):
    """Heads shared by the recurrent policies: features (..., H) -> (pi(. | h), V(h) (...)).

    Each head is a Tanh MLP with one hidden layer of H units; the actor outputs
    logits or a Gaussian mean with a state-independent ``log_std``.
    """

    def __init__(self, hidden_dim: int, action_dim: int, discrete: bool, **factory: Any):
        super().__init__()
        self.actor = _mlp([hidden_dim, hidden_dim, action_dim], nn.Tanh, **factory)
        self.critic = _mlp([hidden_dim, hidden_dim, 1], nn.Tanh, **factory)
        self.log_std = None if discrete else nn.Parameter(torch.zeros(action_dim, **factory))

    def forward(self, features: torch.Tensor) -> tuple[Distribution, torch.Tensor]:
        dist = action_distribution(self.actor(features), self.log_std)
        return dist, self.critic(features).squeeze(-1)


class _RecurrentPolicyMixin:
    """What both recurrent policies share: RL^2 inputs, input checks and sampling."""

    is_recurrent = True

    def _init_interface(self, obs_dim, action_dim, hidden_dim, discrete, rl2_inputs, dtype,
                        device, state_dim=None) -> dict:
        """Sizes, flags and the input embedding both policies share; returns dtype/device.

        Called first in ``__init__`` so the embedding is created (and seeded) before the
        memory and the heads, in the same order as always. ``state_dim`` is the
        prototype's name for the observation size (RL's "state"), accepted in
        place of ``obs_dim``.
        """
        self.rl2_inputs, self.discrete = bool(rl2_inputs), bool(discrete)
        obs_name = "obs_dim"
        if state_dim is not None:
            if obs_dim is not None:
                raise TypeError("give the observation size once: obs_dim, or state_dim (its "
                                f"old name), not both; got obs_dim={obs_dim}, "
                                f"state_dim={state_dim}")
            obs_dim, obs_name = state_dim, "state_dim"
        sizes = _recurrent_sizes(obs_dim, action_dim, hidden_dim, self.rl2_inputs, obs_name)
        self.obs_dim, self.action_dim, self.input_dim = sizes
        self.hidden_dim = hidden_dim
        factory = {"dtype": check_dtype("dtype", dtype), "device": check_device("device", device)}
        self.embed = nn.Linear(self.input_dim, hidden_dim, **factory)
        return factory

    def rl2_input(
        self,
        obs: torch.Tensor,
        prev_action: torch.Tensor,
        prev_reward: torch.Tensor,
        prev_done: torch.Tensor,
    ) -> torch.Tensor:
        """The policy input x (..., P): :func:`rl2_input`, or obs alone if ``rl2_inputs=False``."""
        if not self.rl2_inputs:
            return obs
        return rl2_input(obs, prev_action, prev_reward, prev_done, self.action_dim, self.discrete)

    @torch.no_grad()
    def act(
        self,
        x_t: torch.Tensor,
        state: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
        deterministic: bool = False,
    ):
        """Sample one action per sequence: (action, log_prob (B,), value (B,), state).

        x_t (B, P) is the policy input (:meth:`rl2_input`); ``reset`` (B,) bool
        zeroes the state of the sequences that start a new trial.
        """
        return act_with(self, None, x_t, state, reset, deterministic)

    def _check_step(self, x_t, reset):
        x_t = _check_input("x_t", x_t, (None,), self.input_dim, self.embed.weight)
        return x_t, check_reset(reset, (x_t.shape[0],))

    def _check_sequence(self, x, reset):
        x = _check_input("x", x, (None, None), self.input_dim, self.embed.weight)
        return x, check_reset(reset, tuple(x.shape[:2]))


def _recurrent_sizes(obs_dim, action_dim, hidden_dim, rl2_inputs,
                     obs_name="obs_dim") -> tuple[int, int, int]:
    obs_dim = check_int(obs_name, obs_dim)
    action_dim = check_int("action_dim", action_dim)
    check_int("hidden_dim", hidden_dim)
    return obs_dim, action_dim, obs_dim + (action_dim + 2 if rl2_inputs else 0)


# ----------------------------------------------------------------------------- SSM policy


SelectiveDiagonalSSM = SelectiveCore  # the memory's name before the cores moved to ssm_metarl.cores


class SSMMetaPolicy(_RecurrentPolicyMixin, nn.Module):
    """RL^2 actor-critic whose memory is a sequence core (module docstring).

    ``SSMMetaPolicy(obs_dim, action_dim)``: ``obs_dim`` is the observation
    size O (``state_dim=`` is accepted as its old name, the prototype's),
    ``action_dim`` the number of actions (``discrete=True``, default)
    or the action size (``discrete=False``, Gaussian head). x (B, L, P) ->
    embedding u = SiLU(W_in x) (B, L, H) -> core -> features ``SiLU(W_out y) + u``
    -> actor and critic heads.

    ``core``: a name of :data:`ssm_metarl.cores.CORE_NAMES` ("selective",
    the default, "ssd", "s4d", "linear", "gru"), built by
    :func:`ssm_metarl.cores.make_core` with width H, state size
    ``ssm_state_dim`` N, the policy's dtype and device, ``dt_min``/``dt_max``
    (cores with a learned step) and ``core_options`` (e.g. ``{"heads": 4}``
    for "ssd", ``{"init": "real"}`` for "s4d"); or a core instance of width H.
    It is stored as ``self.ssm`` (the name every stored state_dict uses), its
    name as ``core_name``; its ``init_state`` must return one tensor (B, ...).

    ``step(x_t (B, P), state | None, reset (B,) | None) -> (pi, V (B,), state)``
    and ``forward(x (B, L, P), state, reset (B, L)) -> (pi over (B, L), V (B, L),
    final state)`` give the same numbers (float64: to about 1e-12); the state
    is the core's (``init_state``; selective: (B, H, N)).
    """

    def __init__(
        self,
        obs_dim: int | None = None,
        action_dim: int | None = None,
        *,
        core: str | nn.Module = "selective",
        discrete: bool = True,
        hidden_dim: int = 64,
        ssm_state_dim: int = 16,
        rl2_inputs: bool = True,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        core_options: Mapping[str, Any] | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        state_dim: int | None = None,
    ) -> None:
        super().__init__()
        factory = self._init_interface(obs_dim, action_dim, hidden_dim, discrete, rl2_inputs,
                                       dtype, device, state_dim)
        check_int("ssm_state_dim", ssm_state_dim)
        check_dt_range(dt_min, dt_max)
        self.ssm = self._make_core(core, ssm_state_dim, dt_min, dt_max, core_options, factory)
        self.core_name = core if isinstance(core, str) else type(core).__name__
        self.out_proj = nn.Linear(hidden_dim, hidden_dim, **factory)
        self.heads = _ActorCritic(hidden_dim, self.action_dim, self.discrete, **factory)
        probe = self.ssm.init_state(1)
        if not isinstance(probe, torch.Tensor):
            raise TypeError(f"core {self.core_name}: init_state must return one tensor (B, ...), "
                            f"got {type(probe).__name__}")
        self._state_shape = tuple(probe.shape[1:])

    def _make_core(self, core, state_size, dt_min, dt_max, options, factory) -> nn.Module:
        """The core by name (with the policy's dtype, device and dt range) or as given."""
        if not isinstance(core, str):
            if options:
                raise TypeError("core_options build a core by name; got a core instance too")
            return make_core(core, self.hidden_dim, state_size)
        options = {**factory, **(options or {})}
        if core in DT_RANGE_CORES:
            options = {"dt_min": dt_min, "dt_max": dt_max, **options}
        return make_core(core, self.hidden_dim, state_size, **options)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero memory for the start of a trial: the core's ``init_state`` (B, ...)."""
        return self.ssm.init_state(check_int("batch_size", batch_size))

    initial_state = init_state  # the name used before the package settled on init_state

    def _features(self, y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return F.silu(self.out_proj(y)) + u

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step of acting: x_t (B, P) -> (pi(. | h_t), V (B,), the core's state h_t)."""
        x_t, reset = self._check_step(x_t, reset)
        h = self._state_or_zeros(state, x_t)
        u_t = F.silu(self.embed(x_t))
        y_t, h = self.ssm.step(u_t, h, reset)
        dist, value = self.heads(self._features(y_t, u_t))
        return dist, value, h

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Whole sequences: x (B, L, P) -> (pi over (B, L), V (B, L), final core state).

        A 2-D x (B, P) is one step (:meth:`step`), so ``functional_call(policy,
        fast_weights, (x_t, state, reset))`` acts with MAML's fast weights.
        """
        if isinstance(x, torch.Tensor) and x.dim() == 2:
            return self.step(x, state, reset)
        x, reset = self._check_sequence(x, reset)
        h0 = self._state_or_zeros(state, x)
        u = F.silu(self.embed(x))
        y, h_last = self.ssm(u, h0, reset)
        dist, values = self.heads(self._features(y, u))
        return dist, values, h_last

    def _state_or_zeros(self, state: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        if state is None:
            return self.init_state(x.shape[0])
        return _check_state(state, (x.shape[0], *self._state_shape), x)


# ----------------------------------------------------------------------------- GRU baseline


class GRUPolicy(_RecurrentPolicyMixin, nn.Module):
    """RL^2's own policy (Duan et al. 2016, Sec. 2.3): a GRU over the embedded inputs.

    Same constructor, inputs, heads and methods as :class:`SSMMetaPolicy`; the
    memory is a :class:`~ssm_metarl.cores.GRUCore` (``nn.GRU`` with resets) whose
    hidden vector (B, H) feeds the heads directly (no output projection or
    residual). ``forward`` runs ``nn.GRU`` on the pieces of the sequence between
    the steps where any sequence resets, zeroing the hidden state of the
    resetting ones, so it equals :meth:`step` run in a loop.
    """

    def __init__(
        self,
        obs_dim: int | None = None,
        action_dim: int | None = None,
        *,
        discrete: bool = True,
        hidden_dim: int = 64,
        rl2_inputs: bool = True,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        state_dim: int | None = None,
    ) -> None:
        super().__init__()
        factory = self._init_interface(obs_dim, action_dim, hidden_dim, discrete, rl2_inputs,
                                       dtype, device, state_dim)
        self.gru = GRUCore(hidden_dim, **factory)
        self.heads = _ActorCritic(hidden_dim, self.action_dim, self.discrete, **factory)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero hidden state (B, H) for the start of a trial."""
        return self.gru.init_state(batch_size)

    initial_state = init_state  # the name used before the package settled on init_state

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step of acting: x_t (B, P) -> (pi(. | h_t), V (B,), h_t (B, H))."""
        x_t, reset = self._check_step(x_t, reset)
        h = self._state_or_zeros(state, x_t)
        y_t, h = self.gru.step(F.silu(self.embed(x_t)), h, reset)
        dist, value = self.heads(y_t)
        return dist, value, h

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Whole sequences: x (B, L, P) -> (pi over (B, L), V (B, L), h_L (B, H)).

        A 2-D x (B, P) is one step (:meth:`step`), as for :class:`SSMMetaPolicy`.
        """
        if isinstance(x, torch.Tensor) and x.dim() == 2:
            return self.step(x, state, reset)
        x, reset = self._check_sequence(x, reset)
        h = self._state_or_zeros(state, x)
        y, h = self.gru(F.silu(self.embed(x)), h, reset)
        dist, values = self.heads(y)
        return dist, values, h

    def _state_or_zeros(self, state: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        if state is None:
            return self.init_state(x.shape[0])
        return _check_state(state, (x.shape[0], self.hidden_dim), x)
