"""The whole system: MAML-RL on recurrent SSM policies, fast weights, the four modes.

Exact meta-gradients through a recurrent policy (finite differences and a
per-step reference), memory carried vs reset, acting with fast weights,
predict-then-update, learning in every mode of :mod:`ssm_metarl.system`,
determinism, checkpoints, task-family sampling and bad inputs.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import numpy as np
import pytest
import torch
from torch.func import functional_call

from ssm_metarl.adaptation.policy import PolicyAdapter
from ssm_metarl.envs import sample_goals
from ssm_metarl.envs.families import NavigationTasks, RLTaskSample
from ssm_metarl.maml import MetaMAMLTrainer, TaskBatch, regression_mlp
from ssm_metarl.meta_rl import (
    MAMLRLConfig,
    PolicyMAMLConfig,
    actor_names,
    adapt_online,
    adapt_policy,
    paper_step_sizes,
    policy_gradient_advantages,
    policy_log_probs,
    rollout_length,
    save_maml_rl_policy,
    surrogate_loss,
)
from ssm_metarl.policies import AdaptedPolicy, GRUPolicy, MLPPolicy, SSMMetaPolicy
from ssm_metarl.results import data_dir
from ssm_metarl.rl import collect_rollouts, masked_mean
from ssm_metarl.scan import scan, scan_reference
from ssm_metarl.system import (
    MODES,
    SystemConfig,
    evaluate_mode,
    load_policy,
    make_system_policy,
    save_policy,
    train_mode,
)
from ssm_metarl.tasks import SinusoidTasks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GOAL = np.array([0.3, -0.2])


# ----------------------------------------------------------------------------- helpers


def tiny_ssm(core="selective", dtype=torch.float32, seed=0, **options):
    """A small navigation SSMMetaPolicy (2-D position, Gaussian 2-D velocity)."""
    torch.manual_seed(seed)
    return SSMMetaPolicy(2, 2, discrete=False, core=core, hidden_dim=8, ssm_state_dim=2,
                         dtype=dtype, **options)


def navigation_rollout(policy, goals, *, horizon=5, episodes=1, seed=0, params=None,
                       deterministic=False):
    """One trial of ``episodes`` episodes per row of ``goals`` (E, 2), memory carried."""
    goals = np.asarray(goals, dtype=np.float64)
    env = NavigationTasks(horizon=horizon).make_env(len(goals))
    env.set_task(goals)
    torch.manual_seed(seed)
    return collect_rollouts(env, policy, rollout_length(horizon, episodes), params=params,
                            seed=seed, action_scale=0.1, episodes_per_trial=episodes,
                            deterministic=deterministic)


def leaves(module):
    return {n: p.detach().clone().requires_grad_() for n, p in module.named_parameters()}


def perturbed(module, scale=0.3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return {n: p.detach() + scale * torch.randn(p.shape, generator=generator, dtype=p.dtype)
            for n, p in module.named_parameters()}


def step_log_probs(policy, params, rollout):
    """log pi(a_t | history) (T, E) by looping the policy's step mode with ``params``.

    The independent reference for the sequence mode: a 2-D input is one step
    (``policy.step``), run through ``functional_call`` from the rollout's
    initial state with its trial starts as resets.
    """
    state, rows = rollout.initial_state, []
    for t in range(rollout.num_steps):
        dist, _, state = functional_call(policy, params,
                                         (rollout.inputs[t], state, rollout.starts[t]))
        rows.append(dist.log_prob(rollout.actions[t]))
    return torch.stack(rows)


# ----------------------------------------------------------------------------- 1. the prototype


def test_the_prototype_snippet_runs_and_adapting_leaves_the_initialisation_alone():
    torch.manual_seed(0)
    policy = SSMMetaPolicy(state_dim=2, action_dim=2, discrete=False, hidden_dim=8,
                           ssm_state_dim=2)
    trainer = MetaMAMLTrainer(policy, meta_lr=1e-3, inner_lr=1e-2)
    task_batch = TaskBatch(NavigationTasks(horizon=10), batch_size=2, k_support=3, k_query=3)
    initial = {n: p.detach().clone() for n, p in policy.named_parameters()}
    meta_losses = trainer.meta_train(task_batch, num_meta_iterations=2, progress=False)
    assert len(meta_losses) == 2 and all(np.isfinite(meta_losses))
    assert len(trainer.history["pre_return"]) == len(trainer.history["post_return"]) == 2
    # meta-training moved the initialisation (the actor; the critic has no MAML gradient)
    moved = [n for n, p in policy.named_parameters() if not torch.equal(p, initial[n])]
    assert set(moved) == set(actor_names(initial))

    theta = {n: p.detach().clone() for n, p in policy.named_parameters()}
    adapted_policy = trainer.adapt_to_new_task(GOAL, trajectories=4)
    assert isinstance(adapted_policy, AdaptedPolicy)
    for name, p in policy.named_parameters():
        assert torch.equal(p, theta[name]), f"adapt_to_new_task changed {name}"
    fast = adapted_policy.fast_params
    assert not fast["heads.actor.2.bias"].requires_grad
    changed = {n for n in theta if not torch.equal(fast[n], theta[n])}
    assert {"embed.weight", "heads.actor.2.weight", "heads.log_std"} <= changed
    assert not any(n.startswith("heads.critic.") for n in changed)


def test_adapt_to_new_task_on_a_rollout_is_one_vpg_step_with_inner_lr():
    policy = tiny_ssm(seed=3)
    trainer = MetaMAMLTrainer(policy, inner_lr=0.05, seed=3)
    rollout = navigation_rollout(policy, np.repeat(GOAL[None], 4, axis=0), horizon=6, seed=2)
    adapted = trainer.adapt_to_new_task(rollout)
    # the advantages of the inner step, then the step by hand: -mean log pi * A through the
    # step loop, theta - inner_lr * its gradient (the critic does not move)
    (task,) = policy_gradient_advantages(rollout, 1, 0.99, 1e-5)
    _, advantages, mask = task
    theta = leaves(policy)
    names = actor_names(theta)
    loss = -masked_mean(step_log_probs(policy, theta, rollout) * advantages, mask)
    grads = dict(zip(names, torch.autograd.grad(loss, [theta[n] for n in names]), strict=True))
    for name, p in theta.items():
        expected = p.detach() - 0.05 * grads[name] if name in grads else p.detach()
        torch.testing.assert_close(adapted.fast_params[name], expected, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(adapted.fast_params["heads.actor.2.bias"],
                              theta["heads.actor.2.bias"])


# ----------------------------------------------------------------------------- 2. meta-gradient


def recorded_tasks(core):
    """Support and query rollouts of one goal, trials of 2 episodes, float64, and advantages."""
    policy = tiny_ssm(core, torch.float64, dt_min=0.1, dt_max=1.0)  # a memory that matters
    goals = np.repeat(GOAL[None], 3, axis=0)
    tasks = []
    for seed in (1, 2):
        rollout = navigation_rollout(policy, goals, horizon=5, episodes=2, seed=seed)
        (task,) = policy_gradient_advantages(rollout, 1, 0.99, whole_trial=True)
        tasks.append(task)
    return policy, tasks[0], tasks[1]


def maml_objective(policy, theta, support, query, create_graph=True):
    """L(theta - alpha grad L_support(theta)) on the query rollout, the library's way."""
    fast = adapt_policy(policy, theta, *support, 0.5, create_graph=create_graph)
    return surrogate_loss(policy, fast, *query)


def reference_objective(policy, theta, support, query):
    """The same objective with log-probs from the step loop and autograd.grad by hand."""
    names = actor_names(theta)
    rollout, advantages, mask = support
    inner = -masked_mean(step_log_probs(policy, theta, rollout) * advantages, mask)
    grads = torch.autograd.grad(inner, [theta[n] for n in names], create_graph=True)
    fast = {**theta, **{n: theta[n] - 0.5 * g for n, g in zip(names, grads, strict=True)}}
    rollout, advantages, mask = query
    return -masked_mean(step_log_probs(policy, fast, rollout) * advantages, mask)


@pytest.mark.parametrize("core", ["ssd", "selective"])
def test_sequence_log_probs_equal_the_step_loop_in_values_and_gradients(core):
    policy, support, _ = recorded_tasks(core)
    rollout = support[0]
    theta = leaves(policy)
    sequence = policy_log_probs(policy, theta, rollout)
    loop = step_log_probs(policy, theta, rollout)
    torch.testing.assert_close(sequence, loop, atol=1e-10, rtol=0)
    # acting sampled the actions with these very log-probs (step mode, float64)
    torch.testing.assert_close(sequence, rollout.log_probs, atol=1e-10, rtol=0)
    weights = torch.linspace(-1, 1, sequence.numel(), dtype=torch.float64).view_as(sequence)
    g_sequence = torch.autograd.grad((sequence * weights).sum(), list(theta.values()),
                                     allow_unused=True)
    g_loop = torch.autograd.grad((loop * weights).sum(), list(theta.values()), allow_unused=True)
    for name, a, b in zip(theta, g_sequence, g_loop, strict=True):
        if name.startswith("heads.critic."):
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0, msg=name)


@pytest.mark.parametrize("core", ["ssd", "selective"])
def test_second_order_meta_gradient_through_the_recurrent_policy_is_exact(core):
    policy, support, query = recorded_tasks(core)
    theta = leaves(policy)
    names = ["ssm.B_proj.weight", "embed.weight"]  # one inside the core, one before it
    objective = maml_objective(policy, theta, support, query)
    analytic = dict(zip(names, torch.autograd.grad(objective, [theta[n] for n in names]),
                        strict=True))

    # (b) the per-step reference: same value, same meta-gradient
    reference = reference_objective(policy, theta, support, query)
    torch.testing.assert_close(objective, reference, atol=1e-12, rtol=0)
    reference_grads = torch.autograd.grad(reference, [theta[n] for n in names])
    for name, g in zip(names, reference_grads, strict=True):
        torch.testing.assert_close(analytic[name], g, atol=1e-10, rtol=0, msg=name)

    # (a) central finite differences of the objective along random directions
    first_order = dict(zip(names, torch.autograd.grad(
        maml_objective(policy, theta, support, query, create_graph=False),
        [theta[n] for n in names]), strict=True))
    generator, eps = torch.Generator().manual_seed(0), 1e-5
    for name in names:
        direction = torch.randn(theta[name].shape, generator=generator, dtype=torch.float64)
        values = []
        for sign in (1.0, -1.0):
            shifted = {n: (p + sign * eps * direction if n == name else p).detach()
                       .requires_grad_() for n, p in theta.items()}
            values.append(maml_objective(policy, shifted, support, query, False).item())
        finite_difference = (values[0] - values[1]) / (2 * eps)
        along = (analytic[name] * direction).sum().item()
        assert finite_difference == pytest.approx(along, rel=1e-5, abs=1e-12), name
        # the second-order term is not negligible here, so the check has teeth
        assert abs((first_order[name] * direction).sum().item() - along) > 1e-2 * abs(along)


# ----------------------------------------------------------------------------- 3. memory


def test_trial_starts_only_at_row_zero_when_the_memory_is_carried():
    policy, horizon = tiny_ssm(), 4
    goals = np.repeat(GOAL[None], 3, axis=0)
    carried = navigation_rollout(policy, goals, horizon=horizon, episodes=2, seed=1)
    rows = carried.num_steps
    assert rows == 2 * horizon + 1
    expected = torch.zeros(rows, 3, dtype=torch.bool)
    expected[0] = True
    assert torch.equal(carried.starts, expected)
    # one episode per trial: a new trial on the first row after the autoreset row
    env = NavigationTasks(horizon=horizon).make_env(3)
    env.set_task(goals)
    reset = collect_rollouts(env, policy, rows, seed=1, action_scale=0.1, episodes_per_trial=1)
    expected[horizon + 1] = True
    assert torch.equal(reset.starts, expected)
    assert not reset.valid[horizon].any() and reset.valid[horizon + 1].all()


@pytest.mark.parametrize("episodes", [1, 2])
def test_the_second_episode_depends_on_the_first_only_when_memory_is_carried(episodes):
    policy, horizon = tiny_ssm(dtype=torch.float64, seed=4, dt_min=0.1, dt_max=1.0), 5
    env = NavigationTasks(horizon=horizon).make_env(3)
    env.set_task(np.repeat(GOAL[None], 3, axis=0))
    torch.manual_seed(0)
    rollout = collect_rollouts(env, policy, rollout_length(horizon, 2), seed=0,
                               action_scale=0.1, episodes_per_trial=episodes)
    with torch.no_grad():
        whole = policy_log_probs(policy, None, rollout)
        second = slice(horizon + 1, None)
        alone = policy_log_probs(policy, None, dataclasses.replace(
            rollout, **{name: getattr(rollout, name)[second] for name in (
                "obs", "actions", "log_probs", "rewards", "terminated", "truncated", "valid",
                "episode_steps", "starts", "inputs", "values")},
            initial_state=policy.init_state(3)))
    # the first episode is the same either way; the second only if the memory was reset
    torch.testing.assert_close(whole, rollout.log_probs, atol=1e-10, rtol=0)
    if episodes == 1:
        torch.testing.assert_close(whole[second], alone, atol=1e-10, rtol=0)
    else:
        assert (whole[second] - alone).abs().max() > 1e-5


def test_policy_adapter_carry_state_changes_only_the_later_episodes_of_a_round():
    policy = tiny_ssm(seed=5, dt_min=0.1, dt_max=1.0)
    goals = np.array([[0.3, -0.2], [-0.4, 0.1]])
    family = NavigationTasks(horizon=6)
    runs = {carry: PolicyAdapter(lr=0.1, every=2, trajectories=4, carry_state=carry)
            .run(policy, goals, 1, family=family, seed=3) for carry in (True, False)}
    carried, reset = runs[True].returns, runs[False].returns
    np.testing.assert_array_equal(carried[:, 0, 0], reset[:, 0, 0])
    assert np.abs(carried[:, 0, 1] - reset[:, 0, 1]).min() > 1e-4


# ----------------------------------------------------------------------------- 4. fast weights


@pytest.mark.parametrize("kind", ["mlp", "ssm", "gru"])
def test_adapted_policy_acts_with_its_fast_weights(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        policy = MLPPolicy(2, 2, hidden_sizes=(8,))
    elif kind == "ssm":
        policy = tiny_ssm()
    else:
        policy = GRUPolicy(2, 2, discrete=False, hidden_dim=8)
    fast = perturbed(policy)
    adapted = AdaptedPolicy(policy, fast)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    x = torch.randn(5, policy.input_dim if kind != "mlp" else 2)
    actions = torch.randn(5, 2)
    if kind == "mlp":
        ours, reference = adapted.distribution(x), policy.distribution(x, fast)
        torch.testing.assert_close(ours.mean, functional_call(policy, fast, (x,)), atol=0,
                                   rtol=0)
        own = policy.distribution(x)
        torch.manual_seed(7)
        act = adapted.act(x)
        torch.manual_seed(7)
        act_reference = policy.act(x, fast)
    else:
        state = torch.randn(5, *policy.init_state(1).shape[1:])
        reset = torch.tensor([True, False, False, True, False])
        ours, value, new_state = adapted(x, state, reset)
        reference, ref_value, ref_state = functional_call(policy, fast, (x, state, reset))
        torch.testing.assert_close(value, ref_value, atol=0, rtol=0)
        torch.testing.assert_close(new_state, ref_state, atol=0, rtol=0)
        own = policy(x, state, reset)[0]
        torch.manual_seed(7)
        act = adapted.act(x, state, reset)
        torch.manual_seed(7)
        act_reference = functional_call(policy, fast, (x, state, reset))[0].sample()
        act_reference = (act_reference, reference.log_prob(act_reference))
    torch.testing.assert_close(ours.log_prob(actions), reference.log_prob(actions), atol=0,
                               rtol=0)
    assert (ours.log_prob(actions) - own.log_prob(actions)).abs().min() > 1e-4
    torch.testing.assert_close(act[0], act_reference[0], atol=0, rtol=0)
    torch.testing.assert_close(act[1], act_reference[1], atol=0, rtol=0)
    for name, p in policy.named_parameters():
        assert torch.equal(p, before[name])


@pytest.mark.parametrize("kind", ["mlp", "ssm"])
def test_collect_rollouts_with_an_adapted_policy_equals_rollouts_with_its_params(kind):
    torch.manual_seed(0)
    policy = MLPPolicy(2, 2, hidden_sizes=(8,)) if kind == "mlp" else tiny_ssm()
    fast = perturbed(policy)
    goals = np.repeat(GOAL[None], 4, axis=0)
    episodes = 1 if kind == "mlp" else 2
    adapted = navigation_rollout(AdaptedPolicy(policy, fast), goals, episodes=episodes, seed=3)
    with_params = navigation_rollout(policy, goals, episodes=episodes, seed=3, params=fast)
    own = navigation_rollout(policy, goals, episodes=episodes, seed=3)
    for name in ("actions", "log_probs", "rewards", "starts", "inputs", "values"):
        a, b = getattr(adapted, name), getattr(with_params, name)
        assert (a is None) == (b is None) == (kind == "mlp" and name in ("inputs", "values"))
        if a is not None:
            torch.testing.assert_close(a, b, atol=0, rtol=0, msg=name)
    assert not torch.allclose(adapted.rewards, own.rewards)


def test_a_list_of_fast_weights_drives_equal_groups_of_envs():
    policy = tiny_ssm(seed=2)
    fast = [perturbed(policy, seed=s) for s in (1, 2)]
    goals = np.array([[0.3, -0.2]] * 3 + [[-0.1, 0.4]] * 3)
    both = navigation_rollout(policy, goals, episodes=2, params=fast, deterministic=True)
    for g, group in enumerate((slice(0, 3), slice(3, 6))):
        alone = navigation_rollout(policy, goals[group], episodes=2, params=fast[g],
                                   deterministic=True)
        for name in ("actions", "log_probs", "rewards", "inputs"):
            torch.testing.assert_close(getattr(both, name)[:, group], getattr(alone, name),
                                       atol=1e-6, rtol=1e-6, msg=name)


@pytest.mark.parametrize("kind", ["ssm", "gru"])
def test_a_2d_input_to_forward_is_one_step(kind):
    torch.manual_seed(0)
    policy = tiny_ssm(dtype=torch.float64) if kind == "ssm" else GRUPolicy(
        2, 2, discrete=False, hidden_dim=8, dtype=torch.float64)
    x = torch.randn(3, policy.input_dim, dtype=torch.float64)
    state = torch.randn(3, *policy.init_state(1).shape[1:], dtype=torch.float64)
    reset = torch.tensor([False, True, False])
    dist, value, new_state = policy(x, state, reset)
    step_dist, step_value, step_state = policy.step(x, state, reset)
    sequence_dist, sequence_value, sequence_state = policy(x[:, None], state, reset[:, None])
    for got in ((dist.mean, value, new_state), (sequence_dist.mean[:, 0], sequence_value[:, 0],
                                                  sequence_state)):
        for a, b in zip(got, (step_dist.mean, step_value, step_state), strict=True):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- 5. act, then update


def online(policy, goals, step_sizes, seed=4):
    return adapt_online(policy, None, goals, step_sizes, NavigationTasks(horizon=6),
                        trajectories_per_task=3, episodes_per_round=2, seed=seed)


def test_a_round_is_played_before_its_rewards_are_seen():
    policy = tiny_ssm(seed=6)
    base = np.array([[[0.3, -0.2]] * 4, [[-0.4, 0.1]] * 4])  # (G, R, 2)
    reference = online(policy, base, (0.1, 0.1, 0.1))
    for r in (1, 2, 3):
        moved = base.copy()
        moved[:, r] = [[0.0, 0.45], [0.45, 0.0]]
        run = online(policy, moved, (0.1, 0.1, 0.1))
        np.testing.assert_array_equal(run.returns[:, :r], reference.returns[:, :r])
        assert np.abs(run.returns[:, r] - reference.returns[:, r]).min() > 1e-3
        if r == 3:  # nothing is learned from the last round: the final weights ignore it
            for fast, fast_reference in zip(run.params, reference.params, strict=True):
                for name, value in fast.items():
                    assert torch.equal(value, fast_reference[name])
        else:
            assert not torch.equal(run.params[0]["heads.actor.2.bias"],
                                   reference.params[0]["heads.actor.2.bias"])


def test_step_size_zero_keeps_the_weights_exactly_and_the_first_round_is_shared():
    policy = tiny_ssm(seed=7)
    goals = np.repeat(np.array([[0.3, -0.2], [-0.4, 0.1]])[:, None], 3, axis=1)
    frozen, adapted = online(policy, goals, (0.0, 0.0)), online(policy, goals, (0.2, 0.2))
    for fast in frozen.params:
        for name, value in policy.named_parameters():
            assert torch.equal(fast[name], value.detach())
    assert not torch.equal(adapted.params[0]["heads.actor.2.bias"],
                           policy.heads.actor[2].bias.detach())
    np.testing.assert_array_equal(frozen.returns[:, 0], adapted.returns[:, 0])
    assert not np.allclose(frozen.returns[:, 1:], adapted.returns[:, 1:])


# ----------------------------------------------------------------------------- 6. learning


LEARNING = SystemConfig(hidden_dim=16, ssm_state_dim=4, horizon=20, trials_per_iteration=128,
                        meta_batch_size=8, trajectories_per_task=16, rl2_lr=1e-2, meta_lr=2e-2,
                        inner_lr=0.1, seed=0)
ITERATIONS = {"none": 20, "state": 20, "weights": 10, "both": 10}  # 3-7 s per mode, measured


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_beats_its_untrained_initialisation_on_held_out_goals(mode):
    trained = train_mode(mode, LEARNING, iterations=ITERATIONS[mode], progress=False)
    assert trained.env_steps > 0 and all(np.isfinite(trained.history["return"]))
    # held-out goals from the training disc, other seeds; RL^2 trials are cheap, so more goals
    goals = NavigationTasks(radius=LEARNING.goal_radius).sample_tasks(
        64 if mode == "state" else 16, rng=1234)
    scores = [evaluate_mode(policy, mode, goals, LEARNING, episodes=2, steps=1,
                            trajectories_per_task=16, seed=5).returns.mean()
              for policy in (trained.policy, make_system_policy(LEARNING))]
    # measured with seeds 0-5: at least +1.2 (none), +0.7 (state), +0.76 (weights), +0.74
    # (both) above the untrained policy's return per episode of about -9.5; seed 0: +1.2 to +1.7
    assert scores[0] > scores[1] + 0.5, scores


# ----------------------------------------------------------------------------- 7. determinism


TINY = SystemConfig(hidden_dim=8, ssm_state_dim=2, horizon=8, trials_per_iteration=8,
                    meta_batch_size=2, trajectories_per_task=2, budget_steps=1000)


@pytest.mark.parametrize("mode", MODES)
def test_train_mode_is_deterministic_per_seed(mode):
    runs = [train_mode(mode, config, iterations=2, progress=False)
            for config in (TINY, TINY, dataclasses.replace(TINY, seed=1))]
    first, again, other = runs
    assert first.history == again.history
    for name, value in first.policy.state_dict().items():
        assert torch.equal(value, again.policy.state_dict()[name]), name
    assert first.history["return"] != other.history["return"]
    assert any(not torch.equal(value, other.policy.state_dict()[name])
               for name, value in first.policy.state_dict().items())


def test_the_trpo_outer_step_is_deterministic_and_keeps_each_step_inside_its_kl_bound(tmp_path):
    """outer="trpo": MAML's outer step is the paper's TRPO step; each iteration's KL between
    the post-adaptation policies before and after it stays within max_kl (its line search)."""
    config = dataclasses.replace(TINY, outer="trpo", max_kl=0.005)
    runs = [train_mode("weights", config, iterations=2, progress=False) for _ in range(2)]
    for name, value in runs[0].policy.state_dict().items():
        assert torch.equal(value, runs[1].policy.state_dict()[name]), name
    adam = train_mode("weights", TINY, iterations=2, progress=False)
    assert any(not torch.equal(value, adam.policy.state_dict()[name])
               for name, value in runs[0].policy.state_dict().items())
    history = runs[0].history  # train_mode keeps TRPO's record of every iteration
    assert len(history["kl"]) == 2 == len(history["step_fraction"])
    assert all(0 <= kl <= config.max_kl for kl in history["kl"]), history["kl"]
    save_policy(runs[0], tmp_path / "trpo.pt")
    assert load_policy(tmp_path / "trpo.pt").config.outer == "trpo"


def test_evaluate_mode_takes_one_step_size_per_gradient_step():
    policy, goals = make_system_policy(TINY), GOAL[None].repeat(2, 0)
    run = functools.partial(evaluate_mode, policy, "weights", goals, TINY, steps=2, seed=3)
    default, same = run().returns, run(step_sizes=(TINY.inner_lr,) * 2).returns
    np.testing.assert_array_equal(default, same)
    halved = run(step_sizes=paper_step_sizes(TINY.inner_lr, 2)).returns  # (0.1, 0.05)
    assert default.shape == (2, 3)  # rounds before, after one and after two steps
    np.testing.assert_array_equal(halved[:, :2], default[:, :2])  # the same first step
    assert not np.array_equal(halved[:, 2], default[:, 2])  # a smaller second step


def test_shipped_trpo_weights_adapt_in_one_step():
    """The MAML-TRPO "weights" runs of notebook 05 load; one gradient step lifts every seed's
    return on held-out goals (measured: about +20 on 80 goals)."""
    goals = SystemConfig().tasks().sample_tasks(12, rng=77)
    for seed in (0, 1, 2):
        trained = load_policy(data_dir() / "weights" / "system" / f"weights_trpo_seed{seed}.pt")
        assert trained.mode == "weights" and trained.config.outer == "trpo"
        curve = evaluate_mode(trained.policy, "weights", goals, trained.config, steps=1, seed=2)
        steps = curve.gradient_steps
        before, after = curve.returns[:, steps == 0], curve.returns[:, steps == 1]
        assert after.mean() > before.mean() + 8, (seed, before.mean(), after.mean())


# ----------------------------------------------------------------------------- 8. checkpoints


def test_save_and_load_policy_round_trip_and_refuse_foreign_files(tmp_path):
    trained = train_mode("both", dataclasses.replace(TINY, core="ssd", seed=2), iterations=1,
                         progress=False)
    path = tmp_path / "both.pt"
    save_policy(trained, path)
    loaded = load_policy(path)
    assert loaded.mode == "both" and loaded.config == trained.config
    assert loaded.history == trained.history and loaded.env_steps == trained.env_steps
    assert loaded.policy.core_name == "ssd"
    state = trained.policy.state_dict()
    assert loaded.policy.state_dict().keys() == state.keys()
    for name, value in loaded.policy.state_dict().items():
        assert torch.equal(value, state[name]), name

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match=re.escape(str(corrupt))):
        load_policy(corrupt)
    foreign = tmp_path / "maml_rl.pt"
    config = MAMLRLConfig(hidden_sizes=(8,))
    save_maml_rl_policy(MLPPolicy(2, 2, (8,)), config, foreign)
    with pytest.raises(ValueError, match=re.escape(str(foreign))):
        load_policy(foreign)
    # a config that does not fit the stored weights, and an invalid mode
    payload = torch.load(path, weights_only=True)
    for change, message in (({"hidden_dim": 16}, "ssm|embed|shape"), ({"mode": "bogus"}, "mode")):
        payload_changed = {**payload, "config": {**payload["config"], **change}}
        bad = tmp_path / "bad.pt"
        torch.save(payload_changed, bad)
        with pytest.raises(ValueError, match=re.escape(str(bad))) as error:
            load_policy(bad)
        assert re.search(message, str(error.value))


# ----------------------------------------------------------------------------- 9. bad inputs


def _policy_batch(policy=None, **trainer_options):
    policy = policy or tiny_ssm()
    trainer = MetaMAMLTrainer(policy, **trainer_options)
    return trainer, NavigationTasks(horizon=5).sample(2, 2, 2, rng=0)


def _recurrent_params_missing_a_key():
    policy = tiny_ssm()
    params = {n: p for n, p in policy.named_parameters() if n != "ssm.A_log"}
    return collect_rollouts(NavigationTasks(horizon=5).make_env(2), policy, 5, params=params)


def _online(**changes):
    args = {"policy": tiny_ssm(), "params": None, "goals": np.zeros((1, 3, 2)),
            "step_sizes": (0.1, 0.1), "family": NavigationTasks(horizon=5),
            "trajectories_per_task": 2}
    args.update(changes)
    return adapt_online(**args)


BAD_INPUTS = [
    ("radius reversed", lambda: NavigationTasks(radius=(0.5, 0.2)), ValueError, "radius"),
    ("radius negative", lambda: NavigationTasks(radius=(-1, 1)), ValueError, r"radius\[0\]"),
    ("radius string", lambda: NavigationTasks(radius="a"), TypeError, "radius"),
    ("radius zero width", lambda: NavigationTasks(radius=(0, 0)), ValueError, r"radius\[1\]"),
    ("SystemConfig core", lambda: SystemConfig(core="nope"), ValueError, "core"),
    ("SystemConfig budget", lambda: SystemConfig(budget_steps=0), ValueError, "budget_steps"),
    ("SystemConfig goal_radius", lambda: SystemConfig(goal_radius=(0.5, 0.1)), ValueError,
     "radius"),
    ("train_mode mode", lambda: train_mode("bogus", TINY, progress=False), ValueError, "mode"),
    ("evaluate_mode mode", lambda: evaluate_mode(tiny_ssm(), "bogus", GOAL[None], TINY),
     ValueError, "mode"),
    ("regression model on RL tasks",
     lambda: MetaMAMLTrainer(regression_mlp(hidden=(8,))).meta_step(
         NavigationTasks(horizon=5).sample(2, 2, 2)), TypeError, "policy"),
    ("policy on supervised tasks",
     lambda: MetaMAMLTrainer(tiny_ssm()).meta_train(TaskBatch(SinusoidTasks(), 2), 1,
                                                      progress=False),
     TypeError, "RL task batches"),
    ("policy obs_dim does not fit",
     lambda: MetaMAMLTrainer(SSMMetaPolicy(3, 2, discrete=False, hidden_dim=8,
                                           ssm_state_dim=2)).meta_step(
         NavigationTasks(horizon=5).sample(2, 2, 2)), ValueError, "obs_dim"),
    ("policy discrete does not fit",
     lambda: MetaMAMLTrainer(MLPPolicy(2, 2, (8,), discrete=True)).meta_step(
         NavigationTasks(horizon=5).sample(2, 2, 2)), ValueError, "discrete"),
    ("unknown trainer option", lambda: MetaMAMLTrainer(tiny_ssm(), unknown_option=1), TypeError,
     "unknown_option"),
    ("wrong config type", lambda: MetaMAMLTrainer(tiny_ssm(), config=MAMLRLConfig()), TypeError,
     "PolicyMAMLConfig"),
    ("rollout with steps=2",
     lambda: MetaMAMLTrainer(tiny_ssm()).adapt_to_new_task(
         navigation_rollout(tiny_ssm(), GOAL[None]), steps=2), ValueError, "steps"),
    ("goal before meta-training", lambda: MetaMAMLTrainer(tiny_ssm()).adapt_to_new_task(GOAL),
     ValueError, "family"),
    ("goal of the wrong shape",
     lambda: MetaMAMLTrainer(tiny_ssm()).adapt_to_new_task(np.zeros(3),
                                                           family=NavigationTasks()),
     ValueError, "new_task_data"),
    ("two tasks to adapt to",
     lambda: MetaMAMLTrainer(tiny_ssm()).adapt_to_new_task(NavigationTasks().sample(2)),
     ValueError, "new_task_data"),
    ("PolicyMAMLConfig clip", lambda: PolicyMAMLConfig(clip=2), ValueError, "clip"),
    ("PolicyMAMLConfig inner_lr", lambda: PolicyMAMLConfig(inner_lr=-1), ValueError, "inner_lr"),
    ("trainer episodes_per_trial", lambda: MetaMAMLTrainer(tiny_ssm(), episodes_per_trial=0),
     ValueError, "episodes_per_trial"),
    ("adapt_online step_sizes length", lambda: _online(step_sizes=(0.1,)), ValueError,
     "step_sizes"),
    ("adapt_online step_sizes negative", lambda: _online(step_sizes=(0.1, -0.1)), ValueError,
     "step_sizes"),
    ("adapt_online names", lambda: _online(names=["nope"]), ValueError, "names"),
    ("adapt_online tolerance with trials",
     lambda: _online(family=NavigationTasks(horizon=5, goal_tolerance=0.1),
                     episodes_per_round=2), ValueError, "goal_tolerance"),
    ("PolicyAdapter adapt string", lambda: PolicyAdapter(adapt="embed.weight"), TypeError,
     "adapt"),
    ("PolicyAdapter goals shape",
     lambda: PolicyAdapter(trajectories=2).run(tiny_ssm(), np.zeros((1, 2, 2)), 3), ValueError,
     "goals"),
    ("recurrent params missing a key", _recurrent_params_missing_a_key, ValueError, "params"),
    ("AdaptedPolicy missing a key",
     lambda: AdaptedPolicy(tiny_ssm(), {"embed.weight": torch.zeros(8, 6)}), ValueError,
     "fast_params"),
    ("AdaptedPolicy not a dict", lambda: AdaptedPolicy(tiny_ssm(), [1, 2]), TypeError,
     "fast_params"),
]


@pytest.mark.parametrize("thunk, error, message", [case[1:] for case in BAD_INPUTS],
                         ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_raises_an_error_naming_the_argument(thunk, error, message):
    with pytest.raises(error, match=message):
        thunk()


def test_an_empty_list_of_recurrent_fast_weights_is_refused_by_name():
    with pytest.raises(ValueError, match="params"):
        collect_rollouts(NavigationTasks(horizon=5).make_env(2), tiny_ssm(), 5, params=[])


def test_meta_training_trials_on_early_ending_episodes_is_refused():
    trainer = MetaMAMLTrainer(tiny_ssm(), episodes_per_trial=2)
    batch = NavigationTasks(horizon=10, goal_tolerance=0.3).sample(2, 2, 2, rng=0)
    with pytest.raises(ValueError, match="goal_tolerance"):
        trainer.meta_step(batch)


# ----------------------------------------------------------------------------- 10. task families


@pytest.mark.parametrize("radius", [(0.2, 0.5), (0.0, 1.0)])
def test_ring_goals_are_uniform_over_the_area_of_the_ring(radius):
    r_min, r_max = radius
    goals = NavigationTasks(radius=radius).sample_tasks(4000, rng=7)
    norms = np.linalg.norm(goals, axis=1)
    assert norms.min() >= r_min and norms.max() <= r_max
    median = np.sqrt((r_min**2 + r_max**2) / 2)  # splits the ring into two equal areas
    assert abs(np.mean(norms < median) - 0.5) < 0.04  # uniform in radius: 0.60 and 0.71
    angles = np.arctan2(goals[:, 1], goals[:, 0])
    quadrants = np.histogram(angles, bins=4, range=(-np.pi, np.pi))[0] / len(goals)
    np.testing.assert_allclose(quadrants, 0.25, atol=0.04)


def test_default_goals_are_the_paper_square_and_match_sample_goals():
    family = NavigationTasks(seed=5)
    goals = family.sample_tasks(500, rng=11)
    assert np.abs(goals).max() <= 0.5 and np.abs(goals).max() > 0.45
    np.testing.assert_array_equal(goals, sample_goals(500, 11))
    np.testing.assert_array_equal(NavigationTasks().sample_tasks(20, np.random.default_rng(3)),
                                  sample_goals(20, np.random.default_rng(3)))
    # without rng: the family's own generator, seeded by seed, and it advances
    first, second = family.sample_tasks(4), family.sample_tasks(4)
    generator = np.random.default_rng(5)
    np.testing.assert_array_equal(first, sample_goals(4, generator))
    np.testing.assert_array_equal(second, sample_goals(4, generator))
    sample = family.sample(3, 2, 5, rng=1)
    assert isinstance(sample, RLTaskSample) and sample.family is family
    assert (sample.k_support, sample.k_query, sample.num_tasks) == (2, 5, 3)
    np.testing.assert_array_equal(sample.tasks, sample_goals(3, 1))


# ----------------------------------------------------------------------------- 11. scan


@pytest.mark.parametrize("length", [1, 2])
def test_scan_of_one_or_two_steps_passes_gradcheck_and_gradgradcheck(length):
    generator = torch.Generator().manual_seed(length)
    a = (0.2 + 0.7 * torch.rand(2, length, 3, generator=generator, dtype=torch.float64))
    b = torch.randn(2, length, 3, generator=generator, dtype=torch.float64)
    h0 = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    inputs = tuple(x.requires_grad_() for x in (a, b, h0))
    reset = torch.zeros(2, length, dtype=torch.bool)
    reset[1, -1] = True
    for r in (None, reset):
        assert torch.autograd.gradcheck(lambda a, b, h0, r=r: scan(a, b, h0, r), inputs)
        assert torch.autograd.gradgradcheck(lambda a, b, h0, r=r: scan(a, b, h0, r), inputs)
        # and the second derivatives are the loop's
        results = []
        for fn in (scan, scan_reference):
            x = [t.detach().clone().requires_grad_() for t in inputs]
            loss = fn(*x, r).pow(3).sum()
            grads = torch.autograd.grad(loss, x, create_graph=True)
            hvp = torch.autograd.grad(sum((g * g).sum() for g in grads), x)
            results.append(hvp)
        for got, want in zip(*results, strict=True):
            torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)
