"""Tests of ssm_metarl.ssd: the chunked and quadratic forms against the recurrence oracle."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ssm_metarl.ssd import (
    semiseparable_mask,
    ssd,
    ssd_chunked,
    ssd_quadratic,
    ssd_recurrence,
    ssd_step,
)

FAST_FORMS = {
    "quadratic": ssd_quadratic,
    "chunked Q=4": lambda *args, **kw: ssd_chunked(*args, chunk_size=4, **kw),
    "chunked Q=64": ssd_chunked,
}
ALL_FORMS = {"recurrence": ssd_recurrence, **FAST_FORMS}
INPUT_NAMES = ("x", "log_a", "Bm", "C", "state")


def random_problem(batch=2, length=11, heads=4, groups=2, head_dim=3, state_size=5,
                   reset_density=0.2, with_state=True, seed=0, dtype=torch.float64):
    """Inputs as a dict of keyword arguments: log_a in (-1, 0], a random reset pattern."""
    generator = torch.Generator().manual_seed(seed)
    randn = lambda *shape: torch.randn(*shape, generator=generator, dtype=dtype)
    problem = {
        "x": randn(batch, length, heads, head_dim),
        "log_a": -torch.rand(batch, length, heads, generator=generator, dtype=dtype),
        "Bm": randn(batch, length, groups, state_size),
        "C": randn(batch, length, groups, state_size),
        "state": randn(batch, heads, head_dim, state_size) if with_state else None,
        "reset": torch.rand(batch, length, generator=generator) < reset_density,
    }
    return problem


def run(form, problem):
    """(y, final state) of ``form`` on a problem dict."""
    tensors = [problem[name] for name in ("x", "log_a", "Bm", "C")]
    return form(*tensors, state=problem["state"], reset=problem["reset"])


def outputs_and_gradients(form, problem):
    """y, final state, and the gradients of a fixed random weighting of both w.r.t. the inputs."""
    leaves = {
        name: problem[name].detach().clone().requires_grad_()
        for name in INPUT_NAMES if problem[name] is not None
    }
    y, final = run(form, {**problem, **leaves})
    generator = torch.Generator().manual_seed(7)
    loss = (y * torch.randn(y.shape, generator=generator, dtype=y.dtype)).sum() + (
        final * torch.randn(final.shape, generator=generator, dtype=y.dtype)
    ).sum()
    grads = torch.autograd.grad(loss, list(leaves.values()))
    return y.detach(), final.detach(), dict(zip(leaves, grads, strict=True))


def assert_same(got, want, tol=1e-10):
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------
# The three forms agree
# ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 2),
    length=st.sampled_from([1, 2, 3, 5, 8, 13, 16, 17]),
    heads_groups=st.sampled_from([(1, 1), (2, 1), (2, 2), (3, 3), (4, 2)]),
    head_dim=st.integers(1, 3),
    state_size=st.integers(1, 3),
    chunk_size=st.sampled_from([1, 2, 4, 5, 8, 64]),
    reset_density=st.sampled_from([0.0, 0.3, 1.0]),
    with_state=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_chunked_and_quadratic_equal_recurrence(batch, length, heads_groups, head_dim, state_size,
                                                 chunk_size, reset_density, with_state, seed):
    heads, groups = heads_groups
    problem = random_problem(batch, length, heads, groups, head_dim, state_size,
                             reset_density, with_state, seed)
    want_y, want_final, want_grads = outputs_and_gradients(ssd_recurrence, problem)
    chunked = lambda *args, **kw: ssd_chunked(*args, chunk_size=chunk_size, **kw)
    for form in (ssd_quadratic, chunked):
        y, final, grads = outputs_and_gradients(form, problem)
        assert_same(y, want_y)
        assert_same(final, want_final)
        for name, grad in want_grads.items():
            assert_same(grads[name], grad)


@pytest.mark.parametrize("method", ["chunked", "quadratic", "recurrence"])
def test_dispatcher_picks_the_method(method):
    problem = random_problem()
    tensors = [problem[name] for name in ("x", "log_a", "Bm", "C")]
    forms = {"chunked": ssd_chunked, "quadratic": ssd_quadratic, "recurrence": ssd_recurrence}
    got = ssd(*tensors, state=problem["state"], reset=problem["reset"], method=method)
    want = run(forms[method], problem)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_step_loop_equals_recurrence():
    problem = random_problem(length=9, reset_density=0.3)
    state, outputs = problem["state"], []
    for t in range(9):
        y_t, state = ssd_step(
            problem["x"][:, t], problem["log_a"][:, t], problem["Bm"][:, t], problem["C"][:, t],
            state, problem["reset"][:, t],
        )
        outputs.append(y_t)
    y, final = run(ssd_recurrence, problem)
    assert_same(torch.stack(outputs, dim=1), y, 1e-14)
    assert_same(state, final, 1e-14)


def test_step_without_state_starts_from_zero():
    problem = random_problem(length=1, with_state=False)
    step = ssd_step(*(problem[name][:, 0] for name in ("x", "log_a", "Bm", "C")))
    y, final = run(ssd_recurrence, problem)
    assert_same(step[0], y[:, 0], 1e-14)
    assert_same(step[1], final, 1e-14)


def test_float32_chunked_close_to_float64():
    problem = random_problem(length=200, seed=3)
    y64, final64 = run(ssd_recurrence, problem)
    single = {k: (v.float() if v is not None and v.is_floating_point() else v)
              for k, v in problem.items()}
    y32, final32 = run(FAST_FORMS["chunked Q=64"], single)
    assert_same(y32.double(), y64, 1e-4)
    assert_same(final32.double(), final64, 1e-4)


# ----------------------------------------------------------------------------
# Resets
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ALL_FORMS.values(), ids=ALL_FORMS.keys())
def test_reset_starts_a_fresh_sequence(form):
    """After a reset at t the outputs and the final state are those of a run from t at zero state.

    The initial state is huge (1e8), so any leak across the reset would show.
    """
    t = 6
    problem = random_problem(batch=2, length=13, reset_density=0.0, seed=1)
    problem["state"] = 1e8 * problem["state"]
    problem["reset"][:, t] = True
    problem["reset"][1, 9] = True  # a second reset in one sequence, after the first
    fresh = {name: value[:, t:] for name, value in problem.items() if name != "state"}
    fresh["state"] = None
    y, final = run(form, problem)
    y_fresh, final_fresh = run(form, fresh)
    assert_same(y[:, t:], y_fresh, 1e-12)
    assert_same(final, final_fresh, 1e-12)


@pytest.mark.parametrize("form", FAST_FORMS.values(), ids=FAST_FORMS.keys())
def test_nothing_before_a_reset_reaches_the_outputs_after_it(form):
    t = 5
    problem = random_problem(length=12, reset_density=0.0, seed=2)
    problem["reset"][:, t] = True
    leaves = {name: problem[name].clone().requires_grad_() for name in INPUT_NAMES}
    y, final = run(form, {**problem, **leaves})
    grads = torch.autograd.grad(y[:, t:].sum() + final.sum(), list(leaves.values()))
    grads = dict(zip(leaves, grads, strict=True))
    assert torch.all(grads["state"] == 0)
    for name in ("x", "Bm"):
        assert torch.all(grads[name][:, :t] == 0)
    # a_0..a_t only decay what the reset discards. In the chunked form they enter the
    # cumulative sums whose differences give the decays, so their gradients cancel to rounding.
    assert grads["log_a"][:, : t + 1].abs().max() < 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("log_a_value", [-1e4, -1e30])
@pytest.mark.parametrize("form", ALL_FORMS.values(), ids=ALL_FORMS.keys())
def test_no_nan_with_resets_and_very_negative_log_a(form, log_a_value, dtype):
    problem = random_problem(length=20, reset_density=0.3, seed=4, dtype=dtype)
    problem["log_a"] = torch.full_like(problem["log_a"], log_a_value)
    problem["log_a"][:, ::3] = 0.0  # a mix of a = 1 and a = 0 (to rounding)
    y, final, grads = outputs_and_gradients(form, problem)
    for value in (y, final, *grads.values()):
        assert torch.isfinite(value).all()


# ----------------------------------------------------------------------------
# The mask and the attention view
# ----------------------------------------------------------------------------


def test_semiseparable_mask_is_the_product_of_decays():
    problem = random_problem(batch=2, length=7, heads=3, reset_density=0.3, seed=5)
    log_a, reset = problem["log_a"], problem["reset"]
    mask = semiseparable_mask(log_a, reset)
    assert mask.shape == (2, 3, 7, 7)
    a = log_a.exp()
    for b in range(2):
        for h in range(3):
            for t in range(7):
                for s in range(7):
                    window = range(s + 1, t + 1)
                    if s > t or any(reset[b, r] for r in window):
                        want = 0.0
                    else:
                        want = torch.prod(torch.stack([a[b, r, h] for r in window])).item() \
                            if window else 1.0
                    assert mask[b, h, t, s].item() == pytest.approx(want, rel=1e-12, abs=0)


def test_without_decay_the_quadratic_form_is_causal_linear_attention():
    problem = random_problem(heads=2, groups=2, reset_density=0.0, with_state=False, seed=6)
    problem["log_a"] = torch.zeros_like(problem["log_a"])
    x, Bm, C = problem["x"], problem["Bm"], problem["C"]
    length = x.shape[1]
    scores = torch.einsum("bthn,bshn->bhts", C, Bm)  # (B, H, L, L): C_t . B_s
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    want = torch.einsum("bhts,bshp->bthp", scores * causal, x)
    assert torch.all(semiseparable_mask(problem["log_a"]) == causal)
    assert_same(run(ssd_quadratic, problem)[0], want, 1e-12)


# ----------------------------------------------------------------------------
# Bad inputs
# ----------------------------------------------------------------------------


def _bad_inputs():
    problem = random_problem(batch=2, length=5, heads=4, groups=2)
    cases = {
        "x 3-D": ({"x": problem["x"][..., 0]}, ValueError, "x must have shape"),
        "log_a wrong L": ({"log_a": problem["log_a"][:, :4]}, ValueError, "log_a .* L = 5 from x"),
        "log_a wrong H": ({"log_a": problem["log_a"][..., :3]}, ValueError, "log_a .* H = 4 from x"),
        "Bm wrong N": ({"Bm": problem["Bm"][..., :2]}, ValueError, "C must have shape .* N = 2 from Bm"),
        "Bm wrong batch": ({"Bm": problem["Bm"][:1]}, ValueError, "Bm"),
        "groups do not divide heads": (
            {"Bm": problem["Bm"][:, :, :1].expand(-1, -1, 3, -1),
             "C": problem["C"][:, :, :1].expand(-1, -1, 3, -1)}, ValueError, "G = 3"),
        "C float32": ({"C": problem["C"].float()}, TypeError, "C must have the dtype"),
        "state wrong P": ({"state": problem["state"][:, :, :2]}, ValueError, "state .* P = 3 from x"),
        "state float32": ({"state": problem["state"].float()}, TypeError, "state"),
        "reset not bool": ({"reset": problem["reset"].long()}, TypeError, "reset"),
        "reset wrong L": ({"reset": problem["reset"][:, :3]}, ValueError, "reset"),
        "x not a tensor": ({"x": problem["x"].tolist()}, TypeError, "x must be a torch.Tensor"),
        "x int": ({"x": problem["x"].long()}, TypeError, "x must be a real floating"),
    }
    return problem, cases


_PROBLEM, _CASES = _bad_inputs()


@pytest.mark.parametrize("method", ["chunked", "quadratic", "recurrence"])
@pytest.mark.parametrize("case", _CASES.keys())
def test_bad_inputs_name_the_argument(case, method):
    changes, error, words = _CASES[case]
    problem = {**_PROBLEM, **changes}
    tensors = [problem[name] for name in ("x", "log_a", "Bm", "C")]
    with pytest.raises(error, match=words):
        ssd(*tensors, state=problem["state"], reset=problem["reset"], method=method)


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, True])
def test_bad_chunk_size(chunk_size):
    tensors = [_PROBLEM[name] for name in ("x", "log_a", "Bm", "C")]
    with pytest.raises(ValueError, match="chunk_size"):
        ssd(*tensors, chunk_size=chunk_size)


def test_bad_method_and_bad_step_inputs():
    tensors = [_PROBLEM[name] for name in ("x", "log_a", "Bm", "C")]
    with pytest.raises(ValueError, match="method"):
        ssd(*tensors, method="scan")
    steps = [tensor[:, 0] for tensor in tensors]
    with pytest.raises(ValueError, match="x_t must have shape"):
        ssd_step(tensors[0], *steps[1:])
    with pytest.raises(TypeError, match="reset_t must be a bool"):
        ssd_step(*steps, reset_t=torch.zeros(2))
    with pytest.raises(ValueError, match="log_a must have shape"):
        semiseparable_mask(_PROBLEM["log_a"][0])
