"""Bad inputs of ssm (LinearSSM, S4D, selective SSM, HiPPO, discretisation): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import A2, B2, _lin, _nan_weights, _s4d, _saved, _sel, _t, table_tests

from ssm_metarl import ssm

F64, C64, C128 = torch.float64, torch.complex64, torch.complex128

EXEMPT = {
    "ssm_metarl.ssm.LinearSSM.config": "takes no argument: the module's own construction "
                                       "arguments, as save() stores them",
    "ssm_metarl.ssm.LinearSSM.reset": "takes no argument: redraws the parameters from the "
                                      "seed checked at construction",
    "ssm_metarl.ssm.LinearSSM.discretized": "takes no argument: (A_bar, B_bar) of the module's "
                                            "own parameters and checked dt",
    "ssm_metarl.ssm.S4DLayer.discretized": "takes no argument: (A_bar, B_bar) of the layer's "
                                           "own parameters",
    "ssm_metarl.ssm.SelectiveTrace": "a record only SelectiveSSM.forward(return_states=True) "
                                     "builds and returns; nothing takes it as an input",
}


def _path(p, name="lin.pt"):
    return p / name


def _saved_lin(p):
    path = _path(p)
    _lin().save(path)
    return path


def _sel_args(**over):
    """Valid (dt, A_log, B, x) of selective_discretize: D = 3 channels, N = 4 states."""
    args = {"dt": _t(2, 5, 3), "A_log": _t(3, 4), "B": _t(2, 5, 4), "x": _t(2, 5, 3)}
    args.update(over)
    return ssm.selective_discretize(**args)


def _sel_state(h=(1, 8, 4), conv=(1, 8, 3)):
    return ssm.SelectiveState(_t(*h), _t(*conv))


def _fit_batch(gen):
    x = torch.randn(8, 2, generator=gen)
    return x, x.sum(1, keepdim=True)


def _fit_loss(outputs, targets):
    return (outputs - targets).pow(2).mean()


CASES = [
    # LinearSSM: construction
    ("ssm.LinearSSM state_dim=0", lambda p: ssm.LinearSSM(0), ValueError, "state_dim"),
    ("ssm.LinearSSM input_dim=1.5", lambda p: ssm.LinearSSM(2, 1.5), ValueError, "input_dim"),
    ("ssm.LinearSSM dt='0.1'", lambda p: ssm.LinearSSM(2, dt="0.1"), ValueError, "dt"),
    ("ssm.LinearSSM dt=nan", lambda p: ssm.LinearSSM(2, dt=math.nan), ValueError, "dt"),
    ("ssm.LinearSSM dtype=complex64",
     lambda p: ssm.LinearSSM(2, dtype=torch.complex64), ValueError, "dtype"),
    ("ssm.LinearSSM dtype=int64",
     lambda p: ssm.LinearSSM(2, dtype=torch.int64), ValueError, "dtype"),
    ("ssm.LinearSSM dtype='float32'", lambda p: ssm.LinearSSM(2, dtype="float32"), ValueError,
     "dtype"),
    ("ssm.LinearSSM device=cuda", lambda p: ssm.LinearSSM(2, device="cuda"), ValueError, "device"),
    ("ssm.LinearSSM device=foo", lambda p: ssm.LinearSSM(2, device="foo"), ValueError, "device"),
    ("ssm.LinearSSM method=rk4", lambda p: ssm.LinearSSM(2, method="rk4"), ValueError, "method"),
    ("ssm.LinearSSM init list", lambda p: ssm.LinearSSM(2, init=["hippo"]), ValueError, "init"),
    ("ssm.LinearSSM seed=-1", lambda p: ssm.LinearSSM(2, seed=-1), ValueError, "seed"),
    ("ssm.LinearSSM seed='0'", lambda p: ssm.LinearSSM(2, seed="0"), ValueError, "seed"),
    # LinearSSM.forward / step / init_state
    ("ssm.LinearSSM.forward u nan", lambda p: _lin()(torch.full((1, 5, 1), math.nan)),
     ValueError, "u must be finite"),
    ("ssm.S4DLayer.step x_t inf", lambda p: _s4d().step(torch.full((2, 3), math.inf), _s4d().init_state(2)),
     ValueError, "x_t must be finite"),
    ("ssm.LinearSSM.forward u float64", lambda p: _lin()(_t(1, 5, 1, dtype=torch.float64)),
     TypeError, "u"),
    ("ssm.LinearSSM.forward u int64", lambda p: _lin()(torch.zeros(1, 5, 1, dtype=torch.long)),
     TypeError, "u"),
    ("ssm.LinearSSM.forward u numpy", lambda p: _lin()(np.zeros((1, 5, 1))), TypeError, "u"),
    ("ssm.LinearSSM.forward u width", lambda p: _lin()(_t(1, 5, 3)), ValueError, "u"),
    ("ssm.LinearSSM.forward u batch 0", lambda p: _lin()(_t(0, 5, 1)), ValueError, "u"),
    ("ssm.LinearSSM.forward mode=fft", lambda p: _lin()(_t(1, 5, 1), mode="fft"), ValueError,
     "mode"),
    ("ssm.LinearSSM.forward mode list", lambda p: _lin()(_t(1, 5, 1), mode=["conv"]),
     ValueError, "mode"),
    ("ssm.LinearSSM.forward state shape", lambda p: _lin()(_t(1, 5, 1), _t(1, 3)), ValueError,
     "state"),
    ("ssm.LinearSSM.forward state float64",
     lambda p: _lin()(_t(1, 5, 1), _t(1, 2, dtype=torch.float64)), TypeError, "state"),
    ("ssm.LinearSSM.forward state numpy", lambda p: _lin()(_t(1, 5, 1), np.zeros((1, 2))),
     TypeError, "state"),
    ("ssm.LinearSSM.step u_t float64",
     lambda p: _lin().step(_t(1, 1, dtype=torch.float64)), TypeError, "u_t"),
    ("ssm.LinearSSM.init_state batch=0", lambda p: _lin().init_state(0), ValueError, "batch"),
    # LinearSSM.save / load
    ("ssm.LinearSSM.save path=None", lambda p: _lin().save(None), TypeError, "path"),
    ("ssm.LinearSSM.save folder missing", lambda p: _lin().save(p / "no" / "lin.pt"),
     FileNotFoundError, "does not exist"),
    ("ssm.LinearSSM.save path is a folder", lambda p: _lin().save(p), ValueError, "is a folder"),
    ("ssm.LinearSSM.load missing file", lambda p: ssm.LinearSSM.load(p / "missing.pt"),
     FileNotFoundError, "missing.pt"),
    ("ssm.LinearSSM.load path=3", lambda p: ssm.LinearSSM.load(3), TypeError, "path"),
    ("ssm.LinearSSM.load expected_config list",
     lambda p: ssm.LinearSSM.load(_saved_lin(p), expected_config=["state_dim"]), TypeError,
     "expected_config"),
    ("ssm.LinearSSM.load expected_config mismatch",
     lambda p: ssm.LinearSSM.load(_saved_lin(p), expected_config={"state_dim": 3}), ValueError,
     "state_dim"),
    ("ssm.LinearSSM.load map_location=3",
     lambda p: ssm.LinearSSM.load(_saved_lin(p), map_location=3), TypeError, "map_location"),
    ("ssm.LinearSSM.load nan weights", lambda p: ssm.LinearSSM.load(_saved(p, _nan_weights)),
     ValueError, "'A'"),
    ("ssm.LinearSSM.load a folder", lambda p: ssm.LinearSSM.load(p), ValueError, "corrupt"),
    # S4DLayer
    ("ssm.S4DLayer d_state=3", lambda p: ssm.S4DLayer(3, 3), ValueError, "d_state"),
    ("ssm.S4DLayer dt_min='0.1'", lambda p: ssm.S4DLayer(3, 4, dt_min="0.1"), ValueError,
     "dt_min"),
    ("ssm.S4DLayer dtype=complex64",
     lambda p: ssm.S4DLayer(3, 4, dtype=torch.complex64), ValueError, "dtype"),
    ("ssm.S4DLayer device=cuda", lambda p: ssm.S4DLayer(3, 4, device="cuda"), ValueError,
     "device"),
    ("ssm.S4DLayer init=foo", lambda p: ssm.S4DLayer(3, 4, init="foo"), ValueError, "kind"),
    ("ssm.S4DLayer init list", lambda p: ssm.S4DLayer(3, 4, init=["lin"]), ValueError, "init"),
    ("ssm.S4DLayer.forward x float64", lambda p: _s4d()(_t(1, 5, 3, dtype=torch.float64)),
     TypeError, "x"),
    ("ssm.S4DLayer.forward x numpy", lambda p: _s4d()(np.zeros((1, 5, 3))), TypeError, "x"),
    ("ssm.S4DLayer.forward x width", lambda p: _s4d()(_t(1, 5, 2)), ValueError, "x"),
    ("ssm.S4DLayer.forward state complex128",
     lambda p: _s4d()(_t(1, 5, 3), _t(1, 3, 2, dtype=C128)), TypeError, "state"),
    ("ssm.S4DLayer.forward state real", lambda p: _s4d()(_t(1, 5, 3), _t(1, 3, 2)), TypeError,
     "state"),
    ("ssm.S4DLayer.forward mode=scan", lambda p: _s4d()(_t(1, 5, 3), mode="scan"), ValueError,
     "mode"),
    ("ssm.S4DLayer.step x_t numpy", lambda p: _s4d().step(np.zeros((1, 3))), TypeError, "x_t"),
    ("ssm.S4DLayer.step x_t width", lambda p: _s4d().step(_t(1, 2)), ValueError, "x_t"),
    ("ssm.S4DLayer.step state real", lambda p: _s4d().step(_t(1, 3), _t(1, 3, 2)), TypeError,
     "state"),
    ("ssm.S4DLayer.step state shape", lambda p: _s4d().step(_t(1, 3), _t(1, 3, 3, dtype=C64)),
     ValueError, "state"),
    ("ssm.S4DLayer.init_state batch=0", lambda p: _s4d().init_state(0), ValueError, "batch"),
    ("ssm.S4DLayer.init_state batch=1.5", lambda p: _s4d().init_state(1.5), ValueError, "batch"),
    ("ssm.S4DLayer.kernel L=0", lambda p: _s4d().kernel(0), ValueError, "L"),
    # SelectiveSSM
    ("ssm.SelectiveSSM d_conv=0", lambda p: ssm.SelectiveSSM(4, d_conv=0), ValueError, "d_conv"),
    ("ssm.SelectiveSSM dt_max='1'", lambda p: ssm.SelectiveSSM(4, dt_max="1"), ValueError,
     "dt_max"),
    ("ssm.SelectiveSSM dtype=int64", lambda p: ssm.SelectiveSSM(4, dtype=torch.int64),
     ValueError, "dtype"),
    ("ssm.SelectiveSSM device=cuda", lambda p: ssm.SelectiveSSM(4, device="cuda"), ValueError,
     "device"),
    ("ssm.SelectiveSSM dt_rank='Auto'", lambda p: ssm.SelectiveSSM(4, dt_rank="Auto"),
     ValueError, "dt_rank"),
    ("ssm.SelectiveSSM conv_bias='no'", lambda p: ssm.SelectiveSSM(4, conv_bias="no"),
     TypeError, "conv_bias"),
    ("ssm.SelectiveSSM bias=1", lambda p: ssm.SelectiveSSM(4, bias=1), TypeError, "bias"),
    ("ssm.SelectiveSSM.forward x float64", lambda p: _sel()(_t(1, 5, 4, dtype=torch.float64)),
     TypeError, "x"),
    ("ssm.SelectiveSSM.forward x int64",
     lambda p: _sel()(torch.zeros(1, 5, 4, dtype=torch.long)), TypeError, "x"),
    ("ssm.SelectiveSSM.forward x width", lambda p: _sel()(_t(1, 5, 3)), ValueError, "x"),
    ("ssm.SelectiveSSM.forward reset int",
     lambda p: _sel()(_t(1, 5, 4), reset=torch.zeros(1, 5)), TypeError, "reset"),
    ("ssm.SelectiveSSM.forward reset shape",
     lambda p: _sel()(_t(1, 5, 4), reset=torch.zeros(1, 4, dtype=torch.bool)), ValueError,
     "reset"),
    ("ssm.SelectiveSSM.forward state tuple", lambda p: _sel()(_t(1, 5, 4), state=(1, 2)),
     TypeError, "state"),
    ("ssm.SelectiveSSM.forward state list",
     lambda p: _sel()(_t(1, 5, 4), state=list(_sel_state())), TypeError, "state"),
    ("ssm.SelectiveSSM.forward state 3 entries",
     lambda p: _sel()(_t(1, 5, 4), state=(*_sel_state(), _t(1))), ValueError, "state"),
    ("ssm.SelectiveSSM.forward return_states='yes'",
     lambda p: _sel()(_t(1, 5, 4), return_states="yes"), TypeError, "return_states"),
    ("ssm.SelectiveSSM.step x_t float64", lambda p: _sel().step(_t(1, 4, dtype=torch.float64)),
     TypeError, "x_t"),
    ("ssm.SelectiveSSM.init_state batch=0", lambda p: _sel().init_state(0), ValueError, "batch"),
    ("ssm.SelectiveSSM.init_state batch='2'", lambda p: _sel().init_state("2"), ValueError,
     "batch"),
    ("ssm.SelectiveState.h shape", lambda p: _sel()(_t(1, 5, 4), _sel_state(h=(1, 8, 3))),
     ValueError, "state"),
    ("ssm.SelectiveState.conv float64",
     lambda p: _sel()(_t(1, 5, 4), ssm.SelectiveState(_t(1, 8, 4), _t(1, 8, 3, dtype=F64))),
     TypeError, "state"),
    # selective_discretize / zoh_decay / init_dt_bias / check_dt_range
    ("ssm.selective_discretize dt numpy", lambda p: _sel_args(dt=np.zeros((2, 5, 3))),
     TypeError, "dt"),
    ("ssm.selective_discretize B width", lambda p: _sel_args(B=_t(2, 5, 5)), ValueError, "B"),
    ("ssm.selective_discretize x float64", lambda p: _sel_args(x=_t(2, 5, 3, dtype=F64)),
     TypeError, "x"),
    ("ssm.selective_discretize x leading dims", lambda p: _sel_args(x=_t(2, 4, 3)), ValueError,
     "x"),
    ("ssm.selective_discretize A_log 1-D", lambda p: _sel_args(A_log=_t(3)), ValueError,
     "A_log"),
    ("ssm.zoh_decay dt numpy", lambda p: ssm.zoh_decay(np.zeros(3), _t(3, 4)), TypeError, "dt"),
    ("ssm.zoh_decay dt width", lambda p: ssm.zoh_decay(_t(5, 2), _t(3, 4)), ValueError, "dt"),
    ("ssm.zoh_decay dt int64", lambda p: ssm.zoh_decay(torch.ones(3, dtype=torch.long), _t(3, 4)),
     TypeError, "dt"),
    ("ssm.zoh_decay A_log int64",
     lambda p: ssm.zoh_decay(_t(3), torch.ones(3, 4, dtype=torch.long)), TypeError, "A_log"),
    ("ssm.init_dt_bias bias numpy", lambda p: ssm.init_dt_bias(np.zeros(3), 1e-3, 0.1),
     TypeError, "bias"),
    ("ssm.init_dt_bias bias int64",
     lambda p: ssm.init_dt_bias(torch.zeros(3, dtype=torch.long), 1e-3, 0.1), TypeError, "bias"),
    ("ssm.init_dt_bias dt_min=0", lambda p: ssm.init_dt_bias(_t(3), 0.0, 0.1), ValueError,
     "dt_min"),
    ("ssm.init_dt_bias dt_min > dt_max", lambda p: ssm.init_dt_bias(_t(3), 1.0, 0.1),
     ValueError, "dt_min"),
    ("ssm.init_dt_bias floor=-1", lambda p: ssm.init_dt_bias(_t(3), 1e-3, 0.1, -1.0),
     ValueError, "floor"),
    ("ssm.init_dt_bias floor='x'", lambda p: ssm.init_dt_bias(_t(3), 1e-3, 0.1, "x"),
     ValueError, "floor"),
    ("ssm.check_dt_range dt_min > dt_max", lambda p: ssm.check_dt_range(1.0, 0.1), ValueError,
     "dt_min"),
    ("ssm.check_dt_range dt_max=inf", lambda p: ssm.check_dt_range(1e-3, math.inf), ValueError,
     "dt_max"),
    ("ssm.check_dt_range dt_min='a'", lambda p: ssm.check_dt_range("a", 0.1), ValueError,
     "dt_min"),
    # discretize and its three methods
    ("ssm.discretize dt='0.1'", lambda p: ssm.discretize(A2, B2, "0.1"), TypeError, "dt"),
    ("ssm.discretize dt=-1", lambda p: ssm.discretize(A2, B2, -1.0), ValueError, "dt"),
    ("ssm.discretize method", lambda p: ssm.discretize(A2, B2, 0.1, "rk4"), ValueError, "method"),
    ("ssm.discretize A list", lambda p: ssm.discretize([[1.0]], B2, 0.1), TypeError, "A"),
    ("ssm.discretize B shape", lambda p: ssm.discretize(A2, torch.ones(3, 1), 0.1), ValueError,
     "B"),
    ("ssm.discretize dt complex", lambda p: ssm.discretize(A2, B2, torch.tensor(0.1 + 1j)),
     ValueError, "dt"),
    ("ssm.discretize_zoh A numpy", lambda p: ssm.discretize_zoh(np.eye(2), B2, 0.1), TypeError,
     "A"),
    ("ssm.discretize_zoh A nan",
     lambda p: ssm.discretize_zoh(torch.full((2, 2), math.nan), B2, 0.1), ValueError, "A"),
    ("ssm.discretize_zoh B inf",
     lambda p: ssm.discretize_zoh(A2, torch.full((2, 1), math.inf), 0.1), ValueError, "B"),
    ("ssm.discretize_zoh A (0, 0)", lambda p: ssm.discretize_zoh(_t(0, 0), _t(0, 1), 0.1),
     ValueError, "A"),
    ("ssm.discretize_zoh diagonal='no'", lambda p: ssm.discretize_zoh(A2, B2, 0.1, diagonal="no"),
     TypeError, "diagonal"),
    ("ssm.discretize_zoh dt float64 for float32 A",
     lambda p: ssm.discretize_zoh(A2, B2, torch.tensor(0.1, dtype=F64)), TypeError, "dt"),
    ("ssm.discretize_zoh dt bool tensor",
     lambda p: ssm.discretize_zoh(A2, B2, torch.tensor(True)), TypeError, "dt"),
    ("ssm.discretize_zoh dt None", lambda p: ssm.discretize_zoh(A2, B2, None), TypeError, "dt"),
    ("ssm.discretize_bilinear singular",
     lambda p: ssm.discretize_bilinear(20 * torch.eye(2), B2, 0.1), ValueError, "A and dt"),
    ("ssm.discretize_bilinear diagonal singular",
     lambda p: ssm.discretize_bilinear(torch.tensor([20.0, -1.0]), B2, 0.1), ValueError,
     "A and dt"),
    ("ssm.discretize_bilinear dt=0", lambda p: ssm.discretize_bilinear(A2, B2, 0.0), ValueError,
     "dt"),
    ("ssm.discretize_euler A bool",
     lambda p: ssm.discretize_euler(torch.eye(2, dtype=torch.bool), B2, 0.1), TypeError, "A"),
    ("ssm.discretize_euler B shape", lambda p: ssm.discretize_euler(A2, _t(3, 1), 0.1),
     ValueError, "B"),
    # HiPPO-LegS memory and the Legendre read-out
    ("ssm.hippo_legs N=0", lambda p: ssm.hippo_legs(0), ValueError, "N"),
    ("ssm.hippo_legs dtype=int64", lambda p: ssm.hippo_legs(3, dtype=torch.int64), ValueError,
     "dtype"),
    ("ssm.hippo_legs dtype=complex64", lambda p: ssm.hippo_legs(3, dtype=torch.complex64),
     ValueError, "dtype"),
    ("ssm.hippo_legs device=cuda", lambda p: ssm.hippo_legs(3, device="cuda"), ValueError,
     "device"),
    ("ssm.hippo_legs_memory u numpy", lambda p: ssm.hippo_legs_memory(np.zeros(5), 3),
     TypeError, "u"),
    ("ssm.hippo_legs_memory N=0", lambda p: ssm.hippo_legs_memory(_t(5), 0), ValueError, "N"),
    ("ssm.hippo_legs_memory N=2.0", lambda p: ssm.hippo_legs_memory(_t(5), 2.0), ValueError,
     "N"),
    ("ssm.hippo_legs_memory u nan",
     lambda p: ssm.hippo_legs_memory(torch.tensor([1.0, math.nan]), 3), ValueError, "u"),
    ("ssm.hippo_legs_memory u float16",
     lambda p: ssm.hippo_legs_memory(_t(5, dtype=torch.float16), 3), TypeError, "u"),
    ("ssm.hippo_legs_memory u complex", lambda p: ssm.hippo_legs_memory(_t(5, dtype=C64), 3),
     ValueError, "u"),
    ("ssm.hippo_legs_memory u 0-d", lambda p: ssm.hippo_legs_memory(torch.tensor(1.0), 3),
     ValueError, "u"),
    ("ssm.legendre_basis N=0", lambda p: ssm.legendre_basis(0, torch.linspace(0, 1, 5)),
     ValueError, "N"),
    ("ssm.legendre_basis positions numpy",
     lambda p: ssm.legendre_basis(3, np.linspace(0, 1, 5)), TypeError, "positions"),
    ("ssm.legendre_basis positions 2-D", lambda p: ssm.legendre_basis(3, _t(2, 5)), ValueError,
     "positions"),
    ("ssm.legendre_basis positions int64",
     lambda p: ssm.legendre_basis(3, torch.tensor([0, 1])), TypeError, "positions"),
    ("ssm.legendre_basis positions outside [0, 1]",
     lambda p: ssm.legendre_basis(3, torch.tensor([0.5, 2.0])), ValueError, "positions"),
    ("ssm.legendre_basis positions nan",
     lambda p: ssm.legendre_basis(3, torch.tensor([math.nan])), ValueError, "positions"),
    ("ssm.legendre_reconstruct c numpy",
     lambda p: ssm.legendre_reconstruct(np.zeros(3), torch.zeros(4)), TypeError, "c"),
    ("ssm.legendre_reconstruct positions list",
     lambda p: ssm.legendre_reconstruct(_t(3), [0.0, 1.0]), TypeError, "positions"),
    ("ssm.legendre_reconstruct positions numpy",
     lambda p: ssm.legendre_reconstruct(_t(3), np.zeros(4)), TypeError, "positions"),
    ("ssm.legendre_reconstruct c 0-d",
     lambda p: ssm.legendre_reconstruct(torch.tensor(1.0), _t(4)), ValueError, "c"),
    ("ssm.legendre_reconstruct c int64",
     lambda p: ssm.legendre_reconstruct(torch.zeros(3, dtype=torch.long), _t(4)), TypeError,
     "c"),
    ("ssm.legendre_reconstruct c nan",
     lambda p: ssm.legendre_reconstruct(torch.full((3,), math.nan), _t(4)), ValueError, "c"),
    ("ssm.legendre_reconstruct positions 2-D",
     lambda p: ssm.legendre_reconstruct(_t(3), _t(4, 2)), ValueError, "positions"),
    ("ssm.legendre_reconstruct positions outside [0, 1]",
     lambda p: ssm.legendre_reconstruct(_t(3), torch.tensor([-0.5])), ValueError, "positions"),
    # S4D init, random stable matrices, kernels and the FFT convolution
    ("ssm.s4d_init N=0", lambda p: ssm.s4d_init(0), ValueError, "N"),
    ("ssm.s4d_init kind=1", lambda p: ssm.s4d_init(4, 1), ValueError, "kind"),
    ("ssm.s4d_init dtype='complex64'", lambda p: ssm.s4d_init(4, dtype="complex64"), ValueError,
     "dtype"),
    ("ssm.s4d_init dtype=None", lambda p: ssm.s4d_init(4, dtype=None), ValueError, "dtype"),
    ("ssm.s4d_init dtype=float32", lambda p: ssm.s4d_init(4, dtype=torch.float32), ValueError,
     "dtype"),
    ("ssm.s4d_init device=cuda", lambda p: ssm.s4d_init(4, device="cuda"), ValueError,
     "device"),
    ("ssm.random_stable_matrix min_decay=-5", lambda p: ssm.random_stable_matrix(3, min_decay=-5),
     ValueError, "min_decay"),
    ("ssm.random_stable_matrix generator=0", lambda p: ssm.random_stable_matrix(3, generator=0),
     TypeError, "generator"),
    ("ssm.ssm_kernel L=0", lambda p: ssm.ssm_kernel(A2, B2, torch.ones(1, 2), 0), ValueError,
     "L"),
    ("ssm.ssm_kernel C numpy", lambda p: ssm.ssm_kernel(A2, B2, np.ones((1, 2)), 4), TypeError,
     "C"),
    ("ssm.ssm_kernel C shape", lambda p: ssm.ssm_kernel(A2, B2, torch.ones(1, 3), 4), ValueError,
     "C"),
    ("ssm.ssm_kernel diagonal='x'",
     lambda p: ssm.ssm_kernel(A2, B2, torch.ones(1, 2), 4, diagonal="x"), TypeError, "diagonal"),
    ("ssm.ssm_kernel A_bar not square",
     lambda p: ssm.ssm_kernel(_t(2, 3), B2, torch.ones(1, 2), 4, diagonal=False), ValueError,
     "A_bar"),
    ("ssm.causal_conv u numpy", lambda p: ssm.causal_conv(np.zeros((5, 3)), _t(3, 5)), TypeError,
     "u"),
    ("ssm.causal_conv K width", lambda p: ssm.causal_conv(_t(5, 3), _t(2, 5)), ValueError, "K"),
    ("ssm.causal_conv K no taps", lambda p: ssm.causal_conv(_t(5, 3), _t(3, 0)), ValueError,
     "K"),
    # fit_on_batches
    ("ssm.fit_on_batches model=lambda", lambda p: ssm.fit_on_batches(
        lambda x: x, _fit_batch, _fit_loss, 1, 0.1), TypeError, "model"),
    ("ssm.fit_on_batches make_batch=3", lambda p: ssm.fit_on_batches(
        torch.nn.Linear(2, 1), 3, _fit_loss, 1, 0.1), TypeError, "make_batch"),
    ("ssm.fit_on_batches loss_fn=None", lambda p: ssm.fit_on_batches(
        torch.nn.Linear(2, 1), _fit_batch, None, 1, 0.1), TypeError, "loss_fn"),
    ("ssm.fit_on_batches steps=-1", lambda p: ssm.fit_on_batches(
        torch.nn.Linear(2, 1), _fit_batch, _fit_loss, -1, 0.1), ValueError, "steps"),
    ("ssm.fit_on_batches lr=0", lambda p: ssm.fit_on_batches(
        torch.nn.Linear(2, 1), _fit_batch, _fit_loss, 1, 0.0), ValueError, "lr"),
    ("ssm.fit_on_batches seed=-2", lambda p: ssm.fit_on_batches(
        torch.nn.Linear(2, 1), _fit_batch, _fit_loss, 1, 0.1, seed=-2), ValueError, "seed"),
    ("ssm.fit_on_batches lr=1e12 diverges", lambda p: ssm.fit_on_batches(
        torch.nn.Linear(2, 1), _fit_batch, _fit_loss, 50, 1e12), FloatingPointError, "learning rate"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_ssm_still_run(tmp_path):
    """Each callable fixed above still takes its valid inputs, with the same numbers."""
    gen = torch.Generator().manual_seed(0)
    # discretizations: dense and diagonal, numbers, NumPy and integer steps, integer matrices
    for method, fn in (("zoh", ssm.discretize_zoh), ("bilinear", ssm.discretize_bilinear),
                       ("euler", ssm.discretize_euler)):
        A_bar, B_bar = fn(A2, B2, 0.1)
        assert A_bar.shape == (2, 2) and B_bar.shape == (2, 1) and A_bar.dtype == torch.float32
        for dt in (np.float64(0.1), np.array(0.1), torch.tensor(0.1)):
            torch.testing.assert_close(fn(A2, B2, dt), (A_bar, B_bar), rtol=0, atol=0)
        torch.testing.assert_close(ssm.discretize(A2, B2, 0.1, method), (A_bar, B_bar))
        steps = fn(-torch.eye(2, dtype=torch.long), torch.ones(2, 1, dtype=torch.long),
                   torch.tensor(1))
        assert steps[0].dtype == torch.get_default_dtype()
        diag = fn(-torch.rand(3, 4, generator=gen, dtype=F64), torch.ones(3, 4, 1, dtype=F64),
                  torch.rand(3, 1, generator=gen, dtype=F64) + 0.01, diagonal=True)
        assert diag[0].shape == (3, 4) and diag[1].shape == (3, 4, 1) and diag[0].dtype == F64
        complex_A = ssm.s4d_init(4, dtype=C128)
        assert fn(complex_A, torch.ones(4, 1, dtype=C128), 0.1)[0].dtype == C128
        # the modules' unchecked path gives the public function's numbers, bit for bit
        model = ssm.LinearSSM(3, 2, 1, method=method, seed=0)
        torch.testing.assert_close(model.discretized(),
                                   ssm.discretize(model.A, model.B, model.dt, method),
                                   rtol=0, atol=0)
        layer = ssm.S4DLayer(3, 4, method=method)
        A = torch.complex(-torch.exp(layer.log_A_real), layer.A_imag)
        expected = ssm.discretize(A, torch.ones_like(A).unsqueeze(-1),
                                  torch.exp(layer.log_dt)[:, None], method, diagonal=True)
        torch.testing.assert_close(layer.discretized(), (expected[0], expected[1].squeeze(-1)),
                                   rtol=0, atol=0)
    # HiPPO-LegS: an integer signal is read as float64; positions at both ends of [0, 1]
    u = torch.arange(1, 9)
    memory = ssm.hippo_legs_memory(u, np.int64(4))
    torch.testing.assert_close(memory, ssm.hippo_legs_memory(u.to(F64), 4), rtol=0, atol=0)
    positions = torch.arange(1, 9, dtype=F64) / 8
    assert ssm.legendre_basis(4, positions).shape == (8, 4)
    assert ssm.legendre_basis(1, torch.tensor([0.0, 1.0])).shape == (2, 1)
    torch.testing.assert_close(ssm.legendre_reconstruct(memory[-1], positions.float()),
                               ssm.legendre_reconstruct(memory[-1], positions))
    assert ssm.legendre_reconstruct(memory, positions).shape == (8, 8)
    assert ssm.s4d_init(np.int64(4), "inv").shape == (4,)
    # LinearSSM with NumPy sizes and seed: plain ints in the config, so save and load work
    model = ssm.LinearSSM(np.int64(2), np.int64(1), dt=np.float32(0.5), seed=np.int64(3))
    assert type(model.config()["state_dim"]) is int and type(model.config()["seed"]) is int
    model.save(tmp_path / "lin.pt")
    loaded = ssm.LinearSSM.load(tmp_path / "lin.pt", expected_config={"state_dim": 2})
    x = torch.randn(2, 6, 1, generator=gen)
    for mode in ("recurrent", "conv"):
        torch.testing.assert_close(loaded(x, mode=mode), model(x, mode=mode))
    model.reset()
    # S4DLayer: the state init_state returns, in both modes and step by step
    layer = ssm.S4DLayer(3, np.int64(4))
    state = layer.init_state(np.int64(2))
    assert state.dtype == C64 and state.shape == (2, 3, 2)
    x = torch.randn(2, 5, 3, generator=gen)
    y_conv, s_conv = layer(x, state + 0.5j)
    y_rec, s_rec = layer(x, state + 0.5j, mode="recurrent")
    torch.testing.assert_close(y_conv, y_rec, atol=1e-5, rtol=1e-5)
    assert layer.step(x[:, 0], s_conv)[1].shape == (2, 3, 2)
    # selective pieces and the Mamba block
    dt, A_log = torch.rand(2, 5, 3, generator=gen), torch.randn(3, 4, generator=gen)
    B, x_in = torch.randn(2, 5, 4, generator=gen), torch.randn(2, 5, 3, generator=gen)
    A_bar, Bx = ssm.selective_discretize(dt, A_log, B, x_in)
    torch.testing.assert_close(A_bar, ssm.zoh_decay(dt, A_log), rtol=0, atol=0)
    torch.testing.assert_close(A_bar, torch.exp(dt.unsqueeze(-1) * -torch.exp(A_log)))
    assert Bx.shape == (2, 5, 3, 4)
    bias = torch.empty(1000)
    ssm.init_dt_bias(bias, np.float32(1e-3), 0.1, floor=np.float64(1e-4))
    softplus = torch.nn.functional.softplus(bias)
    assert 1e-3 * (1 - 1e-4) <= float(softplus.min()) and float(softplus.max()) <= 0.1 * (1 + 1e-4)
    assert ssm.check_dt_range(np.float64(1e-3), 1) is None
    layer = ssm.SelectiveSSM(np.int64(4), d_state=4, conv_bias=np.bool_(False))
    state = layer.init_state(np.int64(2))
    x = torch.randn(2, 6, 4, generator=gen)
    y, final, trace = layer(x, state, reset=torch.zeros(2, 6, dtype=torch.bool),
                            return_states=np.bool_(True))
    assert isinstance(final, ssm.SelectiveState) and isinstance(trace, ssm.SelectiveTrace)
    torch.testing.assert_close(y, layer(x)[0], rtol=0, atol=0)
