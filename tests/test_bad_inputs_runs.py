"""Bad inputs of navigation_runs / metaworld_runs / sinusoid_runs / bandit_runs (stored runs): each is refused
naming the argument."""

from __future__ import annotations

import numpy as np
import torch
from bad_input_table import table_tests

EXEMPT = {
    "ssm_metarl.metaworld_runs.InferenceRun": "record that reach_by_inference builds and returns "
                                              "(checked there)",
}


def _nav():
    from ssm_metarl import navigation_runs

    return navigation_runs


def _mw():
    from ssm_metarl import metaworld_runs

    return metaworld_runs


def _main(module, argv):
    """``module.main(argv)``, restoring the torch thread count that main sets to 1."""
    threads = torch.get_num_threads()
    try:
        return module.main(argv)
    finally:
        torch.set_num_threads(threads)


def _evaluate_runs(**over):
    """navigation_runs.evaluate_runs with one argument spoiled (refused before any run loads)."""
    args = {"test_goals": np.zeros((2, 2)), "validation_goals": np.zeros((2, 2))}
    args.update(over)
    return _nav().evaluate_runs(**args)


def _sin():
    from ssm_metarl import sinusoid_runs

    return sinusoid_runs


def _ban():
    from ssm_metarl import bandit_runs

    return bandit_runs


def _policy():
    from ssm_metarl.policies import MLPPolicy

    return MLPPolicy(39, 4, (8,))


def _tasks():
    return _mw().family("test").tasks()[:1]


def _rollout(**over):
    """metaworld_runs.success_rollout with one argument spoiled."""
    args = {"policy": _policy(), "tasks": _tasks(), "episodes": 1, "seed": 0}
    args.update(over)
    return _mw().success_rollout(**args)


def _evaluate_run(**over):
    args = {"method": "memoryless", "policy": _policy(), "tasks": _tasks(), "episodes": 1}
    args.update(over)
    return _mw().evaluate_run(**args)


CASES = [
    ("navigation_runs.run_config method='sgd'", lambda p: _nav().run_config("sgd", 0),
     ValueError, "method"),
    ("navigation_runs.evaluate_runs grid=(-1,)", lambda p: _evaluate_runs(grid=(-1,)),
     ValueError, "grid"),
    ("navigation_runs.evaluate_runs grid=0.1", lambda p: _evaluate_runs(grid=0.1), TypeError,
     "grid"),
    ("navigation_runs.evaluate_runs grid=()", lambda p: _evaluate_runs(grid=()), TypeError,
     "grid"),
    ("navigation_runs.evaluate_runs seeds=0", lambda p: _evaluate_runs(seeds=0), TypeError,
     "seeds"),
    ("navigation_runs.evaluate_runs seeds=[0, -1]", lambda p: _evaluate_runs(seeds=[0, -1]),
     ValueError, "seeds[1]"),
    ("navigation_runs.evaluate_runs steps=-1", lambda p: _evaluate_runs(steps=-1), ValueError,
     "steps"),
    ("navigation_runs.evaluate_runs trajectories_per_task=0",
     lambda p: _evaluate_runs(trajectories_per_task=0), ValueError, "trajectories_per_task"),
    ("navigation_runs.evaluate_runs seed='a'", lambda p: _evaluate_runs(seed="a"), ValueError,
     "seed"),
    ("navigation_runs.evaluate_runs test_goals (2, 3)",
     lambda p: _evaluate_runs(test_goals=np.zeros((2, 3))), ValueError, "goals"),
    ("navigation_runs.run_paths method='sgd'", lambda p: _nav().run_paths("sgd", 0), ValueError,
     "method"),
    ("navigation_runs.run_paths seed=-1", lambda p: _nav().run_paths("maml_trpo", -1),
     ValueError, "seed"),
    ("navigation_runs.load_run method='sgd'", lambda p: _nav().load_run("sgd", 0), ValueError,
     "method"),
    ("navigation_runs.load_run seed=1.5", lambda p: _nav().load_run("maml_trpo", 1.5),
     ValueError, "seed"),
    ("navigation_runs.load_run map_location='bogus'",
     lambda p: _nav().load_run("maml_trpo", 0, map_location="bogus"), ValueError,
     "map_location"),
    ("navigation_runs.train_run method='sgd'", lambda p: _nav().train_run("sgd", 0, 1),
     ValueError, "method"),
    ("navigation_runs.train_run iterations=0", lambda p: _nav().train_run("maml_trpo", 0, 0),
     ValueError, "iterations"),
    ("navigation_runs.train_run seed=-1", lambda p: _nav().train_run("maml_adam", -1, 1),
     ValueError, "seed"),
    ("navigation_runs.main argv='maml_trpo'", lambda p: _main(_nav(), "maml_trpo"), TypeError,
     "argv"),
    ("navigation_runs.main --iterations 0",
     lambda p: _main(_nav(), ["maml_trpo", "--iterations", "0", "--seeds", "0"]), ValueError,
     "iterations"),
    ("navigation_runs.main --seeds -1", lambda p: _main(_nav(), ["maml_adam", "--seeds", "-1"]),
     ValueError, "seed"),
    # ------------------------------------------------------------ sinusoid runs
    ("sinusoid_runs.run_config method='SGD'", lambda p: _sin().run_config("SGD", 0), ValueError,
     "method"),
    ("sinusoid_runs.run_config seed=-1", lambda p: _sin().run_config("MAML", -1), ValueError,
     "seed"),
    ("sinusoid_runs.run_paths method='maml'", lambda p: _sin().run_paths("maml", 0), ValueError,
     "method"),
    ("sinusoid_runs.run_paths seed=1.5", lambda p: _sin().run_paths("ANIL", 1.5), ValueError,
     "seed"),
    ("sinusoid_runs.load_run method=None", lambda p: _sin().load_run(None, 0), ValueError,
     "method"),
    ("sinusoid_runs.load_run seed 99 missing", lambda p: _sin().load_run("MAML", 99),
     FileNotFoundError, "sinusoid_runs MAML --seeds 99"),
    ("sinusoid_runs.train_run method='x'", lambda p: _sin().train_run("x", 0, 1), ValueError,
     "method"),
    ("sinusoid_runs.train_run iterations=0", lambda p: _sin().train_run("MAML", 0, 0),
     ValueError, "iterations"),
    ("sinusoid_runs.evaluate_runs seeds=0", lambda p: _sin().evaluate_runs(seeds=0), TypeError,
     "seeds"),
    ("sinusoid_runs.evaluate_runs seeds=[0, -1]",
     lambda p: _sin().evaluate_runs(seeds=[0, -1]), ValueError, "seeds[1]"),
    ("sinusoid_runs.evaluate_runs num_tasks=0", lambda p: _sin().evaluate_runs(num_tasks=0),
     ValueError, "num_tasks"),
    ("sinusoid_runs.evaluate_runs shots=0", lambda p: _sin().evaluate_runs(shots=0), ValueError,
     "shots"),
    ("sinusoid_runs.evaluate_runs steps=-1", lambda p: _sin().evaluate_runs(steps=-1),
     ValueError, "steps"),
    ("sinusoid_runs.main argv='MAML'", lambda p: _main(_sin(), "MAML"), TypeError, "argv"),
    ("sinusoid_runs.main --iterations 0",
     lambda p: _main(_sin(), ["MAML", "--iterations", "0", "--seeds", "0"]), ValueError,
     "iterations"),
    # ------------------------------------------------------------ RL^2 bandit runs
    ("bandit_runs.setting method='ssm_n5_k5'", lambda p: _ban().setting("ssm_n5_k5"),
     ValueError, "method"),
    ("bandit_runs.run_config method='lstm_n10_k5'",
     lambda p: _ban().run_config("lstm_n10_k5", 0), ValueError, "method"),
    ("bandit_runs.run_config seed=-1", lambda p: _ban().run_config("ssm_n10_k5", -1),
     ValueError, "seed"),
    ("bandit_runs.run_config iterations=0",
     lambda p: _ban().run_config("ssm_n10_k5", 0, iterations=0), ValueError, "iterations"),
    ("bandit_runs.run_config trials_per_iteration=1.5",
     lambda p: _ban().run_config("ssm_n10_k5", 0, trials_per_iteration=1.5), ValueError,
     "trials_per_iteration"),
    ("bandit_runs.run_paths method=None", lambda p: _ban().run_paths(None, 0), ValueError,
     "method"),
    ("bandit_runs.run_paths seed='0'", lambda p: _ban().run_paths("gru_n10_k5", "0"),
     ValueError, "seed"),
    ("bandit_runs.load_run seed 99 missing", lambda p: _ban().load_run("gru_n10_k5", 99),
     FileNotFoundError, "bandit_runs gru_n10_k5 --seeds 99"),
    ("bandit_runs.train_run method='x'", lambda p: _ban().train_run("x", 0, 1), ValueError,
     "method"),
    ("bandit_runs.train_run iterations=0", lambda p: _ban().train_run("ssm_n10_k5", 0, 0),
     ValueError, "iterations"),
    ("bandit_runs.evaluate_runs methods='ssm_n10_k5'",
     lambda p: _ban().evaluate_runs("ssm_n10_k5"), TypeError, "methods"),
    ("bandit_runs.evaluate_runs methods=[]", lambda p: _ban().evaluate_runs([]), TypeError,
     "methods"),
    ("bandit_runs.evaluate_runs methods=['x']", lambda p: _ban().evaluate_runs(["x"]),
     ValueError, "method"),
    ("bandit_runs.evaluate_runs seeds=[0, -1]",
     lambda p: _ban().evaluate_runs(seeds=[0, -1]), ValueError, "seeds[1]"),
    ("bandit_runs.evaluate_runs num_instances=0",
     lambda p: _ban().evaluate_runs(num_instances=0), ValueError, "num_instances"),
    ("bandit_runs.evaluate_runs seed=-2", lambda p: _ban().evaluate_runs(seed=-2), ValueError,
     "seed"),
    ("bandit_runs.main argv='ssm_n10_k5'", lambda p: _main(_ban(), "ssm_n10_k5"), TypeError,
     "argv"),
    ("bandit_runs.main --iterations 0",
     lambda p: _main(_ban(), ["ssm_n10_k5", "--iterations", "0", "--seeds", "0"]), ValueError,
     "iterations"),
    # ------------------------------------------------------------ Meta-World runs
    ("metaworld_runs.make_policy method='x'", lambda p: _mw().make_policy("x", 0), ValueError,
     "method"),
    ("metaworld_runs.make_policy seed=-1", lambda p: _mw().make_policy("rl2_ssm", -1),
     ValueError, "seed"),
    ("metaworld_runs.run_paths method='x'", lambda p: _mw().run_paths("x", 0), ValueError,
     "method"),
    ("metaworld_runs.run_paths seed=1.5", lambda p: _mw().run_paths("rl2_ssm", 1.5), ValueError,
     "seed"),
    ("metaworld_runs.load_run method='x'", lambda p: _mw().load_run("x", 0), ValueError,
     "method"),
    ("metaworld_runs.load_run seed=-1", lambda p: _mw().load_run("rl2_gru", -1), ValueError,
     "seed"),
    ("metaworld_runs.train_run method='x'", lambda p: _mw().train_run("x", 0, 1), ValueError,
     "method"),
    ("metaworld_runs.train_run iterations=0", lambda p: _mw().train_run("rl2_ssm", 0, 0),
     ValueError, "iterations"),
    ("metaworld_runs.train_run eval_every=0",
     lambda p: _mw().train_run("memoryless", 0, 1, eval_every=0), ValueError, "eval_every"),
    ("metaworld_runs.train_run seed=-1", lambda p: _mw().train_run("maml_mlp", -1, 1),
     ValueError, "seed"),
    ("metaworld_runs.main argv='rl2_ssm'", lambda p: _main(_mw(), "rl2_ssm"), TypeError, "argv"),
    ("metaworld_runs.main --iterations 0",
     lambda p: _main(_mw(), ["rl2_ssm", "--iterations", "0", "--seeds", "0"]), ValueError,
     "iterations"),
    ("metaworld_runs.success_rollout policy='x'", lambda p: _rollout(policy="x"), TypeError,
     "policy"),
    ("metaworld_runs.success_rollout tasks (0, 6)",
     lambda p: _rollout(tasks=np.zeros((0, 6))), ValueError, "tasks"),
    ("metaworld_runs.success_rollout tasks (6,)", lambda p: _rollout(tasks=_tasks()[0]),
     ValueError, "tasks"),
    ("metaworld_runs.success_rollout tasks not in benchmark",
     lambda p: _rollout(tasks=np.zeros((1, 6))), ValueError, "tasks[0]"),
    ("metaworld_runs.success_rollout episodes=0", lambda p: _rollout(episodes=0), ValueError,
     "episodes"),
    ("metaworld_runs.success_rollout seed='a'", lambda p: _rollout(seed="a"), ValueError,
     "seed"),
    ("metaworld_runs.success_rollout per_task=0", lambda p: _rollout(per_task=0), ValueError,
     "per_task"),
    ("metaworld_runs.success_rollout split_family='test'",
     lambda p: _rollout(split_family="test"), TypeError, "split_family"),
    ("metaworld_runs.evaluate_run method='x'", lambda p: _evaluate_run(method="x"), ValueError,
     "method"),
    ("metaworld_runs.evaluate_run policy='x'",
     lambda p: _evaluate_run(method="maml_mlp", policy="x"), TypeError, "policy"),
    ("metaworld_runs.evaluate_run tasks='abc'", lambda p: _evaluate_run(tasks="abc"),
     ValueError, "tasks"),
    ("metaworld_runs.evaluate_run episodes=0", lambda p: _evaluate_run(episodes=0), ValueError,
     "episodes"),
    ("metaworld_runs.evaluate_run per_task=0", lambda p: _evaluate_run(per_task=0), ValueError,
     "per_task"),
    ("metaworld_runs.reach_reward distance=-1", lambda p: _mw().reach_reward(-1.0, 0.2),
     ValueError, "distance"),
    ("metaworld_runs.reach_reward margin=0", lambda p: _mw().reach_reward(0.1, 0.0), ValueError,
     "margin"),
    ("metaworld_runs.goal_from_rewards positions (5, 2)",
     lambda p: _mw().goal_from_rewards(np.zeros((5, 2)), np.full(5, 0.5)), ValueError, "positions"),
    ("metaworld_runs.goal_from_rewards rewards of another length",
     lambda p: _mw().goal_from_rewards(np.zeros((8, 3)), np.full(7, 0.5)), ValueError, "rewards"),
    ("metaworld_runs.goal_from_rewards rewards=0",
     lambda p: _mw().goal_from_rewards(np.zeros((8, 3)), np.zeros(8)), ValueError, "rewards"),
    ("metaworld_runs.goal_from_rewards too few below 1",
     lambda p: _mw().goal_from_rewards(np.random.default_rng(0).normal(size=(8, 3)),
                                       np.r_[np.full(3, 0.5), np.ones(5)]), ValueError, "6 rewards"),
    ("metaworld_runs.goal_from_rewards iterations=-1",
     lambda p: _mw().goal_from_rewards(np.zeros((8, 3)), np.full(8, 0.5), iterations=-1),
     ValueError, "iterations"),
    ("metaworld_runs.reach_by_inference infer=3",
     lambda p: _mw().reach_by_inference(_tasks()[0], infer=3), TypeError, "infer"),
    ("metaworld_runs.reach_by_inference explore_steps=200",
     lambda p: _mw().reach_by_inference(_tasks()[0], explore_steps=200), ValueError,
     "explore_steps"),
    ("metaworld_runs.reach_by_inference task (6,)",
     lambda p: _mw().reach_by_inference(np.zeros(6)), ValueError, "task"),
    ("metaworld_runs.reach_by_inference infer returns (2,)",
     lambda p: _mw().reach_by_inference(_tasks()[0], infer=lambda p, r: np.zeros(2)), ValueError,
     "infer"),
    ("metaworld_runs.oracle_action obs (2,)",
     lambda p: _mw().oracle_action(np.zeros(2), np.zeros(3)), ValueError, "obs"),
    ("metaworld_runs.oracle_action obs str",
     lambda p: _mw().oracle_action(np.full(39, "a"), np.zeros(3)), TypeError, "obs"),
    ("metaworld_runs.oracle_action goal (6,)",
     lambda p: _mw().oracle_action(np.zeros(39), np.zeros(6)), ValueError, "goal"),
    ("metaworld_runs.oracle_action gain=nan",
     lambda p: _mw().oracle_action(np.zeros(39), np.zeros(3), float("nan")), ValueError,
     "gain"),
    ("metaworld_runs.oracle_success tasks (6,)", lambda p: _mw().oracle_success(_tasks()[0]),
     ValueError, "tasks"),
    ("metaworld_runs.oracle_success tasks not in benchmark",
     lambda p: _mw().oracle_success(np.zeros((1, 6))), ValueError, "tasks[0]"),
    ("metaworld_runs.oracle_success horizon=0",
     lambda p: _mw().oracle_success(_tasks(), horizon=0), ValueError, "horizon"),
    ("metaworld_runs.oracle_success name=['x']",
     lambda p: _mw().oracle_success(_tasks(), name=["x"]), ValueError, "name"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_runs_still_run():
    nav, mw = _nav(), _mw()
    weights, record = nav.run_paths("maml_trpo", np.int64(0))
    assert weights.name == "maml_trpo_seed0.pt" and record.suffix == ".json"
    runs = nav.evaluate_runs(np.zeros((1, 2)), np.full((1, 2), 0.1), seeds=np.array([0]),
                             steps=np.int64(1), trajectories_per_task=1, grid=np.array([0.1]))
    assert runs["returns"]["maml_trpo"].shape == (1, 1, 2)
    assert mw.run_paths("rl2_ssm", np.int64(1))[0].name == "rl2_ssm_seed1.pt"
    action = mw.oracle_action([0.0] * 39, (0.1, 0.0, 0.0), gain=np.float32(5))
    assert action.dtype == np.float32 and action.tolist() == [0.5, 0.0, 0.0, 0.0]
    assert mw.oracle_action(torch.zeros(39), np.ones(3)).tolist() == [1.0, 1.0, 1.0, 0.0]
    assert mw.oracle_success(list(_tasks()), horizon=np.int64(2)).shape == (1,)
    short = mw.MetaWorldTasks("reach-v3", "test", horizon=5)
    _, success = mw.success_rollout(_policy(), torch.as_tensor(_tasks()), np.int64(2), 0,
                                    per_task=2, split_family=short)
    assert success.shape == (2, 2)
