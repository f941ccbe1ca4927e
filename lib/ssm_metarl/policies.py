"""Policies for meta-RL: a feed-forward MLP (MAML-RL) and recurrent policies (RL^2).

Dimension letters used in shapes:

====  =====================================================================
B     batch: parallel environments, trials or trajectories
L     time steps of a sequence (a rollout, one or more trials)
O     observation features (``obs_dim``, the env's observation size)
A     actions: number of arms/actions (discrete) or action size (continuous)
P     input features of a recurrent policy: ``O`` or ``O + A + 2`` with RL^2 inputs
H     hidden width of a recurrent policy (``hidden_dim``)
N     state entries per channel of the selective SSM (``ssm_state_dim``)
====  =====================================================================

- :class:`MLPPolicy` is the MAML-RL policy (Finn et al. 2017, Section 5.3): two
  hidden layers of 100 ReLU units and a Gaussian head whose log-std is a
  learned, state-independent vector (rllab's ``GaussianMLPPolicy``), or a
  categorical head for discrete actions. ``forward`` returns the head's raw
  output, so ``torch.func.functional_call(policy, fast_params, (obs,))`` and
  :meth:`MLPPolicy.distribution` with ``params=`` run it with MAML's fast weights.
- :class:`SSMMetaPolicy` is an RL^2 policy (Duan et al. 2016) whose memory is a
  selective diagonal SSM (Mamba's recurrence, Gu & Dao 2023, Section 3.2):

      u_t = SiLU(W_in x_t)                                 (B, H)
      dt_t = softplus(W_dt u_t + b_dt),  B_t = W_B u_t,  C_t = W_C u_t
      a_t = exp(dt_t A)                  (ZOH of the diagonal A = -exp(A_log))
      b_t = (dt_t * u_t) outer B_t       (Euler input, as in Mamba)
      h_t = a_t * h_{t-1} + b_t          (B, H, N); h_{t-1} := 0 at a trial start
      y_t = h_t C_t + D * u_t            (B, H)

  followed by an actor head (logits or Gaussian mean) and a critic head (the
  value V(h_t)). The core is the selective scan of
  :class:`~ssm_metarl.ssm.SelectiveSSM` without its convolution, gate and
  low-rank dt (a lighter parametrisation that every stored RL^2 result was
  trained with); it takes its discretisation (:func:`ssm_metarl.ssm.zoh_decay`)
  and dt initialisation (:func:`ssm_metarl.ssm.init_dt_bias`) from there and
  runs :func:`ssm_metarl.scan.scan` with ``reset=``, as ``SelectiveSSM`` does.
- :class:`GRUPolicy` is the RL^2 paper's own memory (a GRU) with the same
  input embedding and heads, the baseline for the SSM policy.

Both recurrent policies have two modes that compute the same numbers:
``step(x_t, state, reset)`` for acting one step at a time and
``forward(x, state, reset)`` for training on whole sequences (the SSM by the
chunked scan, the GRU by ``nn.GRU`` on the pieces between resets). ``reset``
flags the steps that start a new trial: the state is zeroed *before* them, so
memory persists across the episodes of a trial and never leaks into the next.

Speed on a CPU (``benchmarks/bench_rl.py``, 64 trials, H = 64, N = 16, one
thread): the SSM's sequence mode materialises (B, L, H, N) decays and states
and is memory-bound, so it runs about as fast as the step loop at L = 100 and
slower at L = 500 (0.7x), where the step loop's (B, H, N) tensors stay in
cache. The scan pays off where those tensors fit in fast memory (fused GPU
kernels); here its value is one differentiable call for PPO. ``nn.GRU``'s
C++ sequence loop is 2-2.5x faster than its step loop.

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

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal
from torch.func import functional_call, vmap

from ._validate import check_int, check_reset
from .scan import scan
from .ssm import check_dt_range, init_dt_bias, zoh_decay

__all__ = [
    "GRUPolicy",
    "MLPPolicy",
    "SSMMetaPolicy",
    "SelectiveDiagonalSSM",
    "action_distribution",
    "rl2_input",
    "stack_params",
]


# ----------------------------------------------------------------------------- checks


def _check_input(name: str, x: Any, leading: tuple[int | None, ...], width: int) -> torch.Tensor:
    """``x`` must be a floating tensor of shape (*leading, width); ``None`` leads match any."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    expected = "(" + ", ".join("?" if n is None else str(n) for n in leading) + f", {width})"
    if x.dim() != len(leading) + 1 or x.shape[-1] != width or any(
        n is not None and n != s for n, s in zip(leading, x.shape, strict=False)
    ):
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    return x


def _check_state(state: Any, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    if not isinstance(state, torch.Tensor) or tuple(state.shape) != shape:
        got = tuple(state.shape) if isinstance(state, torch.Tensor) else type(state).__name__
        raise ValueError(f"state must be a tensor of shape {shape} (init_state), got {got}")
    return state.to(like.dtype)


# ----------------------------------------------------------------------------- heads


def action_distribution(head: torch.Tensor, log_std: torch.Tensor | None) -> Distribution:
    """The action distribution of a policy head.

    ``log_std is None``: ``Categorical(logits=head)``, head (..., A).
    Otherwise a diagonal Gaussian ``N(head, diag(exp(log_std))^2)`` over the A
    action coordinates (``Independent``, so ``log_prob`` sums them), head (..., A),
    log_std (A,) state-independent as in rllab's ``GaussianMLPPolicy``.
    """
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
        for i, width in enumerate(hidden_sizes):
            check_int(f"hidden_sizes[{i}]", width)
        if not math.isfinite(init_log_std):
            raise ValueError(f"init_log_std must be finite, got {init_log_std}")
        self.discrete = bool(discrete)
        factory = {"dtype": dtype, "device": device}
        self.net = _mlp([self.obs_dim, *hidden_sizes, self.action_dim], nn.ReLU, **factory)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((self.action_dim,), init_log_std, **factory))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (..., O) -> the Gaussian mean (..., A), or the logits (..., A) if discrete."""
        return self.net(obs)

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
        obs = _check_input("obs", obs, (None,) * (obs.dim() - 1), self.obs_dim)
        if params is None:
            return action_distribution(self(obs), getattr(self, "log_std", None))
        params = dict(params)
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
    if len(params) == 0:
        raise ValueError("params must hold at least one fast-weight dict, got an empty list")
    return {name: torch.stack([task[name] for task in params]) for name in params[0]}


def _mode(dist: Distribution) -> torch.Tensor:
    if isinstance(dist, Categorical):
        return dist.logits.argmax(-1)
    return dist.mean


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
        factory = {"dtype": dtype, "device": device}
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
        dist, value, state = self.step(x_t, state, reset)
        action = _mode(dist) if deterministic else dist.sample()
        return action, dist.log_prob(action), value, state

    def _check_step(self, x_t, reset):
        x_t = _check_input("x_t", x_t, (None,), self.input_dim)
        return x_t, check_reset(reset, (x_t.shape[0],))

    def _check_sequence(self, x, reset):
        x = _check_input("x", x, (None, None), self.input_dim)
        return x, check_reset(reset, tuple(x.shape[:2]))


def _recurrent_sizes(obs_dim, action_dim, hidden_dim, rl2_inputs,
                     obs_name="obs_dim") -> tuple[int, int, int]:
    obs_dim = check_int(obs_name, obs_dim)
    action_dim = check_int("action_dim", action_dim)
    check_int("hidden_dim", hidden_dim)
    return obs_dim, action_dim, obs_dim + (action_dim + 2 if rl2_inputs else 0)


# ----------------------------------------------------------------------------- SSM core


class SelectiveDiagonalSSM(nn.Module):
    """Selective diagonal SSM with resets: the memory of :class:`SSMMetaPolicy`.

    ``h_t = exp(dt_t A) * h_{t-1} + (dt_t u_t) outer B_t``, ``y_t = h_t C_t + D u_t``
    with ``dt_t = softplus(W_dt u_t + b_dt)`` (H,), ``B_t = W_B u_t``, ``C_t = W_C u_t``
    (N,) and ``A = -exp(A_log)`` (H, N) initialised to ``-(1..N)`` (S4D-real);
    softplus(b_dt) starts log-uniform in [dt_min, dt_max] (Gu & Dao 2023, Sec. 3.6).
    :meth:`step` and :meth:`forward` evaluate the same formulas; ``forward`` runs
    the recurrence with :func:`ssm_metarl.scan.scan` and its ``reset`` flags.
    """

    def __init__(
        self,
        hidden_dim: int,
        state_dim: int = 16,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        **factory: Any,
    ) -> None:
        super().__init__()
        self.hidden_dim = check_int("hidden_dim", hidden_dim)
        self.state_dim = check_int("ssm_state_dim", state_dim)
        check_dt_range(dt_min, dt_max)
        self.dt_proj = nn.Linear(hidden_dim, hidden_dim, **factory)
        self.B_proj = nn.Linear(hidden_dim, state_dim, bias=False, **factory)
        self.C_proj = nn.Linear(hidden_dim, state_dim, bias=False, **factory)
        A = torch.arange(1, state_dim + 1, **factory).repeat(hidden_dim, 1)
        self.A_log = nn.Parameter(torch.log(A))  # (H, N)
        self.D = nn.Parameter(torch.ones(hidden_dim, **factory))
        self._init_dt(dt_min, dt_max)

    def _init_dt(self, dt_min: float, dt_max: float) -> None:
        """softplus(b_dt) log-uniform in [dt_min, dt_max]; small W_dt so dt starts there."""
        with torch.no_grad():
            self.dt_proj.weight.mul_(0.1)
        init_dt_bias(self.dt_proj.bias, dt_min, dt_max)

    def coefficients(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """u (..., H) -> decay a (..., H, N), input b (..., H, N), readout C (..., N)."""
        dt = F.softplus(self.dt_proj(u))
        a = zoh_decay(dt, self.A_log)
        # B_bar u = dt u B (Euler), as in ssm.selective_discretize; spelled out so that
        # B_proj runs after dt * u, the autograd order every stored RL^2 run was trained in.
        b = (dt * u).unsqueeze(-1) * self.B_proj(u).unsqueeze(-2)
        return a, b, self.C_proj(u)

    def readout(self, h: torch.Tensor, C: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """y = h C + D u: h (..., H, N), C (..., N), u (..., H) -> (..., H)."""
        # a batched mat-vec; (h * C).sum(-1) would write a temporary as large as h
        return torch.matmul(h, C.unsqueeze(-1)).squeeze(-1) + self.D * u

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero state h (B, H, N)."""
        return self.A_log.new_zeros(check_int("batch_size", batch_size),
                                    self.hidden_dim, self.state_dim)

    initial_state = init_state  # the name used before the package settled on init_state

    def step(self, u_t: torch.Tensor, h: torch.Tensor, reset: torch.Tensor | None):
        """One step: u_t (B, H), h (B, H, N), reset (B,) -> (y_t (B, H), h_t (B, H, N))."""
        a, b, C = self.coefficients(u_t)
        if reset is not None:
            h = torch.where(reset[:, None, None], torch.zeros_like(h), h)
        h = a * h + b
        return self.readout(h, C, u_t), h

    def forward(self, u: torch.Tensor, h0: torch.Tensor, reset: torch.Tensor | None):
        """Sequence: u (B, L, H), h0 (B, H, N), reset (B, L) -> (y (B, L, H), h_L (B, H, N))."""
        a, b, C = self.coefficients(u)
        batch, length = u.shape[:2]
        if reset is not None and not reset[:, 1:].any():
            # Resets only at step 0 (one trial per sequence): zeroing h0 is the same and
            # spares the scan a pass over a (B, L, H * N) tensor to fold resets into a.
            h0, reset = torch.where(reset[:, 0, None, None], torch.zeros_like(h0), h0), None
        h = scan(a.flatten(2), b.flatten(2), h0=h0.flatten(1), reset=reset)
        h = h.view(batch, length, self.hidden_dim, self.state_dim)
        return self.readout(h, C, u), h[:, -1]


class SSMMetaPolicy(_RecurrentPolicyMixin, nn.Module):
    """RL^2 actor-critic whose memory is a selective diagonal SSM (module docstring).

    ``SSMMetaPolicy(obs_dim, action_dim)``: ``obs_dim`` is the observation
    size O (``state_dim=`` is accepted as its old name, the prototype's),
    ``action_dim`` the number of actions (``discrete=True``, default)
    or the action size (``discrete=False``, Gaussian head). x (B, L, P) ->
    embedding u = SiLU(W_in x) (B, L, H) -> SSM -> features ``SiLU(W_out y) + u``
    -> actor and critic heads.

    ``step(x_t (B, P), state (B, H, N) | None, reset (B,) | None) -> (pi, V (B,), state)``
    and ``forward(x (B, L, P), state, reset (B, L)) -> (pi over (B, L), V (B, L),
    final state)`` give the same numbers (float64: to about 1e-12).
    """

    def __init__(
        self,
        obs_dim: int | None = None,
        action_dim: int | None = None,
        *,
        discrete: bool = True,
        hidden_dim: int = 64,
        ssm_state_dim: int = 16,
        rl2_inputs: bool = True,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        state_dim: int | None = None,
    ) -> None:
        super().__init__()
        factory = self._init_interface(obs_dim, action_dim, hidden_dim, discrete, rl2_inputs,
                                       dtype, device, state_dim)
        self.ssm = SelectiveDiagonalSSM(hidden_dim, ssm_state_dim, dt_min, dt_max, **factory)
        self.out_proj = nn.Linear(hidden_dim, hidden_dim, **factory)
        self.heads = _ActorCritic(hidden_dim, self.action_dim, self.discrete, **factory)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero memory (B, H, N) for the start of a trial."""
        return self.ssm.init_state(batch_size)

    initial_state = init_state  # the name used before the package settled on init_state

    def _features(self, y: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return F.silu(self.out_proj(y)) + u

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step of acting: x_t (B, P) -> (pi(. | h_t), V (B,), h_t (B, H, N))."""
        x_t, reset = self._check_step(x_t, reset)
        h = self._state_or_zeros(state, x_t)
        u_t = F.silu(self.embed(x_t))
        y_t, h = self.ssm.step(u_t, h, reset)
        dist, value = self.heads(self._features(y_t, u_t))
        return dist, value, h

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Whole sequences: x (B, L, P) -> (pi over (B, L), V (B, L), h_L (B, H, N))."""
        x, reset = self._check_sequence(x, reset)
        h0 = self._state_or_zeros(state, x)
        u = F.silu(self.embed(x))
        y, h_last = self.ssm(u, h0, reset)
        dist, values = self.heads(self._features(y, u))
        return dist, values, h_last

    def _state_or_zeros(self, state: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        if state is None:
            return self.init_state(x.shape[0])
        shape = (x.shape[0], self.hidden_dim, self.ssm.state_dim)
        return _check_state(state, shape, x)


# ----------------------------------------------------------------------------- GRU baseline


class GRUPolicy(_RecurrentPolicyMixin, nn.Module):
    """RL^2's own policy (Duan et al. 2016, Sec. 2.3): a GRU over the embedded inputs.

    Same constructor, inputs, heads and methods as :class:`SSMMetaPolicy`; the
    state is the GRU's hidden vector (B, H). ``forward`` runs ``nn.GRU`` on the
    pieces of the sequence between the steps where any sequence resets, zeroing
    the hidden state of the resetting ones, so it equals :meth:`step` run in a loop.
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
        self.gru = nn.GRU(hidden_dim, hidden_dim, batch_first=True, **factory)
        self.heads = _ActorCritic(hidden_dim, self.action_dim, self.discrete, **factory)

    def init_state(self, batch_size: int) -> torch.Tensor:
        """Zero hidden state (B, H) for the start of a trial."""
        weight = self.embed.weight
        return weight.new_zeros(check_int("batch_size", batch_size), self.hidden_dim)

    initial_state = init_state  # the name used before the package settled on init_state

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None,
             reset: torch.Tensor | None = None):
        """One step of acting: x_t (B, P) -> (pi(. | h_t), V (B,), h_t (B, H))."""
        x_t, reset = self._check_step(x_t, reset)
        h = self._masked(self._state_or_zeros(state, x_t), reset)
        _, h = self.gru(F.silu(self.embed(x_t)).unsqueeze(1), h.unsqueeze(0))
        dist, value = self.heads(h[0])
        return dist, value, h[0]

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None,
                reset: torch.Tensor | None = None):
        """Whole sequences: x (B, L, P) -> (pi over (B, L), V (B, L), h_L (B, H))."""
        x, reset = self._check_sequence(x, reset)
        h = self._state_or_zeros(state, x)
        u = F.silu(self.embed(x))
        pieces = []
        for start, end in _segments_between_resets(reset, x.shape[1]):
            h = self._masked(h, None if reset is None else reset[:, start])
            out, h_n = self.gru(u[:, start:end], h.unsqueeze(0))
            pieces.append(out)
            h = h_n[0]
        dist, values = self.heads(torch.cat(pieces, dim=1))
        return dist, values, h

    @staticmethod
    def _masked(h: torch.Tensor, reset: torch.Tensor | None) -> torch.Tensor:
        """h (B, H) with the rows of the sequences that reset (B,) zeroed."""
        if reset is None:
            return h
        return torch.where(reset.unsqueeze(-1), torch.zeros_like(h), h)

    def _state_or_zeros(self, state: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        if state is None:
            return self.init_state(x.shape[0])
        return _check_state(state, (x.shape[0], self.hidden_dim), x)


def _segments_between_resets(reset: torch.Tensor | None, length: int) -> list[tuple[int, int]]:
    """[start, end) pieces of 0..L-1 cut before every step where any sequence resets."""
    cuts = [0] if reset is None else [0, *torch.nonzero(reset.any(0)).flatten().tolist()]
    cuts = sorted(set(cuts)) + [length]
    return list(zip(cuts[:-1], cuts[1:], strict=True))
