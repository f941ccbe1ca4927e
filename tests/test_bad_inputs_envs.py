"""Bad inputs of envs (bandits, 2D navigation, task families): each is refused naming the argument."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from bad_input_table import _families, _nav_env, table_tests

from ssm_metarl.envs import bandit_baselines as bb


def _mw():
    from ssm_metarl.envs import metaworld

    return metaworld


@functools.lru_cache(maxsize=1)
def _mw_family():
    """One reach-v3 family (about 1 s, once): its tasks and benchmark serve every case."""
    return _mw().MetaWorldTasks()


@functools.lru_cache(maxsize=1)
def _mw_env():
    """A reset MetaWorldEnv; the cases spoil only arguments refused before any step."""
    env = _mw().MetaWorldEnv()
    env.reset(seed=0)
    return env


@functools.lru_cache(maxsize=1)
def _mw_batch():
    env = _mw().BatchedMetaWorld(2)
    env.reset(seed=0)
    return env


@functools.lru_cache(maxsize=1)
def _mw_short_env():
    return _mw().MetaWorldEnv(horizon=10)


def _task():
    return _mw_family().tasks()[0]


C0 = np.zeros((2, 3))
RNG = np.random.default_rng(0)


def _stats(fn=bb.select_greedy, counts=C0, successes=C0, t=0, rng=RNG, **kw):
    """An arm selector on (2, 3) statistics, one argument spoiled."""
    return fn(counts, successes, t, rng, **kw)


def _successes(rows=None, valid=None, dones=None, k=1):
    rows = np.zeros((3, 2)) if rows is None else rows
    valid = np.ones((3, 2), bool) if valid is None else valid
    dones = np.zeros((3, 2), bool) if dones is None else dones
    return _mw().episode_successes(rows, valid, dones, k)


def _env_classes():
    import ssm_metarl.envs

    return ssm_metarl.envs


def _nav_single():
    env = _env_classes().Navigation2D()
    env.reset(seed=0)
    return env


def _bandit_single():
    env = _env_classes().BernoulliBandit()
    env.reset(seed=0)
    return env


def _bandits():
    env = _env_classes().BatchedBernoulliBandit(2)
    env.reset(seed=0)
    return env


CASES = [
    ("envs.sample_goals rng='x'", lambda p: _families().sample_goals(2, rng="x"), ValueError,
     "rng"),
    ("envs.sample_goals rng=-1", lambda p: _families().sample_goals(2, rng=-1), ValueError, "rng"),
    ("families.NavigationTasks.sample rng='x'",
     lambda p: _families().NavigationTasks().sample(2, rng="x"), ValueError, "rng"),
    ("families.NavigationTasks radius=(0.5, 0.2)",
     lambda p: _families().NavigationTasks(radius=(0.5, 0.2)), ValueError, "radius"),
    ("families.NavigationTasks radius='ab'", lambda p: _families().NavigationTasks(radius="ab"),
     TypeError, "radius"),
    ("families.NavigationTasks goal_tolerance='a'",
     lambda p: _families().NavigationTasks(goal_tolerance="a"), ValueError, "goal_tolerance"),
    ("families.NavigationTasks seed=-1", lambda p: _families().NavigationTasks(seed=-1),
     ValueError, "seed"),
    ("families.NavigationTasks.sample k_query=0",
     lambda p: _families().NavigationTasks().sample(2, 2, 0), ValueError, "k_query"),
    ("families.NavigationTasks.check_task nan",
     lambda p: _families().NavigationTasks().check_task([math.nan, 0.0]), ValueError, "task"),
    ("families.NavigationTasks.sample_tasks num_tasks=0",
     lambda p: _families().NavigationTasks().sample_tasks(0), ValueError, "num_tasks"),
    ("families.NavigationTasks.sample_tasks rng=1.5",
     lambda p: _families().NavigationTasks().sample_tasks(2, rng=1.5), ValueError, "rng"),
    ("families.NavigationTasks.make_env num_envs=0",
     lambda p: _families().NavigationTasks().make_env(0), ValueError, "num_envs"),
    ("families.NavigationTasks.make_env num_envs=2.0",
     lambda p: _families().NavigationTasks().make_env(2.0), ValueError, "num_envs"),
    ("families.RLTaskSample.to device='bogus'",
     lambda p: _families().NavigationTasks().sample(2).to("bogus"), ValueError, "device"),
    ("envs.BatchedNavigation2D.reset seed='a'", lambda p: _nav_env().reset(seed="a"), TypeError,
     "seed"),
    ("envs.BatchedNavigation2D.reset seed=[0, -1]", lambda p: _nav_env().reset(seed=[0, -1]),
     ValueError, "seed"),
    ("envs.BatchedNavigation2D.reset seed=[0]", lambda p: _nav_env().reset(seed=[0]),
     ValueError, "num_envs=2"),
    ("envs.BatchedNavigation2D.step actions (3, 2)",
     lambda p: _nav_env().step(np.zeros((3, 2))), ValueError, "actions"),
    ("envs.BatchedNavigation2D.step actions nan",
     lambda p: _nav_env().step(np.full((2, 2), math.nan)), ValueError, "actions"),
    ("envs.BatchedNavigation2D goal_tolerance='x'",
     lambda p: _env_classes().BatchedNavigation2D(2, goal_tolerance="x"), ValueError,
     "goal_tolerance"),
    ("envs.BatchedNavigation2D.sample_tasks rng=[1.5]",
     lambda p: _nav_env().sample_tasks(2, rng=[1.5]), ValueError, "rng"),
    ("envs.BatchedNavigation2D.sample_tasks num_tasks=0", lambda p: _nav_env().sample_tasks(0),
     ValueError, "num_tasks"),
    ("envs.Navigation2D goal_tolerance='a'",
     lambda p: _env_classes().Navigation2D(goal_tolerance="a"), ValueError, "goal_tolerance"),
    ("envs.Navigation2D horizon=0", lambda p: _env_classes().Navigation2D(horizon=0),
     ValueError, "horizon"),
    ("envs.Navigation2D task (3,)", lambda p: _env_classes().Navigation2D(task=[0, 0, 0]),
     ValueError, "task"),
    ("envs.Navigation2D task str", lambda p: _env_classes().Navigation2D(task=["a", "b"]),
     TypeError, "task"),
    ("envs.Navigation2D.reset seed=-1", lambda p: _nav_single().reset(seed=-1), ValueError,
     "seed"),
    ("envs.Navigation2D.step action nan", lambda p: _nav_single().step([math.nan, 0.0]),
     ValueError, "action"),
    ("envs.Navigation2D.step action complex", lambda p: _nav_single().step(np.ones(2, complex)),
     TypeError, "action"),
    ("envs.Navigation2D.step action (3,)", lambda p: _nav_single().step(np.zeros(3)),
     ValueError, "action"),
    ("envs.Navigation2D.sample_tasks num_tasks=0", lambda p: _nav_single().sample_tasks(0),
     ValueError, "num_tasks"),
    ("envs.Navigation2D.sample_tasks rng='x'",
     lambda p: _nav_single().sample_tasks(2, rng="x"), ValueError, "rng"),
    ("envs.BernoulliBandit time_feature='no'",
     lambda p: _env_classes().BernoulliBandit(time_feature="no"), TypeError, "time_feature"),
    ("envs.BatchedBernoulliBandit resample_task_on_reset=1",
     lambda p: _env_classes().BatchedBernoulliBandit(2, resample_task_on_reset=1), TypeError,
     "resample_task_on_reset"),
    ("envs.Navigation2D resample_task_on_reset='no'",
     lambda p: _env_classes().Navigation2D(resample_task_on_reset="no"), TypeError,
     "resample_task_on_reset"),
    ("envs.BernoulliBandit k=0", lambda p: _env_classes().BernoulliBandit(k=0), ValueError,
     "k must"),
    ("envs.BernoulliBandit n=1.5", lambda p: _env_classes().BernoulliBandit(n=1.5), ValueError,
     "n must"),
    ("envs.BernoulliBandit task=2", lambda p: _env_classes().BernoulliBandit(task=[2.0] * 5),
     ValueError, "task"),
    ("envs.BernoulliBandit task nan",
     lambda p: _env_classes().BernoulliBandit(task=[math.nan] * 5), ValueError, "task"),
    ("envs.BernoulliBandit task str", lambda p: _env_classes().BernoulliBandit(task=["a"] * 5),
     TypeError, "task"),
    ("envs.BernoulliBandit.reset seed='a'", lambda p: _bandit_single().reset(seed="a"),
     ValueError, "seed"),
    ("envs.BernoulliBandit.reset options task (1,)",
     lambda p: _bandit_single().reset(options={"task": [0.1]}), ValueError, "task"),
    ("envs.BernoulliBandit.step action=2.5", lambda p: _bandit_single().step(2.5), TypeError,
     "action"),
    ("envs.BernoulliBandit.step action=7", lambda p: _bandit_single().step(7), ValueError,
     "action"),
    ("envs.BernoulliBandit.sample_tasks rng='x'",
     lambda p: _bandit_single().sample_tasks(2, rng="x"), ValueError, "rng"),
    ("envs.BernoulliBandit.sample_tasks num_tasks=0",
     lambda p: _bandit_single().sample_tasks(0), ValueError, "num_tasks"),
    ("envs.BatchedBernoulliBandit num_envs=0",
     lambda p: _env_classes().BatchedBernoulliBandit(0), ValueError, "num_envs"),
    ("envs.BatchedBernoulliBandit k=-1", lambda p: _env_classes().BatchedBernoulliBandit(2, k=-1),
     ValueError, "k must"),
    ("envs.BatchedBernoulliBandit.reset seed=-1", lambda p: _bandits().reset(seed=-1),
     ValueError, "seed"),
    ("envs.BatchedBernoulliBandit.reset options task (3,)",
     lambda p: _bandits().reset(options={"task": np.zeros(3)}), ValueError, "task"),
    ("envs.BatchedBernoulliBandit.step actions float", lambda p: _bandits().step(np.zeros(2)),
     TypeError, "actions"),
    ("envs.BatchedBernoulliBandit.step actions (3,)",
     lambda p: _bandits().step(np.zeros(3, int)), ValueError, "actions"),
    ("envs.BatchedBernoulliBandit.step actions=[5, 0]",
     lambda p: _bandits().step(np.array([5, 0])), ValueError, "actions"),
    ("envs.BatchedBernoulliBandit.sample_tasks rng=-1",
     lambda p: _bandits().sample_tasks(2, rng=-1), ValueError, "rng"),
    ("envs.sample_arm_probabilities rng='x'",
     lambda p: _env_classes().sample_arm_probabilities(2, 3, rng="x"), ValueError, "rng"),
    ("envs.sample_arm_probabilities k=0",
     lambda p: _env_classes().sample_arm_probabilities(2, 0), ValueError, "k must"),
    ("envs.sample_arm_probabilities num_tasks=-1",
     lambda p: _env_classes().sample_arm_probabilities(-1, 3), ValueError, "num_tasks"),
    # ------------------------------------------------------------ bandit baselines
    ("bandit_baselines.argmax_random_ties scores (3,)",
     lambda p: bb.argmax_random_ties(np.zeros(3), RNG), ValueError, "scores"),
    ("bandit_baselines.argmax_random_ties scores nan",
     lambda p: bb.argmax_random_ties(np.full((2, 3), math.nan), RNG), ValueError, "scores"),
    ("bandit_baselines.argmax_random_ties scores str",
     lambda p: bb.argmax_random_ties([["a", "b"]], RNG), TypeError, "scores"),
    ("bandit_baselines.argmax_random_ties rng='x'",
     lambda p: bb.argmax_random_ties(C0, "x"), ValueError, "rng"),
    ("bandit_baselines.select_random rng='x'", lambda p: _stats(bb.select_random, rng="x"),
     ValueError, "rng"),
    ("bandit_baselines.select_random successes (2, 2)",
     lambda p: _stats(bb.select_random, successes=np.zeros((2, 2))), ValueError, "successes"),
    ("bandit_baselines.select_ucb1 t=-1", lambda p: _stats(bb.select_ucb1, t=-1), ValueError,
     "t must"),
    ("bandit_baselines.select_ucb1 c=nan", lambda p: _stats(bb.select_ucb1, c=math.nan),
     ValueError, "c must"),
    ("bandit_baselines.select_thompson counts<0",
     lambda p: _stats(bb.select_thompson, counts=-np.ones((2, 3))), ValueError, "counts"),
    ("bandit_baselines.select_greedy counts (3,)",
     lambda p: _stats(bb.select_greedy, counts=np.zeros(3)), ValueError, "counts"),
    ("bandit_baselines.select_greedy t='a'", lambda p: _stats(bb.select_greedy, t="a"),
     ValueError, "t must"),
    ("bandit_baselines.select_ucb_mean c=-1", lambda p: _stats(bb.select_ucb_mean, c=-1.0),
     ValueError, "c must"),
    ("bandit_baselines.select_ucb_mean counts str",
     lambda p: _stats(bb.select_ucb_mean, counts=np.full((2, 3), "1")), TypeError, "counts"),
    ("bandit_baselines.select_gittins counts nan",
     lambda p: _stats(bb.select_gittins, counts=np.full((2, 3), math.nan)), ValueError,
     "counts"),
    ("bandit_baselines.select_gittins successes>counts",
     lambda p: _stats(bb.select_gittins, successes=np.ones((2, 3))), ValueError, "successes"),
    ("bandit_baselines.select_gittins discount=1",
     lambda p: _stats(bb.select_gittins, discount=1.0), ValueError, "discount"),
    ("bandit_baselines.select_fh_gittins n=0", lambda p: _stats(bb.select_fh_gittins, n=0),
     ValueError, "n must"),
    ("bandit_baselines.select_fh_gittins counts=0.5",
     lambda p: _stats(bb.select_fh_gittins, counts=np.full((2, 3), 0.5), n=5), ValueError,
     "counts"),
    ("bandit_baselines.select_bayes_optimal t=n", lambda p: _stats(bb.select_bayes_optimal,
                                                                   t=5, n=5),
     ValueError, "t must"),
    ("bandit_baselines.select_bayes_optimal counts list str",
     lambda p: _stats(bb.select_bayes_optimal, counts=[["x"] * 3] * 2, n=5), TypeError,
     "counts"),
    ("bandit_baselines.bayes_optimal_policy t='a'",
     lambda p: _stats(bb.bayes_optimal_policy, t="a", n=5), ValueError, "t must"),
    ("bandit_baselines.gittins_index a=0", lambda p: bb.gittins_index(0, 1, 0.9), ValueError,
     "a must"),
    ("bandit_baselines.gittins_index discount=1 horizon=None",
     lambda p: bb.gittins_index(1, 1, 1.0), ValueError, "discount"),
    ("bandit_baselines.gittins_index tol=0", lambda p: bb.gittins_index(1, 1, 0.9, tol=0.0),
     ValueError, "tol"),
    ("bandit_baselines.gittins_index_table max_pulls=-1",
     lambda p: bb.gittins_index_table(-1), ValueError, "max_pulls"),
    ("bandit_baselines.gittins_index_table horizon=0",
     lambda p: bb.gittins_index_table(3, 1.0, horizon=0), ValueError, "horizon"),
    ("bandit_baselines.bayes_optimal_value k=0", lambda p: bb.bayes_optimal_value(5, 0),
     ValueError, "k must"),
    ("bandit_baselines.bayes_optimal_value max_states=10",  # a DP no other test solves
     lambda p: bb.bayes_optimal_value(9, 7, max_states=10), ValueError, "max_states"),
    ("bandit_baselines.baseline_rewards num_instances=0",
     lambda p: bb.baseline_rewards("random", 5, 10, 0, 0), ValueError, "num_instances"),
    ("bandit_baselines.baseline_rewards seed=None",
     lambda p: bb.baseline_rewards("random", 5, 10, 2, None), ValueError, "seed"),
    ("bandit_baselines.baseline_rewards policy_name=['ucb1']",
     lambda p: bb.baseline_rewards(["ucb1"], 5, 10, 2, 0), ValueError, "policy_name"),
    ("bandit_baselines.baseline_rewards ucb_c=True",
     lambda p: bb.baseline_rewards("ucb1", 5, 10, 2, 0, ucb_c=True), ValueError, "ucb_c"),
    ("bandit_baselines.best_arm_means num_instances=0",
     lambda p: bb.best_arm_means(5, 10, 0, 0), ValueError, "num_instances"),
    ("bandit_baselines.best_arm_means seed=-1", lambda p: bb.best_arm_means(5, 10, 2, -1),
     ValueError, "seed"),
    ("bandit_baselines.run_bandit_baseline k='a'",
     lambda p: bb.run_bandit_baseline("random", "a", 10, 2, 0), ValueError, "k must"),
    ("bandit_baselines.run_bandit_baseline n=0",
     lambda p: bb.run_bandit_baseline("random", 5, 0, 2, 0), ValueError, "n must"),
    # ------------------------------------------------------------ Meta-World
    ("metaworld.MetaWorldEnv name='reach-v2'", lambda p: _mw().MetaWorldEnv("reach-v2"),
     ValueError, "name"),
    ("metaworld.MetaWorldEnv horizon=501", lambda p: _mw().MetaWorldEnv(horizon=501),
     ValueError, "horizon"),
    ("metaworld.MetaWorldEnv reward_scale=0", lambda p: _mw().MetaWorldEnv(reward_scale=0),
     ValueError, "reward_scale"),
    ("metaworld.MetaWorldEnv render_mode='human'",
     lambda p: _mw().MetaWorldEnv(render_mode="human"), ValueError, "render_mode"),
    ("metaworld.MetaWorldEnv task (5,)", lambda p: _mw().MetaWorldEnv(task=np.zeros(5)),
     ValueError, "task"),
    ("metaworld.MetaWorldEnv.set_task not in benchmark",
     lambda p: _mw_env().set_task(np.zeros(6)), ValueError, "task"),
    ("metaworld.MetaWorldEnv.set_task str", lambda p: _mw_env().set_task("abc"), ValueError,
     "task"),
    ("metaworld.MetaWorldEnv.reset seed=-1", lambda p: _mw_env().reset(seed=-1), ValueError,
     "seed"),
    ("metaworld.MetaWorldEnv.reset seed=1.5", lambda p: _mw_env().reset(seed=1.5), ValueError,
     "seed"),
    ("metaworld.MetaWorldEnv.reset options=[1]", lambda p: _mw_env().reset(options=[1]),
     TypeError, "options"),
    ("metaworld.MetaWorldEnv.step action (3,)", lambda p: _mw_env().step(np.zeros(3)),
     ValueError, "action"),
    ("metaworld.MetaWorldEnv.step action str", lambda p: _mw_env().step("abcd"), TypeError,
     "action"),
    ("metaworld.MetaWorldEnv.step action complex",
     lambda p: _mw_env().step(np.ones(4, complex)), TypeError, "action"),
    ("metaworld.MetaWorldEnv.step action nan", lambda p: _mw_env().step(np.full(4, math.nan)),
     ValueError, "action"),
    ("metaworld.BatchedMetaWorld num_envs=0", lambda p: _mw().BatchedMetaWorld(0), ValueError,
     "num_envs"),
    ("metaworld.BatchedMetaWorld envs=[1, 2]", lambda p: _mw().BatchedMetaWorld(2, envs=[1, 2]),
     TypeError, "envs"),
    ("metaworld.BatchedMetaWorld envs too few",
     lambda p: _mw().BatchedMetaWorld(2, envs=[_mw_short_env()], horizon=10), ValueError,
     "envs"),
    ("metaworld.BatchedMetaWorld envs of another horizon",
     lambda p: _mw().BatchedMetaWorld(1, envs=[_mw_short_env()]), ValueError, "envs[0]"),
    ("metaworld.BatchedMetaWorld.set_task None", lambda p: _mw_batch().set_task(None),
     ValueError, "tasks"),
    ("metaworld.BatchedMetaWorld.set_task (3, 6)",
     lambda p: _mw_batch().set_task(np.zeros((3, 6))), ValueError, "task"),
    ("metaworld.BatchedMetaWorld.reset seed='a'", lambda p: _mw_batch().reset(seed="a"),
     TypeError, "seed"),
    ("metaworld.BatchedMetaWorld.reset options={'goal': 1}",
     lambda p: _mw_batch().reset(options={"goal": 1}), ValueError, "options"),
    ("metaworld.BatchedMetaWorld.step actions (2, 3)",
     lambda p: _mw_batch().step(np.zeros((2, 3))), ValueError, "actions"),
    ("metaworld.BatchedMetaWorld.step actions nan",
     lambda p: _mw_batch().step(np.full((2, 4), math.nan)), ValueError, "actions"),
    ("metaworld.BatchedMetaWorld.step actions str", lambda p: _mw_batch().step("ab"),
     TypeError, "actions"),
    ("metaworld.MetaWorldTasks split='val'", lambda p: _mw().MetaWorldTasks(split="val"),
     ValueError, "split"),
    ("metaworld.MetaWorldTasks horizon=501", lambda p: _mw().MetaWorldTasks(horizon=501),
     ValueError, "horizon"),
    ("metaworld.MetaWorldTasks task_indices=[50]",
     lambda p: _mw().MetaWorldTasks(task_indices=[50]), ValueError, "task_indices"),
    ("metaworld.MetaWorldTasks task_indices='ab'",
     lambda p: _mw().MetaWorldTasks(task_indices="ab"), TypeError, "task_indices"),
    ("metaworld.MetaWorldTasks task_indices=[0, -1]",
     lambda p: _mw().MetaWorldTasks(task_indices=[0, -1]), ValueError, "task_indices[1]"),
    ("metaworld.MetaWorldTasks.with_split 'val'", lambda p: _mw_family().with_split("val"),
     ValueError, "split"),
    ("metaworld.MetaWorldTasks.tasks split=0", lambda p: _mw_family().tasks(0), ValueError,
     "split"),
    ("metaworld.MetaWorldTasks.tasks split='val'", lambda p: _mw_family().tasks("val"),
     ValueError, "split"),
    ("metaworld.MetaWorldTasks.goals split=''", lambda p: _mw_family().goals(""), ValueError,
     "split"),
    ("metaworld.MetaWorldTasks.sample_tasks num_tasks=0",
     lambda p: _mw_family().sample_tasks(0), ValueError, "num_tasks"),
    ("metaworld.MetaWorldTasks.sample_tasks rng='x'",
     lambda p: _mw_family().sample_tasks(2, rng="x"), ValueError, "rng"),
    ("metaworld.MetaWorldTasks.sample k_support=0", lambda p: _mw_family().sample(2, 0),
     ValueError, "k_support"),
    ("metaworld.MetaWorldTasks.check_task nan",
     lambda p: _mw_family().check_task(np.full(6, math.nan)), ValueError, "task"),
    ("metaworld.MetaWorldTasks.split_of not in benchmark",
     lambda p: _mw_family().split_of(np.zeros(6)), ValueError, "task"),
    ("metaworld.MetaWorldTasks.task_object (5,)",
     lambda p: _mw_family().task_object(np.zeros(5)), ValueError, "task"),
    ("metaworld.MetaWorldTasks.make_env num_envs=0", lambda p: _mw_family().make_env(0),
     ValueError, "num_envs"),
    ("metaworld.episode_successes num_episodes=0", lambda p: _successes(k=0), ValueError,
     "num_episodes"),
    ("metaworld.episode_successes valid (2, 2)",
     lambda p: _successes(valid=np.ones((2, 2), bool)), ValueError, "valid"),
    ("metaworld.episode_successes success_rows nan",
     lambda p: _successes(rows=np.full((3, 2), math.nan)), ValueError, "success_rows"),
    ("metaworld.episode_successes valid=2", lambda p: _successes(valid=np.full((3, 2), 2)),
     ValueError, "valid"),
    ("metaworld.episode_successes dones str",
     lambda p: _successes(dones=np.full((3, 2), "x")), TypeError, "dones"),
    ("metaworld.render_frame task not in benchmark",
     lambda p: _mw().render_frame(np.zeros(6)), ValueError, "task"),
    ("metaworld.render_frame name='x'", lambda p: _mw().render_frame(_task(), name="x"),
     ValueError, "name"),
    ("metaworld.render_frame actions (2, 3)",
     lambda p: _mw().render_frame(_task(), actions=np.zeros((2, 3))), ValueError, "actions"),
    ("metaworld.render_frame actions (501, 4)",
     lambda p: _mw().render_frame(_task(), actions=np.zeros((501, 4))), ValueError, "actions"),
    ("metaworld.render_frame benchmark_seed=-1",
     lambda p: _mw().render_frame(_task(), benchmark_seed=-1), ValueError, "benchmark_seed"),
]

EXEMPT = {
    "ssm_metarl.envs.families.RLTaskSample":
        "a record that the task families build and return from sample() (its fields are "
        "checked there); its method to() has its own case",
    "ssm_metarl.envs.metaworld.metaworld_available": "takes no argument: reports whether "
                                                    "import metaworld works",
    "ssm_metarl.envs.metaworld.require_metaworld": "takes no argument: returns the metaworld "
                                                  "module or an ImportError",
    "ssm_metarl.envs.metaworld.MetaWorldEnv.render": "takes no argument (render_mode is "
                                                    "checked by the constructor)",
    "ssm_metarl.envs.metaworld.MetaWorldEnv.close": "takes no argument: closes the simulation",
    "ssm_metarl.envs.metaworld.BatchedMetaWorld.close_extras":
        "gymnasium's close hook: no argument of its own (its keywords are ignored)",
}

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_envs_still_run():
    rng = np.random.default_rng(0)
    # scores may hold inf (UCB1's unpulled arms); lists and seeds are accepted
    assert bb.argmax_random_ties([[1.0, math.inf]], 0).tolist() == [1]
    assert bb.argmax_random_ties(np.array([[-math.inf, -math.inf]]), rng).shape == (1,)
    counts, successes = np.array([[2.0, 1.0, 0.0]]), np.array([[1.0, 1.0, 0.0]])
    for select in (bb.select_random, bb.select_ucb1, bb.select_thompson, bb.select_greedy,
                   bb.select_ucb_mean, bb.select_gittins):
        assert select(counts, successes, np.int64(3), rng).shape == (1,)
    assert bb.select_ucb1(counts.astype(int), successes.astype(int), 3, rng, c=0).shape == (1,)
    assert bb.select_fh_gittins(counts, successes, 3, rng, n=np.int64(5)).shape == (1,)
    assert bb.select_bayes_optimal(counts, successes, 3, rng, n=5).shape == (1,)
    assert bb.select_thompson(torch.ones(1, 3), torch.zeros(1, 3), 3, rng).shape == (1,)
    assert bb.baseline_rewards("ucb1", 3, 4, 2, np.int64(1), ucb_c=np.float32(0.5)).shape == (2, 4)
    assert bb.best_arm_means(3, 4, np.int64(2), 0).shape == (2,)
    np.testing.assert_array_equal(bb.run_bandit_baseline("fh_gittins", 3, 4, 2, 1),
                                  bb.run_bandit_baseline("fh_gittins", 3, 4, 2, 1))
    sample = _families().NavigationTasks().sample(2)
    assert sample.to("cpu") is sample and sample.to(torch.device("cpu")) is sample
    assert sample.to(None) is sample
    assert _nav_single().reset(seed=np.int64(3))[0].shape == (2,)
    assert _bandit_single().reset(seed=None)[0].shape == (8,)
    envs = _env_classes()
    assert envs.Navigation2D(goal_tolerance=np.float32(0.5), task=np.array([0, 1])).task.tolist() \
        == [0.0, 1.0]
    assert envs.BatchedNavigation2D(2, goal_tolerance=1).goal_tolerance == 1.0
    assert envs.BernoulliBandit(k=2, task=torch.tensor([0.0, 1.0])).task.tolist() == [0.0, 1.0]
    assert envs.sample_arm_probabilities(2, 3, rng=np.int64(4)).shape == (2, 3)
    # Meta-World: numpy seeds, torch and int actions (clipped), numpy task indices
    mw, env = _mw(), _mw_env()
    assert env.reset(seed=np.int64(3))[0].shape == (39,)
    env.step(torch.zeros(4, dtype=torch.float64))
    env.step(np.array([2, -3, 0, 1]))
    family = _mw_family()
    assert family.tasks(None).shape == (50, 6) and family.goals().shape == (50, 3)
    assert mw.MetaWorldTasks(task_indices=np.array([0, 3])).task_indices == (0, 3)
    batch = family.make_env(2)
    batch.set_task(family.tasks()[:2])
    batch.reset(seed=0)
    assert batch.step(torch.zeros(2, 4))[0].shape == (2, 39)
    rows, valid, dones = np.zeros((3, 2)), np.ones((3, 2)), np.array([[0, 0], [1, 0], [0, 1]])
    assert mw.episode_successes(rows, valid, dones, 2).shape == (2, 2)
    assert mw.episode_successes(torch.ones(3, 2), torch.ones(3, 2, dtype=torch.bool),
                                torch.zeros(3, 2, dtype=torch.bool), 1).tolist() == [[1], [1]]
