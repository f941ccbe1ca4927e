"""Tests of ssm_metarl.maml: meta-gradients against independent references, variants,
training behaviour, stateful sequence models and the notebook-02 checkers."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.func import functional_call

from ssm_metarl import maml
from ssm_metarl.exercises import (
    ExerciseCheckFailed,
    check_first_order_meta_grad,
    check_inner_step,
    check_reptile_update,
)
from ssm_metarl.maml import (
    ANIL,
    MAMLConfig,
    MetaMAMLTrainer,
    MetaSGD,
    Reptile,
    TaskBatch,
    adaptation_curve,
    inner_adapt,
    maml_loss,
    mse_loss,
    pretrain,
    regression_mlp,
    reptile_update,
)
from ssm_metarl.profiles import seed_everything
from ssm_metarl.tasks import DampedOscillatorTasks, SinusoidTasks

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ----------------------------------------------------------------------------- references


def tanh_mlp(seed=0, hidden=8):
    """A float64 1-h-h-1 tanh MLP: smooth, so finite differences are accurate."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
        nn.Linear(hidden, 1),
    ).double()


def leaf_params(model):
    return {n: p.detach().clone().requires_grad_() for n, p in model.named_parameters()}


def sinusoid_batch(num_tasks=3, k=6, seed=0):
    sample = SinusoidTasks(seed=seed, dtype=torch.float64).sample(num_tasks, k, k)
    return sample.support, sample.query


def reference_meta_loss(model, params, support, query, steps, lr, first_order=False,
                        names=None):
    """MAML the way higher/learn2learn do it: a Python loop, autograd.grad per task."""
    names = list(params) if names is None else names
    total = 0.0
    for sx, sy, qx, qy in zip(*support, *query, strict=True):
        fast = dict(params)
        for _ in range(steps):
            out = functional_call(model, fast, (sx,))
            loss = ((out[0] if isinstance(out, tuple) else out) - sy).pow(2).mean()
            grads = torch.autograd.grad(loss, [fast[n] for n in names],
                                        create_graph=not first_order)
            fast = {**fast, **{n: fast[n] - lr * g for n, g in zip(names, grads, strict=True)}}
        out = functional_call(model, fast, (qx,))
        total = total + ((out[0] if isinstance(out, tuple) else out) - qy).pow(2).mean()
    return total / support[0].shape[0]


def grads_of(loss, params):
    return torch.autograd.grad(loss, list(params.values()))


def assert_grads_close(a, b, **tol):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, **tol)


# ----------------------------------------------------------------------------- meta-gradients


def test_second_order_meta_gradient_matches_finite_differences():
    model = tanh_mlp()
    params = leaf_params(model)
    support, query = sinusoid_batch()

    def meta_loss(p):
        return maml_loss(model, p, mse_loss, support, query, steps=2, inner_lr=0.1)

    gradient = grads_of(meta_loss(params), params)
    generator = torch.Generator().manual_seed(0)
    eps = 1e-6
    for _ in range(3):
        direction = {n: torch.randn(p.shape, generator=generator, dtype=p.dtype)
                     for n, p in params.items()}
        with torch.no_grad():
            plus = meta_loss({n: p + eps * direction[n] for n, p in params.items()})
            minus = meta_loss({n: p - eps * direction[n] for n, p in params.items()})
        finite_difference = (plus - minus) / (2 * eps)
        analytic = sum((g * direction[n]).sum() for g, n in zip(gradient, params, strict=True))
        assert abs(finite_difference - analytic) < 1e-6 * max(1.0, abs(analytic))


@pytest.mark.parametrize("use_vmap", [True, False])
@pytest.mark.parametrize("steps", [1, 3])
def test_meta_gradient_matches_autograd_loop_reference(use_vmap, steps):
    model = tanh_mlp()
    params = leaf_params(model)
    support, query = sinusoid_batch(num_tasks=4)
    ours = maml_loss(model, params, mse_loss, support, query, steps, 0.05, vmap=use_vmap)
    reference = reference_meta_loss(model, params, support, query, steps, 0.05)
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=0)
    assert_grads_close(grads_of(ours, params), grads_of(reference, params), atol=1e-12, rtol=0)


def test_vmap_and_loop_paths_give_the_same_meta_gradient_for_every_variant():
    model = regression_mlp(hidden=(16, 16)).double()
    params = leaf_params(model)
    support, query = sinusoid_batch(num_tasks=5, k=10, seed=2)
    alpha = MetaSGD(params, 0.02).alpha
    head = ANIL("4").adapt_names(params)
    for settings in (
        {"inner_lr": 0.03},
        {"inner_lr": 0.03, "first_order": True},
        {"inner_lr": alpha},
        {"inner_lr": 0.03, "adapt_names": head},
    ):
        wrt = list(params.values()) + (list(alpha.values()) if settings["inner_lr"] is alpha
                                       else [])
        results = [
            torch.autograd.grad(
                maml_loss(model, params, mse_loss, support, query, 2, vmap=v, **settings), wrt
            )
            for v in (True, False)
        ]
        assert_grads_close(*results, atol=1e-12, rtol=1e-10)


def test_fomaml_meta_gradient_is_the_query_gradient_at_the_fast_weights():
    model = tanh_mlp(seed=1)
    params = leaf_params(model)
    support, query = sinusoid_batch(num_tasks=3)
    ours = grads_of(
        maml_loss(model, params, mse_loss, support, query, 2, 0.1, first_order=True), params
    )
    expected = [torch.zeros_like(p) for p in params.values()]
    for t in range(3):
        fast = {n: p.detach() for n, p in params.items()}
        for _ in range(2):  # plain SGD on the support set, no graph kept
            fast = {n: p.requires_grad_() for n, p in fast.items()}
            loss = (model_call(model, fast, support[0][t]) - support[1][t]).pow(2).mean()
            fast = {n: (p - 0.1 * g).detach()
                    for (n, p), g in zip(fast.items(), grads_of(loss, fast), strict=True)}
        fast = {n: p.requires_grad_() for n, p in fast.items()}
        query_loss = (model_call(model, fast, query[0][t]) - query[1][t]).pow(2).mean()
        for e, g in zip(expected, grads_of(query_loss, fast), strict=True):
            e += g / 3
    assert_grads_close(ours, expected, atol=1e-12, rtol=0)


def model_call(model, params, x):
    return functional_call(model, params, (x,))


def test_fomaml_drops_exactly_the_second_order_term():
    """One step: grad_MAML = (I - a H_support) g_query, grad_FOMAML = g_query."""
    model = tanh_mlp(seed=2)
    params = leaf_params(model)
    support, query = sinusoid_batch(num_tasks=1)
    lr = 0.1
    full = grads_of(maml_loss(model, params, mse_loss, support, query, 1, lr), params)
    first = grads_of(
        maml_loss(model, params, mse_loss, support, query, 1, lr, first_order=True), params
    )
    names, shapes = list(params), [p.shape for p in params.values()]
    sizes = [p.numel() for p in params.values()]

    def unflatten(flat):
        return dict(zip(names, [c.view(s) for c, s in zip(flat.split(sizes), shapes,
                                                            strict=True)], strict=True))

    def support_loss(flat):
        return (model_call(model, unflatten(flat), support[0][0]) - support[1][0]).pow(2).mean()

    theta = torch.cat([p.detach().flatten() for p in params.values()])
    g_support = torch.autograd.functional.jacobian(support_loss, theta)
    fast = theta - lr * g_support
    g_query = torch.func.grad(
        lambda f: (model_call(model, unflatten(f), query[0][0]) - query[1][0]).pow(2).mean()
    )(fast)
    _, hessian_times_g = torch.autograd.functional.hvp(support_loss, theta, g_query)
    difference = torch.cat([(a - b).flatten() for a, b in zip(full, first, strict=True)])
    torch.testing.assert_close(difference, -lr * hessian_times_g, atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(torch.cat([g.flatten() for g in first]), g_query,
                               atol=1e-12, rtol=0)
    assert difference.abs().max() > 1e-3  # the inner loss has curvature: they really differ


def test_inner_adapt_engines_agree_and_keep_or_drop_the_graph():
    model = tanh_mlp()
    params = leaf_params(model)
    (sx, sy), _ = sinusoid_batch(num_tasks=1)
    support = (sx[0], sy[0])
    by_autograd = inner_adapt(model, params, mse_loss, support, 3, 0.1)
    by_func = inner_adapt(model, params, mse_loss, support, 3, 0.1, engine="func")
    for name in params:
        torch.testing.assert_close(by_autograd[name], by_func[name], atol=1e-13, rtol=0)
    # Second order: d fast / d params involves the Hessian, so it is not the identity.
    probe = torch.autograd.grad(by_func["4.bias"].sum(), params["2.weight"])[0]
    assert probe.abs().max() > 1e-4
    first = inner_adapt(model, params, mse_loss, support, 3, 0.1, first_order=True)
    assert torch.autograd.grad(first["4.bias"].sum(), params["2.weight"],
                               allow_unused=True)[0] is None
    with torch.no_grad():  # test-time adaptation inside no_grad still works
        detached = inner_adapt(model, {n: p.detach() for n, p in params.items()}, mse_loss,
                               support, 3, 0.1, first_order=True)
    torch.testing.assert_close(detached["0.weight"], by_autograd["0.weight"].detach())


# ----------------------------------------------------------------------------- variants


def test_anil_leaves_the_body_unchanged_in_the_inner_loop_but_meta_learns_it():
    model = regression_mlp(hidden=(16, 16)).double()
    params = leaf_params(model)
    assert ANIL.last_layer(model) == "4"
    head = ANIL("4").adapt_names(params)
    assert head == ("4.weight", "4.bias")
    (sx, sy), query = sinusoid_batch(num_tasks=2)
    fast = inner_adapt(model, params, mse_loss, (sx[0], sy[0]), 5, 0.1, adapt_names=head)
    for name in params:
        changed = not torch.equal(fast[name], params[name])
        assert changed == (name in head), name
    body_grad = grads_of(
        maml_loss(model, params, mse_loss, (sx, sy), query, 1, 0.1, adapt_names=head), params
    )[0]
    assert body_grad.abs().max() > 0
    with pytest.raises(ValueError, match="matches no parameter"):
        ANIL("head").adapt_names(params)


def test_meta_sgd_learns_its_rates_and_lowers_the_loss():
    seed_everything(0)
    trainer = MetaMAMLTrainer(regression_mlp(), algorithm="metasgd", meta_lr=3e-3,
                              inner_lr=0.01, seed=0)
    losses = trainer.meta_train(TaskBatch(SinusoidTasks(seed=1), 10), 200, progress=False)
    alpha = trainer.inner_lr
    assert set(alpha) == set(trainer.params)
    moved = max((a - 0.01).abs().max().item() for a in alpha.values())
    assert moved > 1e-3
    assert sum(losses[-40:]) / 40 < 0.8 * sum(losses[:40]) / 40


def test_reptile_update_matches_its_formula():
    generator = torch.Generator().manual_seed(0)
    params = {"w": torch.randn(3, 2, generator=generator), "b": torch.randn(2, generator=generator)}
    fast = [{n: torch.randn(p.shape, generator=generator) for n, p in params.items()}
            for _ in range(4)]
    new = reptile_update(params, fast, 0.25)
    for name in params:
        by_hand = params[name] + 0.25 * sum(f[name] - params[name] for f in fast) / 4
        torch.testing.assert_close(new[name], by_hand)


def test_reptile_trainer_with_sgd_takes_exactly_the_reptile_step():
    seed_everything(0)
    model = regression_mlp(hidden=(8,)).double()
    before = leaf_params(model)
    batch = SinusoidTasks(seed=0, dtype=torch.float64).sample(3, 5, 5)
    trainer = MetaMAMLTrainer(model, algorithm="reptile", inner_steps=4, inner_lr=0.02,
                              meta_lr=0.5, outer_optimizer="sgd", seed=0)
    trainer.meta_step(batch)
    adapted = []
    for sx, sy in zip(*batch.support, strict=True):
        fast = {n: p.detach() for n, p in before.items()}
        for _ in range(4):
            fast = {n: p.requires_grad_() for n, p in fast.items()}
            loss = (model_call(model, fast, sx) - sy).pow(2).mean()
            fast = {n: (p - 0.02 * g).detach()
                    for (n, p), g in zip(fast.items(), grads_of(loss, fast), strict=True)}
        adapted.append(fast)
    for name, value in trainer.params.items():
        expected = before[name] + 0.5 * sum(w[name] - before[name] for w in adapted) / 3
        torch.testing.assert_close(value.detach(), expected.detach(), atol=1e-12, rtol=0)
    reptile = Reptile(inner_steps=4, inner_lr=0.02, epsilon=0.5)
    via_class = reptile.outer_update(before, reptile.adapt(model, before, mse_loss, batch.support))
    for name in before:
        torch.testing.assert_close(via_class[name], trainer.params[name].detach())


# ----------------------------------------------------------------------------- training


def test_short_maml_training_beats_the_pretrained_baseline_on_held_out_tasks():
    seed_everything(0)
    model = regression_mlp()
    trainer = MetaMAMLTrainer(model, meta_lr=3e-3, inner_lr=0.01, seed=0)
    trainer.meta_train(TaskBatch(SinusoidTasks(seed=1), 25), 500, progress=False)
    seed_everything(0)
    baseline = regression_mlp()
    pretrain(baseline, TaskBatch(SinusoidTasks(seed=1), 25), 500, lr=3e-3, progress=False)
    held_out = SinusoidTasks(seed=99).sample(100, 5, 50)
    steps, maml_curve = trainer.adaptation_curve(held_out, 5, 5)
    _, pretrained_curve = adaptation_curve(
        baseline, dict(baseline.named_parameters()), held_out, 5, 5, 0.01
    )
    assert list(steps) == [0, 1, 2, 3, 4, 5]
    maml_after, pretrained_after = maml_curve[:, 5].mean(), pretrained_curve[:, 5].mean()
    assert maml_after < 0.6 * pretrained_after
    assert maml_after < 0.6 * maml_curve[:, 0].mean()  # adaptation itself helps


def test_training_is_deterministic_under_a_seed():
    def run():
        seed_everything(7)
        trainer = MetaMAMLTrainer(regression_mlp(hidden=(20, 20)), seed=7)
        losses = trainer.meta_train(TaskBatch(SinusoidTasks(seed=7), 5), 15, progress=False)
        return losses, {n: p.detach().clone() for n, p in trainer.params.items()}

    (losses_a, params_a), (losses_b, params_b) = run(), run()
    assert losses_a == losses_b
    for name in params_a:
        assert torch.equal(params_a[name], params_b[name])


class PoisonedTasks:
    """Sinusoid tasks whose third meta-batch has NaN targets."""

    def __init__(self):
        self.tasks, self.calls = SinusoidTasks(seed=0), 0

    def sample(self, *args, **kwargs):
        self.calls += 1
        sample = self.tasks.sample(*args, **kwargs)
        if self.calls == 3:
            sample.query_y[0, 0] = float("nan")
        return sample


def test_nan_loss_stops_training_with_the_iteration_and_a_hint():
    trainer = MetaMAMLTrainer(regression_mlp(hidden=(8,)), seed=0)
    with pytest.raises(FloatingPointError, match=r"iteration 2: loss is nan.*inner_lr"):
        trainer.meta_train(TaskBatch(PoisonedTasks(), 4), 10, progress=False)
    assert all(torch.isfinite(p).all() for p in trainer.params.values())
    exploding = MetaMAMLTrainer(regression_mlp(hidden=(8,)), inner_lr=1e12, seed=0)
    with pytest.raises(FloatingPointError, match=r"iteration \d+: loss is (nan|inf)"):
        exploding.meta_train(TaskBatch(SinusoidTasks(seed=0), 4), 20, progress=False)


def test_adapt_to_new_task_matches_plain_sgd_and_lowers_the_task_loss():
    seed_everything(0)
    model = regression_mlp(hidden=(16, 16)).double()
    trainer = MetaMAMLTrainer(model, inner_lr=0.02, seed=0)
    task = SinusoidTasks(seed=3, dtype=torch.float64).sample(1, 10, 40)
    support = (task.support_x[0], task.support_y[0])
    fast = trainer.adapt_to_new_task(support, steps=5)
    manual = {n: p.detach() for n, p in trainer.params.items()}
    for _ in range(5):
        manual = {n: p.requires_grad_() for n, p in manual.items()}
        loss = (model_call(model, manual, support[0]) - support[1]).pow(2).mean()
        manual = {n: (p - 0.02 * g).detach()
                  for (n, p), g in zip(manual.items(), grads_of(loss, manual), strict=True)}
    for name in manual:
        torch.testing.assert_close(fast[name], manual[name], atol=1e-13, rtol=0)
    before = mse_loss(trainer.predict(support[0]), support[1])
    after = mse_loss(trainer.predict(support[0], fast), support[1])
    assert after < before


def test_adaptation_curve_matches_a_manual_sgd_loop():
    model = tanh_mlp(seed=4)
    params = dict(model.named_parameters())
    sample = SinusoidTasks(seed=5, dtype=torch.float64).sample(3, 5, 20)
    steps, curve = adaptation_curve(model, params, sample, 5, 3, 0.05)
    assert curve.shape == (3, 4) and list(steps) == [0, 1, 2, 3]
    _, curve_loop = adaptation_curve(model, params, sample, 5, 3, 0.05, vmap=False)
    for t in range(3):
        fast = {n: p.detach() for n, p in params.items()}
        for s in range(4):
            with torch.no_grad():
                query_loss = (model_call(model, fast, sample.query_x[t])
                              - sample.query_y[t]).pow(2).mean()
            assert math.isclose(curve[t, s], query_loss.item(), rel_tol=1e-10)
            assert math.isclose(curve_loop[t, s], query_loss.item(), rel_tol=1e-10)
            fast = {n: p.requires_grad_() for n, p in fast.items()}
            loss = (model_call(model, fast, sample.support_x[t]) - sample.support_y[t]).pow(2)
            fast = {n: (p - 0.05 * g).detach()
                    for (n, p), g in zip(fast.items(), grads_of(loss.mean(), fast), strict=True)}


def test_save_and_load_round_trip(tmp_path):
    seed_everything(0)
    trainer = MetaMAMLTrainer(regression_mlp(hidden=(8,)), algorithm="metasgd", seed=0)
    trainer.meta_train(TaskBatch(SinusoidTasks(seed=0), 4), 5, progress=False)
    trainer.save(tmp_path / "maml.pt")
    loaded = MetaMAMLTrainer.load(tmp_path / "maml.pt", regression_mlp(hidden=(8,)))
    assert loaded.config == trainer.config and loaded.meta_losses == trainer.meta_losses
    for name in trainer.params:
        assert torch.equal(loaded.params[name], trainer.params[name])
        assert torch.equal(loaded.inner_lr[name], trainer.inner_lr[name])
    with pytest.raises(ValueError, match="different model architecture"):
        MetaMAMLTrainer.load(tmp_path / "maml.pt", regression_mlp(hidden=(9,)))
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a MetaMAMLTrainer checkpoint"):
        MetaMAMLTrainer.load(tmp_path / "bad.pt", regression_mlp(hidden=(8,)))


def test_bad_inputs_raise_clear_errors():
    model = regression_mlp(hidden=(4,))
    params = dict(model.named_parameters())
    support = (torch.zeros(3, 5, 1), torch.zeros(3, 5, 1))
    query = (torch.zeros(2, 5, 1), torch.zeros(2, 5, 1))
    with pytest.raises(ValueError, match="same number of tasks"):
        maml_loss(model, params, mse_loss, support, query, 1, 0.01)
    with pytest.raises(ValueError, match="steps"):
        maml_loss(model, params, mse_loss, support, support, -1, 0.01)
    with pytest.raises(ValueError, match="inner_lr"):
        maml_loss(model, params, mse_loss, support, support, 1, -0.1)
    with pytest.raises(ValueError, match=r"inner_lr\['0.weight'\]"):
        maml_loss(model, params, mse_loss, support, support, 1,
                  {n: torch.ones(2) for n in params})
    with pytest.raises(TypeError, match="params"):
        maml_loss(model, list(params.values()), mse_loss, support, support, 1, 0.01)
    with pytest.raises(ValueError, match=r"support_batch.*\(T, K, \.\.\.\)"):
        maml_loss(model, params, mse_loss, (torch.zeros(5, 1), torch.zeros(5, 1)), query, 1, 0.1)
    with pytest.raises(ValueError, match="adapt_names"):
        inner_adapt(model, params, mse_loss, (torch.zeros(5, 1),) * 2, 1, 0.1,
                    adapt_names=["head.weight"])
    with pytest.raises(ValueError, match="algorithm"):
        MAMLConfig(algorithm="maml++")
    with pytest.raises(TypeError, match="config must be a MAMLConfig"):
        MetaMAMLTrainer(model, 1e-3)
    with pytest.raises(TypeError, match="unknown MetaMAMLTrainer options"):
        MetaMAMLTrainer(model, inner_learning_rate=0.1)
    with pytest.raises(TypeError, match="sample"):
        TaskBatch([1, 2, 3], 4)
    assert MAMLConfig(algorithm="fomaml").first_order is True


# ----------------------------------------------------------------------------- sequence models


class TinyRecurrent(nn.Module):
    """h_t = tanh(A h_{t-1} + B u_t), y_t = C h_t; forward returns (y, h_last) like an SSM."""

    def __init__(self, state_dim=3):
        super().__init__()
        self.A = nn.Parameter(0.5 * torch.eye(state_dim, dtype=torch.float64))
        self.B = nn.Parameter(torch.linspace(-1, 1, state_dim, dtype=torch.float64)[:, None])
        self.C = nn.Parameter(torch.full((1, state_dim), 0.3, dtype=torch.float64))

    def forward(self, u, state=None):  # u (B, L, 1) -> y (B, L, 1), state (B, N)
        h = u.new_zeros(u.shape[0], self.A.shape[0]) if state is None else state
        outputs = []
        for t in range(u.shape[1]):
            h = torch.tanh(h @ self.A.T + u[:, t] @ self.B.T)
            outputs.append(h @ self.C.T)
        return torch.stack(outputs, dim=1), h


class InPlaceRecurrent(TinyRecurrent):
    """Same model, but writes outputs into a preallocated tensor (not vmappable)."""

    def forward(self, u, state=None):
        h = u.new_zeros(u.shape[0], self.A.shape[0])
        y = torch.zeros(u.shape[0], u.shape[1], 1, dtype=u.dtype)
        for t in range(u.shape[1]):
            h = torch.tanh(h @ self.A.T + u[:, t] @ self.B.T)
            y[:, t] = h @ self.C.T
        return y, h


def oscillator_batch(num_tasks=3, k=2, length=12):
    tasks = DampedOscillatorTasks(length=length, seed=0, dtype=torch.float64)
    sample = tasks.sample(num_tasks, k, k)
    return sample.support, sample.query


def test_maml_on_a_stateful_sequence_model_matches_the_reference():
    model = TinyRecurrent()
    params = leaf_params(model)
    support, query = oscillator_batch()
    reference = reference_meta_loss(model, params, support, query, 2, 0.1)
    reference_grads = grads_of(reference, params)
    for use_vmap in (True, False):
        ours = maml_loss(model, params, mse_loss, support, query, 2, 0.1, vmap=use_vmap)
        torch.testing.assert_close(ours, reference.detach(), atol=1e-12, rtol=0)
        assert_grads_close(grads_of(ours, params), reference_grads, atol=1e-12, rtol=0)


def test_models_that_cannot_be_vmapped_fall_back_to_the_loop_with_a_warning():
    model = InPlaceRecurrent()
    params = leaf_params(model)
    support, query = oscillator_batch()
    with pytest.warns(RuntimeWarning, match="per-task loop"):
        ours = maml_loss(model, params, mse_loss, support, query, 1, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second attempt, no second warning
        again = maml_loss(model, params, mse_loss, support, query, 1, 0.1)
    reference_grads = grads_of(reference_meta_loss(model, params, support, query, 1, 0.1), params)
    for loss in (ours, again):
        assert_grads_close(grads_of(loss, params), reference_grads, atol=1e-12, rtol=0)


def test_an_error_in_user_code_is_raised_not_mistaken_for_a_vmap_limitation():
    model = TinyRecurrent()
    params = leaf_params(model)
    support, query = oscillator_batch()

    def broken_loss(prediction, target):
        raise ValueError("broken loss")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="broken loss"):
            maml_loss(model, params, broken_loss, support, query, 1, 0.1)
    assert model not in maml._VMAP_UNSUPPORTED


def test_linear_ssm_from_the_library_meta_trains_on_oscillators():
    ssm = pytest.importorskip("ssm_metarl.ssm")
    if not hasattr(ssm, "LinearSSM"):
        pytest.skip("ssm_metarl.ssm.LinearSSM not available")
    model = ssm.LinearSSM(4, 1, 1, dt=0.1, seed=0, dtype=torch.float64)
    params = leaf_params(model)
    support, query = oscillator_batch(num_tasks=2, length=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # vmap fallback is allowed here
        ours = maml_loss(model, params, mse_loss, support, query, 1, 0.05)
    reference = reference_meta_loss(model, params, support, query, 1, 0.05)
    assert_grads_close(grads_of(ours, params), grads_of(reference, params),
                       atol=1e-10, rtol=1e-8)
    trainer = MetaMAMLTrainer(model, meta_lr=1e-2, inner_lr=0.05, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        losses = trainer.meta_train(
            TaskBatch(DampedOscillatorTasks(length=20, seed=1, dtype=torch.float64), 4, 2, 2),
            40, progress=False,
        )
    assert sum(losses[-10:]) < sum(losses[:10])


# ----------------------------------------------------------------------------- checkers


def good_inner_step(model, params, x, y, inner_lr):
    def loss(p):
        return ((functional_call(model, p, (x,)) - y) ** 2).mean()

    grads = torch.func.grad(loss)(params)
    return {n: p - inner_lr * grads[n] for n, p in params.items()}


def detached_inner_step(model, params, x, y, inner_lr):
    fast = good_inner_step(model, params, x, y, inner_lr)
    grads = {n: (params[n] - fast[n]).detach() / inner_lr for n in params}
    return {n: p - inner_lr * grads[n] for n, p in params.items()}


def good_first_order(model, params, support, query, inner_lr):
    fast = {n: p.detach() for n, p in good_inner_step(model, params, *support, inner_lr).items()}
    loss = lambda p: ((functional_call(model, p, (query[0],)) - query[1]) ** 2).mean()
    return torch.func.grad(loss)(fast)


def support_first_order(model, params, support, query, inner_lr):
    fast = {n: p.detach() for n, p in good_inner_step(model, params, *support, inner_lr).items()}
    loss = lambda p: ((functional_call(model, p, (support[0],)) - support[1]) ** 2).mean()
    return torch.func.grad(loss)(fast)


def good_reptile(params, fast_params_list, epsilon):
    return {n: p + epsilon * sum(f[n] - p for f in fast_params_list) / len(fast_params_list)
            for n, p in params.items()}


def summed_reptile(params, fast_params_list, epsilon):
    return {n: p + epsilon * sum(f[n] - p for f in fast_params_list) for n, p in params.items()}


def not_implemented(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    ("checker", "good", "wrong", "message"),
    [
        (check_inner_step, good_inner_step, detached_inner_step, "second-order"),
        (check_first_order_meta_grad, good_first_order, support_first_order, "QUERY loss"),
        (check_reptile_update, good_reptile, summed_reptile, "a mean, not a sum"),
    ],
)
def test_checkers_pass_a_correct_solution_and_fail_a_wrong_one(
    checker, good, wrong, message, capsys
):
    checker(good)
    assert "passed" in capsys.readouterr().out
    with pytest.raises(ExerciseCheckFailed, match=message):
        checker(wrong)
    with pytest.raises(ExerciseCheckFailed, match="not implemented"):
        checker(not_implemented)


def test_inner_step_checker_rejects_a_sign_error_and_missing_keys():
    def ascent(model, params, x, y, inner_lr):
        return good_inner_step(model, params, x, y, -inner_lr)

    with pytest.raises(ExerciseCheckFailed, match="values differ"):
        check_inner_step(ascent)
    with pytest.raises(ExerciseCheckFailed, match="missing"):
        check_inner_step(lambda model, params, x, y, lr: {"0.weight": params["0.weight"]})
    assert maml.ALGORITHMS == ("maml", "fomaml", "metasgd", "anil", "reptile")


def test_s4d_layer_meta_gradient_runs_under_vmap_and_equals_the_loop():
    # The learnable log-dt used to stop vmap (a value check read a batched tensor),
    # sending MAML over S4D to the ~10x slower per-task loop with a warning.
    import warnings

    from ssm_metarl.ssm import S4DLayer

    torch.manual_seed(0)
    model = S4DLayer(2, 8).double()
    params = dict(model.named_parameters())
    x, y = (torch.randn(3, 4, 10, 2, dtype=torch.float64) for _ in range(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        vmapped = maml_loss(model, params, mse_loss, (x, y), (x, y), steps=1, inner_lr=0.1,
                            vmap=True)
    looped = maml_loss(model, params, mse_loss, (x, y), (x, y), steps=1, inner_lr=0.1,
                       vmap=False)
    grads_v = torch.autograd.grad(vmapped, list(params.values()))
    grads_l = torch.autograd.grad(looped, list(params.values()))
    torch.testing.assert_close(vmapped, looped, rtol=0, atol=1e-12)
    for gv, gl in zip(grads_v, grads_l, strict=True):
        torch.testing.assert_close(gv, gl, rtol=0, atol=1e-12)
