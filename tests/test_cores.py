"""Sequence cores: step mode equals sequence mode across resets, a reset is a fresh trial, oracles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssm_metarl import policies
from ssm_metarl.cores import (
    CORE_NAMES,
    GRUCore,
    LinearCore,
    S4DCore,
    SelectiveCore,
    SSDCore,
    make_core,
)
from ssm_metarl.ssm import LinearSSM, S4DLayer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WIDTH, STATE = 6, 4
# every core, plus the variants whose code paths differ: SSD with several heads and
# chunks shorter than the sequence, S4D with a real state
VARIANTS = {
    "selective": ("selective", {}),
    "ssd": ("ssd", {}),
    "ssd, 3 heads, chunks of 7": ("ssd", {"heads": 3, "chunk_size": 7}),
    "s4d": ("s4d", {}),
    "s4d, real": ("s4d", {"init": "real"}),
    "linear": ("linear", {}),
    "gru": ("gru", {}),
}


def seeded_core(variant, seed=0):
    name, options = VARIANTS[variant]
    torch.manual_seed(seed)
    return make_core(name, WIDTH, STATE, dtype=torch.float64, **options)


def random_inputs(batch=4, length=40, seed=1, reset_rate=0.15):
    """u (B, L, H) and resets at t = 0 for some rows, random ones, and two in a row."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, length, WIDTH, generator=gen, dtype=torch.float64)
    reset = torch.rand(batch, length, generator=gen) < reset_rate
    reset[:, 0] = torch.arange(batch) % 2 == 0
    reset[1, 11:13] = True  # consecutive resets
    return u, reset


def random_state(core, batch, scale=0.3, seed=2):
    zeros = core.init_state(batch)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(zeros.shape, generator=gen, dtype=zeros.real.dtype)
    if zeros.is_complex():
        noise = torch.complex(noise, torch.randn(zeros.shape, generator=gen, dtype=noise.dtype))
    return zeros + scale * noise


def run_steps(core, u, state, reset):
    outputs = []
    for t in range(u.shape[1]):
        y_t, state = core.step(u[:, t], state, None if reset is None else reset[:, t])
        outputs.append(y_t)
    return torch.stack(outputs, 1), state


# ----------------------------------------------------------------------------- the interface


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("resets", ["random", "first step only", "none"])
def test_step_mode_equals_sequence_mode_across_resets(variant, resets):
    core = seeded_core(variant)
    u, reset = random_inputs()
    if resets == "first step only":
        reset[:, 1:] = False
    elif resets == "none":
        reset = None
    h0 = random_state(core, u.shape[0])
    y, last = core(u, h0, reset)
    step_y, step_last = run_steps(core, u, h0, reset)
    assert y.shape == u.shape and last.shape == h0.shape and last.dtype == h0.dtype
    torch.testing.assert_close(step_y, y, atol=1e-10, rtol=0)
    torch.testing.assert_close(step_last, last, atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_reset_is_a_fresh_trial_and_nothing_leaks_even_from_a_huge_state(variant):
    core = seeded_core(variant)
    u, _ = random_inputs(reset_rate=0.0)
    reset = torch.zeros(u.shape[:2], dtype=torch.bool)
    reset[:, 9] = True
    reset[2, 0] = True  # one row also resets at t = 0 (the scan's general path)
    h0 = random_state(core, u.shape[0], scale=1e6).requires_grad_()
    y, last = core(u, h0, reset)
    fresh_y, fresh_last = core(u[:, 9:])
    torch.testing.assert_close(y[:, 9:], fresh_y, atol=1e-10, rtol=0)
    torch.testing.assert_close(last, fresh_last, atol=1e-10, rtol=0)
    (leak,) = torch.autograd.grad(y[:, 9:].sum() + last.real.sum(), h0)
    assert torch.all(leak == 0)  # not one bit of the huge state reaches the next trial
    step_y, step_last = run_steps(core, u, h0.detach(), reset)
    torch.testing.assert_close(step_y[:, 9:], fresh_y, atol=1e-10, rtol=0)
    # a reset at t = 0 discards the state handed in
    start = torch.zeros_like(reset)
    start[:, 0] = True
    torch.testing.assert_close(core(u, h0.detach(), start)[0], core(u)[0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_parameter_and_the_input(variant):
    core = seeded_core(variant)
    u, reset = random_inputs()
    u.requires_grad_()
    y, last = core(u, random_state(core, u.shape[0]), reset)
    (y.square().sum() + last.abs().square().sum()).backward()
    assert u.grad is not None and u.grad.abs().sum() > 0
    for name, parameter in core.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("name", CORE_NAMES)
def test_float32_cores_run_and_keep_their_state_dtype(name):
    torch.manual_seed(0)
    core = make_core(name, 8, 4)
    u = torch.randn(2, 5, 8)
    y, last = core(u)
    assert y.dtype == torch.float32 and last.dtype == core.init_state(2).dtype
    assert core.init_state(2).shape == (2, *core.state_shape)


# ----------------------------------------------------------------------------- each core's math


def test_selective_core_is_the_policy_memory_of_before():
    assert policies.SelectiveDiagonalSSM is SelectiveCore
    torch.manual_seed(0)
    assert isinstance(policies.SSMMetaPolicy(4, 2).ssm, SelectiveCore)


def test_ssd_core_matches_its_equations_written_out():
    torch.manual_seed(3)
    core = SSDCore(WIDTH, STATE, heads=2, chunk_size=4, dtype=torch.float64)
    u, reset = random_inputs(batch=2, length=11)
    y, last = core(u, None, reset)
    h = torch.zeros(2, 2, 3, STATE, dtype=torch.float64)
    for t in range(u.shape[1]):
        u_t = u[:, t]
        dt = torch.log1p(torch.exp(u_t @ core.dt_proj.weight.T + core.dt_proj.bias))  # (B, K)
        a = torch.exp(-torch.exp(core.A_log) * dt)                                      # (B, K)
        x = u_t.view(2, 2, 3) * dt[..., None]                                           # (B, K, P)
        B_t, C_t = u_t @ core.B_proj.weight.T, u_t @ core.C_proj.weight.T               # (B, N)
        h = torch.where(reset[:, t, None, None, None], 0.0, h)
        h = a[..., None, None] * h + x[..., None] * B_t[:, None, None, :]
        y_t = torch.einsum("bkpn,bn->bkp", h, C_t).reshape(2, WIDTH) + core.D * u_t
        torch.testing.assert_close(y[:, t], y_t, atol=1e-12, rtol=0)
    torch.testing.assert_close(last, h, atol=1e-12, rtol=0)


def test_ssd_core_initialises_like_mamba2():
    torch.manual_seed(0)
    core = SSDCore(64, 16, heads=8, dt_min=1e-3, dt_max=1e-1)
    A = torch.exp(core.A_log)
    assert core.A_log.shape == (8,) and 1 <= A.min() and A.max() <= 16
    dt = torch.nn.functional.softplus(core.dt_proj.bias)
    assert 1e-3 * 0.99 <= dt.min() and dt.max() <= 0.1 * 1.01
    assert core.init_state(3).shape == (3, 8, 8, 16)


def test_s4d_core_without_resets_is_the_s4d_convolution():
    """With no reset the recurrence equals S4D's kernel view (the conv path cannot reset)."""
    torch.manual_seed(0)
    core = S4DCore(WIDTH, STATE, dtype=torch.float64)
    layer = S4DLayer(WIDTH, STATE, dtype=torch.float64)
    with torch.no_grad():
        for name in ("log_dt", "log_A_real", "A_imag", "D"):
            getattr(layer, name).copy_(getattr(core, name))
        layer.C.copy_(core.C / 2)  # S4DLayer reads 2 Re(C x); the core folds the 2 into C
    u, _ = random_inputs(length=30)
    x0 = random_state(core, u.shape[0])
    y, last = core(u, x0)
    conv_y, conv_last = layer(u, x0, mode="conv")
    torch.testing.assert_close(y, conv_y, atol=1e-10, rtol=0)
    torch.testing.assert_close(last, conv_last, atol=1e-10, rtol=0)


def test_s4d_core_states_complex_or_real_by_init():
    lin, real = S4DCore(WIDTH, STATE), S4DCore(WIDTH, STATE, init="real")
    assert lin.init_state(2).shape == (2, WIDTH, STATE // 2) and lin.init_state(2).is_complex()
    assert real.init_state(2).shape == (2, WIDTH, STATE) and not real.init_state(2).is_complex()
    A_bar, _ = real.discretized()
    assert torch.all((A_bar > 0) & (A_bar < 1))  # stable real decays
    with pytest.raises(ValueError, match="ssm_state_dim must be even"):
        S4DCore(WIDTH, 5)


def test_linear_core_without_resets_is_linear_ssm():
    torch.manual_seed(0)
    core = LinearCore(WIDTH, STATE, dtype=torch.float64)
    u, _ = random_inputs()
    x0 = random_state(core, u.shape[0])
    y, last = core(u, x0)
    for mode in ("recurrent", "conv"):
        ref_y, ref_last = core.linear(u, x0, mode=mode)
        torch.testing.assert_close(y, ref_y, atol=1e-10, rtol=0)
        torch.testing.assert_close(last, ref_last, atol=1e-10, rtol=0)
    assert isinstance(core.linear, LinearSSM) and core.init_state(3).shape == (3, STATE)


def test_gru_core_without_resets_is_nn_gru_and_keeps_its_weight_names():
    torch.manual_seed(0)
    core = GRUCore(WIDTH, dtype=torch.float64)
    torch.manual_seed(0)
    gru = nn.GRU(WIDTH, WIDTH, batch_first=True, dtype=torch.float64)
    assert list(core.state_dict()) == list(gru.state_dict())
    for mine, theirs in zip(core.parameters(), gru.parameters(), strict=True):
        assert torch.equal(mine, theirs)
    u, _ = random_inputs()
    h0 = random_state(core, u.shape[0])
    y, last = core(u, h0)
    ref_y, ref_last = gru(u, h0.unsqueeze(0))
    assert torch.equal(y, ref_y) and torch.equal(last, ref_last[0])


# ----------------------------------------------------------------------------- make_core and errors


class _HalfCore(nn.Module):
    def init_state(self, batch):
        return torch.zeros(batch, 1)


def test_make_core_builds_by_name_and_returns_a_checked_instance_as_is():
    expected = {"selective": SelectiveCore, "ssd": SSDCore, "s4d": S4DCore,
                "linear": LinearCore, "gru": GRUCore}
    assert set(CORE_NAMES) == set(expected)
    for name, cls in expected.items():
        core = make_core(name, 8, 4)
        assert type(core) is cls and core.hidden_dim == 8
    mine = SSDCore(8, 4, heads=2)
    assert make_core(mine, 8, 4) is mine


@pytest.mark.parametrize("core, error, match", [
    ("mamba", ValueError, r"core must be one of 'selective', 'ssd', 's4d', 'linear', 'gru'"),
    (SSDCore, TypeError, r"got the class SSDCore; pass SSDCore\(hidden_dim, \.\.\.\)"),
    (_HalfCore(), TypeError, "_HalfCore, which lacks step"),
    (object(), TypeError, "object, which lacks init_state, step"),
    (3, TypeError, "int, which lacks"),
])
def test_make_core_rejects_bad_cores_with_clear_errors(core, error, match):
    with pytest.raises(error, match=match):
        make_core(core, 8, 4)


def test_make_core_and_cores_reject_bad_arguments():
    with pytest.raises(ValueError, match="has hidden_dim=8, but the policy has hidden_dim=6"):
        make_core(SSDCore(8, 4), 6, 4)
    with pytest.raises(TypeError, match=r"options \['heads'\] build a core by name"):
        make_core(SSDCore(8, 4), 8, 4, heads=2)
    with pytest.raises(ValueError, match="heads=3 must divide hidden_dim=8"):
        SSDCore(8, 4, heads=3)
    with pytest.raises(ValueError, match="dt_min <= dt_max"):
        make_core("ssd", 8, 4, dt_min=0.5, dt_max=0.1)
    with pytest.raises(ValueError, match="ssm_state_dim must be a positive int"):
        make_core("s4d", 8, 0)


@pytest.mark.parametrize("name", CORE_NAMES)
def test_cores_reject_bad_inputs_with_clear_errors(name):
    core = make_core(name, 8, 4)
    with pytest.raises(ValueError, match=r"u_t must be a non-empty floating tensor of shape "
                                         r"\(B, H\) with H = 8"):
        core.step(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"u must have shape \(B, L, H\)"):
        core(torch.zeros(2, 8))
    with pytest.raises(ValueError, match=r"state must be a tensor of shape \(2, "):
        core(torch.zeros(2, 3, 8), torch.zeros(2, 99))
    with pytest.raises(TypeError, match="reset must be a bool tensor"):
        core.step(torch.zeros(2, 8), None, torch.zeros(2))
    with pytest.raises(ValueError, match=r"reset must have shape \(2, 3\)"):
        core(torch.zeros(2, 3, 8), None, torch.zeros(2, 4, dtype=torch.bool))
