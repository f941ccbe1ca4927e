"""TRPO (ssm_metarl.trpo) and MAML-RL's TRPO outer step (meta_rl, outer="trpo")."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from rl_utils import tiny_navigation_tasks
from torch.distributions import kl_divergence

from ssm_metarl import meta_rl
from ssm_metarl.envs import sample_goals
from ssm_metarl.envs.families import NavigationTasks
from ssm_metarl.functional import _VMAP_UNSUPPORTED
from ssm_metarl.maml import MetaMAMLTrainer, TaskBatch
from ssm_metarl.meta_rl import (
    MAMLRLConfig,
    adapt_policy,
    make_maml_rl_policy,
    train_maml_rl,
    train_pretrained,
)
from ssm_metarl.policies import MLPPolicy, SSMMetaPolicy
from ssm_metarl.trpo import (
    TRPOConfig,
    conjugate_gradient,
    distribution_from,
    distribution_tensors,
    fisher_vector_product,
    flatten,
    line_search,
    trpo_step,
    unflatten,
)


def test_conjugate_gradient_solves_a_known_spd_system_to_1e_8():
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(30, 30, generator=generator, dtype=torch.float64)
    a = q.T @ q + 0.5 * torch.eye(30, dtype=torch.float64)
    b = torch.randn(30, generator=generator, dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iterations=200, tolerance=1e-20)
    assert torch.linalg.norm(a @ x - b) < 1e-8
    torch.testing.assert_close(x, torch.linalg.solve(a, b), atol=1e-8, rtol=0)
    # each step lowers the error in the A-norm (CG minimises it over a growing Krylov space)
    exact = torch.linalg.solve(a, b)
    errors = [float((e := conjugate_gradient(lambda v: a @ v, b, iterations=k) - exact) @ a @ e)
              for k in (1, 2, 3, 5)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0]


def test_conjugate_gradient_refuses_an_indefinite_operator():
    with pytest.raises(ValueError, match="not positive definite"):
        conjugate_gradient(lambda v: -v, torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="iterations must be a positive int"):
        conjugate_gradient(lambda v: v, torch.ones(3), iterations=0)


def _tiny_policy():
    torch.manual_seed(0)
    return MLPPolicy(2, 2, hidden_sizes=(4,), init_log_std=-0.5, dtype=torch.float64)


def _mean_kl(eta_old, eta, like):
    return kl_divergence(distribution_from(eta_old, like), distribution_from(eta, like)).mean()


def test_fisher_vector_product_equals_the_explicit_fisher_of_a_gaussian_policy():
    policy = _tiny_policy()
    obs = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    theta = {n: p.detach() for n, p in policy.named_parameters()}
    like = policy.distribution(obs)

    def outputs(params):
        return distribution_tensors(policy.distribution(obs, params))

    # explicit: F = (1/N) sum_n J_n^T M_n J_n, M = diag(1/sigma^2) for the mean and
    # diag(2/sigma^2) for the standard deviation (the Gaussian's Fisher in (mu, sigma))
    flat = flatten(theta)

    def eta_flat(vector):
        mean, std = outputs(unflatten(vector, theta))
        return torch.cat([mean.reshape(-1), std.reshape(-1)])

    jacobian = torch.autograd.functional.jacobian(eta_flat, flat)
    mean, std = outputs(theta)
    metric = torch.cat([(1 / std**2).reshape(-1), (2 / std**2).reshape(-1)])
    explicit = jacobian.T @ (metric[:, None] * jacobian) / len(obs)
    products = torch.stack([
        flatten(fisher_vector_product(outputs, lambda a, b: _mean_kl(a, b, like), theta,
                                      unflatten(basis, theta)))
        for basis in torch.eye(len(flat), dtype=torch.float64)])
    torch.testing.assert_close(products, explicit, atol=1e-10, rtol=1e-8)


def test_fisher_through_the_inner_step_is_the_hessian_of_the_post_adaptation_kl():
    policy, pre_tasks, post_tasks = tiny_navigation_tasks(per_task=3, horizon=6, hidden=(4,),
                                                          init_log_std=-0.5)
    (pre, pre_adv, pre_mask), (post, _, post_mask) = pre_tasks[0], post_tasks[0]
    theta = {n: p.detach() for n, p in policy.named_parameters()}
    like = policy.distribution(post.obs)

    def outputs(params, engine="func"):
        fast = adapt_policy(policy, params, pre, pre_adv, pre_mask, 0.5, True, engine=engine)
        return distribution_tensors(policy.distribution(post.obs, fast))

    def kl(eta_old, eta):
        divergence = kl_divergence(distribution_from(eta_old, like), distribution_from(eta, like))
        return divergence[post_mask].mean()

    eta_old = tuple(t.detach() for t in outputs(theta))
    # an independent route: the Hessian of theta -> KL(pi_theta'_old || pi_theta') by
    # plain autograd (third order through the inner step)
    hessian = torch.autograd.functional.hessian(
        lambda v: kl(eta_old, outputs(unflatten(v, theta), engine="autograd")), flatten(theta))
    products = torch.stack([
        flatten(fisher_vector_product(outputs, kl, theta, unflatten(basis, theta)))
        for basis in torch.eye(hessian.shape[0], dtype=torch.float64)])
    torch.testing.assert_close(products, hessian, atol=1e-9, rtol=1e-7)
    assert products.abs().max() > 1e-3  # not trivially zero


def test_line_search_never_accepts_a_step_that_breaks_the_kl_bound():
    params = {"x": torch.zeros(2, dtype=torch.float64)}
    step = {"x": torch.tensor([1.0, 0.0], dtype=torch.float64)}

    def evaluate(candidate):  # the loss falls along the step, the KL grows with its square
        x = candidate["x"][0].item()
        return -x, 0.5 * x**2

    new, loss, kl, fraction = line_search(evaluate, params, step, 0.0, max_kl=0.01,
                                          steps=30, backtrack_ratio=0.8)
    assert kl <= 0.01 and loss < 0
    assert fraction == pytest.approx(0.8 ** math.ceil(math.log(math.sqrt(0.02)) / math.log(0.8)))
    # a step that never lowers the loss is refused: params unchanged, fraction 0
    same, loss, kl, fraction = line_search(lambda c: (1.0, 0.0), params, step, 0.0, 0.01)
    assert same is params and (loss, kl, fraction) == (0.0, 0.0, 0.0)
    # nor one whose KL is NaN
    _, _, _, fraction = line_search(lambda c: (-1.0, math.nan), params, step, 0.0, 0.01)
    assert fraction == 0.0


def test_trpo_step_on_a_maml_batch_lowers_the_surrogate_within_the_kl_bound():
    config = MAMLRLConfig(num_meta_iterations=1, meta_batch_size=3, trajectories_per_task=5,
                          horizon=20, outer="trpo", trpo=TRPOConfig(max_kl=0.005), seed=0)
    policy = make_maml_rl_policy(config)
    before = {n: p.detach().clone() for n, p in policy.named_parameters()}
    history = train_maml_rl(policy, config, progress=False)
    assert 0 < history["kl"][0] <= 0.005
    assert 0 < history["step_fraction"][0] <= 1
    assert any(not torch.equal(before[n], p) for n, p in policy.named_parameters())


def test_trpo_step_uses_the_vmapped_and_the_looped_tasks_alike():
    def one_step(loop):
        config = MAMLRLConfig(num_meta_iterations=1, meta_batch_size=3, trajectories_per_task=4,
                              horizon=10, outer="trpo", seed=1)
        policy = make_maml_rl_policy(config).double()
        before = flatten({n: p.detach().clone() for n, p in policy.named_parameters()})
        if loop:
            _VMAP_UNSUPPORTED.add(policy)
        history = train_maml_rl(policy, config, progress=False)
        return history, flatten(dict(policy.named_parameters())).detach() - before

    (h_vmap, step_vmap), (h_loop, step_loop) = one_step(False), one_step(True)
    # surrogate and distributions agree to ~1e-15; ten CG steps on an ill-conditioned
    # Fisher amplify that rounding to ~1e-5 of the step, hence the tolerances
    assert h_vmap["step_fraction"] == h_loop["step_fraction"]
    np.testing.assert_allclose(h_vmap["kl"], h_loop["kl"], rtol=1e-3)
    assert torch.linalg.norm(step_vmap - step_loop) < 1e-3 * torch.linalg.norm(step_vmap)


def test_maml_trpo_and_pretrained_trpo_are_deterministic_and_learn():
    config = MAMLRLConfig(num_meta_iterations=6, meta_batch_size=4, trajectories_per_task=6,
                          horizon=30, outer="trpo", trpo=TRPOConfig(subsample=0.5), seed=3)
    runs = []
    for _ in range(2):
        policy = make_maml_rl_policy(config)
        runs.append((train_maml_rl(policy, config, progress=False),
                     [p.detach().clone() for p in policy.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1], strict=True))
    post = runs[0][0]["post_return"]
    assert np.mean(post[-2:]) > np.mean(post[:2])  # the adapted return rises
    pretrained = train_pretrained(make_maml_rl_policy(config), config, progress=False)
    assert np.mean(pretrained["return"][-2:]) > np.mean(pretrained["return"][:2])


def test_metamamltrainer_takes_trpo_for_an_ssd_policy_and_refuses_a_scan_core():
    batch = TaskBatch(NavigationTasks(horizon=6), batch_size=2, k_support=3, k_query=3)
    policy = SSMMetaPolicy(state_dim=2, action_dim=2, discrete=False, hidden_dim=8, core="ssd")
    before = [p.detach().clone() for p in policy.parameters()]
    trainer = MetaMAMLTrainer(policy, inner_lr=0.1, outer="trpo", episodes_per_trial=2, seed=0)
    assert trainer.optimizer is None
    trainer.meta_train(batch, num_meta_iterations=1, progress=False)
    assert any(not torch.equal(a, p) for a, p in zip(before, policy.parameters(), strict=True))
    scan_policy = SSMMetaPolicy(state_dim=2, action_dim=2, discrete=False, hidden_dim=8,
                                core="selective")
    with pytest.raises(NotImplementedError, match="'selective'.*outer='adam'"):
        MetaMAMLTrainer(scan_policy, outer="trpo").meta_train(batch, 1, progress=False)


@pytest.mark.parametrize("make, match", [
    (lambda: MAMLRLConfig(outer="sgd"), r"outer must be one of \('adam', 'trpo'\)"),
    (lambda: MAMLRLConfig(outer="trpo", trpo={"max_kl": 0.01, "bogus": 1}), "trpo: .*bogus"),
    (lambda: MAMLRLConfig(trpo=0.01), "trpo must be a TRPOConfig"),
    (lambda: TRPOConfig(max_kl=0), "max_kl must be a positive finite number"),
    (lambda: TRPOConfig(cg_iterations=0), "cg_iterations must be a positive int"),
    (lambda: TRPOConfig(backtrack_ratio=1.0), r"backtrack_ratio must be in \(0, 1\)"),
    (lambda: TRPOConfig(subsample=1.5), "subsample must be"),
    (lambda: TRPOConfig(subsample=0), "subsample must be"),
])
def test_trpo_configs_reject_bad_values(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_trpo_config_round_trips_through_a_checkpoint(tmp_path):
    config = MAMLRLConfig(num_meta_iterations=1, outer="trpo", trpo=TRPOConfig(subsample=0.25))
    policy = make_maml_rl_policy(config)
    meta_rl.save_maml_rl_policy(policy, config, tmp_path / "p.pt")
    _, loaded = meta_rl.load_maml_rl_policy(tmp_path / "p.pt")
    assert loaded == config and isinstance(loaded.trpo, TRPOConfig)


def test_trpo_step_stops_on_a_nan_surrogate():
    def evaluate(params):
        x = params["x"]
        return (x * math.nan).sum(), (x,)

    with pytest.raises(FloatingPointError, match="not finite"):
        trpo_step(evaluate, lambda a, b: ((a[0] - b[0]) ** 2).sum(),
                  {"x": torch.ones(2, dtype=torch.float64)})


# ----------------------------------------------------------------------------- the stored runs


def test_stored_run_configs_are_the_papers_settings_and_reject_bad_names():
    from ssm_metarl.navigation_runs import run_config

    trpo = run_config("maml_trpo", 1)
    assert (trpo.outer, trpo.trpo.max_kl, trpo.inner_lr, trpo.meta_batch_size,
            trpo.trajectories_per_task, trpo.num_meta_iterations, trpo.seed) == (
        "trpo", 0.01, 0.1, 20, 20, 500, 1)
    pretrained = run_config("pretrained_trpo", 0)
    assert pretrained.meta_batch_size == 2 * trpo.meta_batch_size  # MAML's support + query data
    assert run_config("maml_adam", 2).outer == "adam"
    with pytest.raises(ValueError, match="method must be one of"):
        run_config("maml_sgd", 0)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        run_config("maml_trpo", -1)


def test_a_missing_stored_run_names_the_command_that_trains_it(tmp_path, monkeypatch):
    from ssm_metarl.navigation_runs import load_run

    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="python -m ssm_metarl.navigation_runs maml_trpo"):
        load_run("maml_trpo", 7)


def test_train_run_writes_weights_and_a_record_that_load_back(tmp_path, monkeypatch):
    from ssm_metarl.navigation_runs import load_run, train_run

    monkeypatch.setenv("SSM_METARL_DATA", str(tmp_path))
    train_run("pretrained_trpo", 0, iterations=1)
    policy, config, record = load_run("pretrained_trpo", 0)
    assert config.outer == "trpo" and record["seed"] == 0
    assert record["command"].endswith("pretrained_trpo --seeds 0 --iterations 1")
    assert len(record["history"]["return"]) == 1 and record["train_seconds"] > 0


@pytest.mark.parametrize("method", ["maml_trpo", "maml_adam", "pretrained_trpo"])
def test_the_shipped_navigation_runs_load_and_maml_adapts(method):
    from ssm_metarl.navigation_runs import load_run

    goals = sample_goals(6, rng=77)
    for seed in (0, 1, 2):
        policy, config, record = load_run(method, seed)
        assert config.num_meta_iterations == 500 and config.seed == seed
        assert len(next(iter(record["history"].values()))) == 500
        if method.startswith("maml"):
            returns = meta_rl.evaluate_maml_rl(policy, None, goals, 1, trajectories_per_task=10,
                                               goal_tolerance=config.goal_tolerance, seed=3)
            assert returns[:, 1].mean() > returns[:, 0].mean() + 10.0


def test_seeds_tasks_ci_takes_each_interval_over_its_own_axis():
    from ssm_metarl.results import mean_ci, seeds_tasks_ci

    values = np.random.default_rng(0).normal(size=(3, 40, 4))
    stats = seeds_tasks_ci(values)
    np.testing.assert_allclose(stats["mean"], values.mean(axis=(0, 1)))
    np.testing.assert_allclose(stats["ci_seeds"], mean_ci(values.mean(axis=1))[1])
    np.testing.assert_allclose(stats["ci_tasks"], mean_ci(values.mean(axis=0))[1])
    with pytest.raises(ValueError, match=r"shape \(seeds, tasks"):
        seeds_tasks_ci(np.ones(3))
