"""Bad inputs of system (notebook 05's modes): each is refused naming the argument."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from bad_input_table import _lin, table_tests

from ssm_metarl import policies

EXEMPT = {
    "ssm_metarl.system.AdaptationCurve": "record that evaluate_mode builds and returns (checked "
                                         "there); its method at() has cases",
    "ssm_metarl.system.TrainedMode": "record that train_mode and load_policy build and return "
                                     "(checked there)",
    "ssm_metarl.system.SystemConfig.tasks": "takes no argument: the task family of the config's "
                                            "own checked fields",
}


def _system():
    from ssm_metarl import system

    return system


def _config(**over):
    """A tiny config: a check that fails to refuse a bad input still trains only seconds."""
    args = {"budget_steps": 100, "horizon": 3, "hidden_dim": 8, "ssm_state_dim": 2,
            "trials_per_iteration": 4, "meta_batch_size": 2, "trajectories_per_task": 2,
            "core": "gru"}
    args.update(over)
    return _system().SystemConfig(**args)


def _policy():
    return _system().make_system_policy(_config())


def _trained():
    system = _system()
    return system.TrainedMode("state", _policy(), {"return": [0.0]}, 0.0, 0, 0.0, _config())


G2 = np.zeros((2, 2))


def _evaluate(**over):
    args = {"policy": _policy(), "mode": "none", "goals": G2, "config": _config()}
    args.update(over)
    return _system().evaluate_mode(args.pop("policy"), args.pop("mode"), args.pop("goals"),
                                   args.pop("config"), **args)


def _train_all(p, **over):
    """train_all into p / "w"; every refusal must come before the folder and any training."""
    args = {"config": _config(), "seeds": [0], "directory": p / "w", "modes": ["state"],
            "log": lambda line: None}
    args.update(over)
    try:
        _system().train_all(args.pop("config"), args.pop("seeds"), args.pop("directory"), **args)
    finally:
        assert not (p / "w").exists(), "wrote the folder before refusing"


def _probe(**over):
    rng = np.random.default_rng(0)
    args = {"states": rng.random((6, 3, 2)), "goals": rng.random((6, 2))}
    args.update(over)
    return _system().linear_probe_error(args.pop("states"), args.pop("goals"), **args)


def _ucb(counts=(1, 1), means=(0.0, 1.0), t=2, scale=1.0):
    return _system().ucb_choice(counts, means, t, scale)


def _choose(population=None, goals=G2, trials=2, **kw):
    return _system().choose_by_ucb([_policy()] if population is None else population, goals,
                                   trials, horizon=3, **kw)


def _states(policy=None, goals=G2, episodes=2, **kw):
    kw.setdefault("horizon", 3)
    return _system().trial_states(_policy() if policy is None else policy, goals, episodes, **kw)


def _curve():
    system = _system()
    return system.AdaptationCurve("state", np.arange(2), np.zeros(2), np.zeros((3, 2)))


def _foreign(p):
    path = p / "lin.pt"
    _lin().save(path)
    return path


CASES = [
    ("system.train_mode config=1",
     lambda p: __import__("ssm_metarl.system").system.train_mode("none", 1), TypeError, "config"),
    ("system.train_mode mode='rl2'", lambda p: _system().train_mode("rl2", _config()),
     ValueError, "mode"),
    ("system.train_mode iterations=0",
     lambda p: _system().train_mode("none", _config(), iterations=0), ValueError, "iterations"),
    ("system.SystemConfig episodes_per_trial=3",
     lambda p: __import__("ssm_metarl.system").system.SystemConfig(episodes_per_trial=3),
     ValueError, "episodes_per_trial"),
    ("system.SystemConfig trials_per_iteration=6", lambda p: _config(trials_per_iteration=6),
     ValueError, "trials_per_iteration=6 must be a multiple of 4"),
    ("system.SystemConfig gae_lambda=2", lambda p: _config(gae_lambda=2), ValueError,
     "gae_lambda"),
    ("system.SystemConfig core='mamba'", lambda p: _config(core="mamba"), ValueError, "core"),
    ("system.SystemConfig outer='sgd'", lambda p: _config(outer="sgd"), ValueError, "outer"),
    ("system.SystemConfig max_kl=0", lambda p: _config(max_kl=0), ValueError, "max_kl"),
    ("system.SystemConfig seed=-1", lambda p: _config(seed=-1), ValueError, "seed"),
    ("system.make_system_policy config=None", lambda p: _system().make_system_policy(None),
     TypeError, "config"),
    ("system.make_system_policy config=dict", lambda p: _system().make_system_policy({}),
     TypeError, "config"),
    ("system.steps_per_iteration config=None",
     lambda p: _system().steps_per_iteration("none", None), TypeError, "config"),
    ("system.steps_per_iteration mode=1", lambda p: _system().steps_per_iteration(1, _config()),
     ValueError, "mode"),
    ("system.meta_iterations config=None", lambda p: _system().meta_iterations("state", None),
     TypeError, "config"),
    ("system.meta_iterations mode unknown",
     lambda p: _system().meta_iterations("both ", _config()), ValueError, "mode"),
    ("system.core_time policy=object()", lambda p: _system().core_time(object()), TypeError,
     "policy"),
    ("system.core_time MLPPolicy", lambda p: _system().core_time(policies.MLPPolicy(2, 2, (8,))),
     TypeError, "policy must be an SSMMetaPolicy"),
    ("system.evaluate_mode config=None", lambda p: _evaluate(config=None), TypeError, "config"),
    ("system.evaluate_mode step_sizes=(0.1,) for 2 steps",
     lambda p: _evaluate(mode="weights", steps=2, step_sizes=(0.1,)), ValueError, "step_sizes"),
    ("system.evaluate_mode step_sizes=(0.1, nan)",
     lambda p: _evaluate(mode="weights", steps=2, step_sizes=(0.1, float("nan"))), ValueError,
     "step_sizes"),
    ("system.evaluate_mode trajectories_per_task=0",
     lambda p: _evaluate(trajectories_per_task=0), ValueError, "trajectories_per_task"),
    ("system.evaluate_mode trajectories_per_task='a'",
     lambda p: _evaluate(trajectories_per_task="a"), ValueError, "trajectories_per_task"),
    ("system.evaluate_mode policy=object()", lambda p: _evaluate(policy=object()), TypeError,
     "policy"),
    ("system.evaluate_mode mode unknown", lambda p: _evaluate(mode="rl2"), ValueError, "mode"),
    ("system.evaluate_mode steps=-1", lambda p: _evaluate(mode="weights", steps=-1), ValueError,
     "steps"),
    ("system.evaluate_mode episodes=0", lambda p: _evaluate(mode="state", episodes=0),
     ValueError, "episodes"),
    ("system.evaluate_mode goals='x'", lambda p: _evaluate(goals="x"), ValueError, "goals"),
    ("system.evaluate_mode seed=-1", lambda p: _evaluate(seed=-1), ValueError, "seed"),
    ("system.AdaptationCurve.at experience=-1", lambda p: _curve().at(-1), ValueError,
     "experience"),
    ("system.AdaptationCurve.at beyond the trial", lambda p: _curve().at(5), ValueError,
     "experience=5 is beyond"),
    ("system.AdaptationCurve.at experience='a'", lambda p: _curve().at("a"), ValueError,
     "experience"),
    ("system.save_policy trained=None",
     lambda p: _system().save_policy(None, p / "a.pt"), TypeError, "trained"),
    ("system.save_policy folder missing",
     lambda p: _system().save_policy(_trained(), p / "x" / "a.pt"), FileNotFoundError,
     "does not exist"),
    ("system.save_policy path=None", lambda p: _system().save_policy(_trained(), None),
     TypeError, "path"),
    ("system.load_policy missing file", lambda p: _system().load_policy(p / "nope.pt"),
     FileNotFoundError, "no checkpoint at"),
    ("system.load_policy path=None", lambda p: _system().load_policy(None), TypeError, "path"),
    ("system.load_policy another format", lambda p: _system().load_policy(_foreign(p)),
     ValueError, "not a ssm_metarl.SystemPolicy/1 file"),
    ("system.train_all seeds=3", lambda p: _train_all(p, seeds=3), TypeError, "seeds"),
    ("system.train_all seeds=[-1]", lambda p: _train_all(p, seeds=[-1]), ValueError,
     "seeds[0]"),
    ("system.train_all seeds repeated", lambda p: _train_all(p, seeds=[0, 0]), ValueError,
     "distinct"),
    ("system.train_all config=None", lambda p: _train_all(p, config=None), TypeError, "config"),
    ("system.train_all a bad mode after a good one",
     lambda p: _train_all(p, modes=("state", "bad")), ValueError, "modes"),
    ("system.train_all modes='state'", lambda p: _train_all(p, modes="state"), TypeError,
     "modes"),
    ("system.train_all filename without fields",
     lambda p: _train_all(p, seeds=[0, 1], filename="policy.pt"), ValueError, "filename"),
    ("system.train_all filename with an unknown field",
     lambda p: _train_all(p, filename="{foo}.pt"), ValueError, "filename"),
    ("system.train_all log=1", lambda p: _train_all(p, log=1), TypeError, "log"),
    ("system.train_all progress='no'", lambda p: _train_all(p, progress="no"), TypeError,
     "progress"),
    ("system.train_all directory=None", lambda p: _train_all(p, directory=None), TypeError,
     "directory"),
    ("system.train_all directory is a file",
     lambda p: _train_all(p, directory=_foreign(p)), ValueError, "directory"),
    ("system.trial_states policy=MLPPolicy",
     lambda p: _states(policies.MLPPolicy(2, 2, (8,))), TypeError, "policy"),
    ("system.trial_states episodes=0", lambda p: _states(episodes=0), ValueError, "episodes"),
    ("system.trial_states goals 1-d", lambda p: _states(goals=np.zeros(2)), ValueError, "goals"),
    ("system.trial_states goals='x'", lambda p: _states(goals="x"), ValueError, "goals"),
    ("system.trial_states family=object()", lambda p: _states(family=object()), TypeError,
     "family"),
    ("system.trial_states seed=-1", lambda p: _states(seed=-1), ValueError, "seed"),
    ("system.linear_probe_error trials differ",
     lambda p: _probe(goals=np.zeros((5, 2))), ValueError, "states (G, T, F) and goals (G, D)"),
    ("system.linear_probe_error states 2-d", lambda p: _probe(states=np.zeros((6, 3))),
     ValueError, "states must have shape (G, T, F)"),
    ("system.linear_probe_error states='x'", lambda p: _probe(states="x"), ValueError, "states"),
    ("system.linear_probe_error goals nan", lambda p: _probe(goals=np.full((6, 2), math.nan)),
     ValueError, "goals must be finite"),
    ("system.linear_probe_error ridge=-1", lambda p: _probe(ridge=-1), ValueError, "ridge"),
    ("system.linear_probe_error train_fraction=0.1", lambda p: _probe(train_fraction=0.1),
     ValueError, "train_fraction"),
    ("system.ucb_choice t=0 with every policy tried", lambda p: _ucb(t=0), ValueError, "t must"),
    ("system.ucb_choice scale nan", lambda p: _ucb(scale=math.nan), ValueError, "scale"),
    ("system.ucb_choice means nan", lambda p: _ucb(means=(math.nan, 1.0)), ValueError,
     "means must be finite"),
    ("system.ucb_choice means of 3 policies", lambda p: _ucb(means=(0.0, 1.0, 2.0)), ValueError,
     "counts and means"),
    ("system.ucb_choice counts negative", lambda p: _ucb(counts=(-1, 1)), ValueError, "counts"),
    ("system.ucb_choice counts='ab'", lambda p: _ucb(counts="ab"), ValueError, "counts"),
    ("system.ucb_choice no policy", lambda p: _ucb((), ()), ValueError, "counts and means"),
    ("system.choose_by_ucb population=[]", lambda p: _choose([]), TypeError, "population"),
    ("system.choose_by_ucb one policy, not a list",
     lambda p: _choose(_policy()), TypeError, "population"),
    ("system.choose_by_ucb population of an MLPPolicy",
     lambda p: _choose([_policy(), policies.MLPPolicy(2, 2, (8,))]), TypeError, "population[1]"),
    ("system.choose_by_ucb scale nan", lambda p: _choose(scale=math.nan), ValueError, "scale"),
    ("system.choose_by_ucb trials=0", lambda p: _choose(trials=0), ValueError, "trials"),
    ("system.choose_by_ucb episodes_per_trial=0", lambda p: _choose(episodes_per_trial=0),
     ValueError, "episodes_per_trial"),
    ("system.choose_by_ucb goals 1-d", lambda p: _choose(goals=np.zeros(2)), ValueError,
     "goals"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


@pytest.mark.filterwarnings("ignore:SSMMetaPolicy could not be run under torch.func.vmap")
def test_valid_inputs_of_system_still_run(tmp_path):
    system = _system()
    config = _config(seed=np.int64(1))
    assert system.steps_per_iteration("state", config) == 4 * 2 * 3
    assert system.meta_iterations("weights", config) == 100 // (2 * 2 * 2 * 3)
    policy = system.make_system_policy(config)
    with system.core_time(policy) as timer:
        policy(torch.zeros(1, 3, policy.input_dim))
    assert timer.seconds > 0
    curve = system.evaluate_mode(policy, "none", [[0.1, 0.2], [0.0, 0.3]], config,
                                 trajectories_per_task=np.int64(2), steps=0)
    assert curve.returns.shape == (2, 1) and curve.at(np.int64(3)).shape == (2,)
    assert system.evaluate_mode(policy, "weights", G2, config, steps=1).returns.shape == (2, 2)
    # train_all checks everything first, then trains and saves; one file name is enough for one
    # policy, a range of NumPy seeds works
    lines = []
    trained = system.train_all(config, np.arange(1), tmp_path / "w", modes=["state"],
                               filename="one.pt", log=lines.append)
    assert len(trained) == 1 and len(lines) == 1 and os.path.exists(tmp_path / "w" / "one.pt")
    assert system.load_policy(tmp_path / "w" / "one.pt").mode == "state"
    states, episode = system.trial_states(policy, [[0.1, 0.2], [0.0, 0.3]], np.int64(2),
                                          horizon=3)
    assert states.shape[:2] == (2, len(episode))
    rng = np.random.default_rng(0)
    assert system.linear_probe_error(torch.as_tensor(rng.random((6, 3, 2))), rng.random((6, 2)),
                                     ridge=0).shape == (3,)
    # UCB: float counts (as choose_by_ucb keeps them), untried first even at t = 0
    assert system.ucb_choice(np.zeros(3), np.zeros(3), 0, 10.0) == 0
    assert system.ucb_choice(np.array([2.0, 1.0]), [0.0, 0.0], np.int64(3), np.float32(1)) == 1
    returns, choices = system.choose_by_ucb((policy, policy), G2, 2, episodes_per_trial=1,
                                            horizon=3, scale=0)
    assert returns.shape == choices.shape == (2, 2)
