"""Bad inputs of meta_rl (RL², MAML-RL, online adaptation): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _evaluate, _FakeEnv, _families, _meta, _mlp, _t, table_tests

from ssm_metarl import meta_rl, policies, rl

EXEMPT = {
    "ssm_metarl.meta_rl.MAMLStep": "record that maml_rl_step builds and returns (checked there)",
    "ssm_metarl.meta_rl.OnlineRun": "record that adapt_online builds and returns (checked there)",
    "ssm_metarl.meta_rl.TrialRun": "record that adapt_within_trial builds and returns (checked "
                                   "there)",
}


def _nav_mlp():
    return policies.MLPPolicy(2, 2, (8,))


def _nav_meta():
    return _meta(discrete=False)


def _bandit_meta():
    """An RL² bandit policy for k = 5 arms with the time feature (obs k + 3)."""
    return policies.SSMMetaPolicy(8, 5, hidden_dim=8, ssm_state_dim=4, rl2_inputs=False)


def _rollout(policy=None, steps=3):
    from ssm_metarl.envs import BatchedNavigation2D

    policy = _nav_mlp() if policy is None else policy
    return rl.collect_rollouts(BatchedNavigation2D(2, horizon=steps), policy, steps, seed=0)


def _own(policy):
    return dict(policy.named_parameters())


def _adapt(**over):
    policy = _nav_mlp()
    args = {"policy": policy, "params": _own(policy), "rollout": _rollout(policy),
            "advantages": _t(3, 2), "mask": torch.ones(3, 2, dtype=torch.bool),
            "step_size": 0.1, "create_graph": False}
    args.update(over)
    return meta_rl.adapt_policy(**args)


def _surrogate(**over):
    policy = _nav_mlp()
    args = {"policy": policy, "params": _own(policy), "rollout": _rollout(policy),
            "advantages": _t(3, 2), "mask": torch.ones(3, 2, dtype=torch.bool)}
    args.update(over)
    return meta_rl.surrogate_loss(**args)


def _online(**over):
    args = {"policy": _nav_mlp(), "params": None, "goals": np.zeros((2, 2, 2)),
            "step_sizes": [0.1], "family": _families().NavigationTasks(horizon=3),
            "trajectories_per_task": 2}
    args.update(over)
    return meta_rl.adapt_online(**args)


def _trial(**over):
    args = {"policy": _nav_mlp(), "params": None, "goals": np.zeros((2, 2)),
            "family": _families().NavigationTasks(horizon=3), "trajectories_per_task": 2}
    args.update(over)
    return meta_rl.adapt_within_trial(**args)


def _bandit(fn=meta_rl.evaluate_rl2, **over):
    args = {"policy": _bandit_meta(), "k": 5, "n": 3, "num_instances": 2, "seed": 0}
    args.update(over)
    return fn(**args)


def _rl2_nav(**over):
    args = {"policy": _nav_meta(), "goals": np.zeros((2, 2)), "episodes_per_trial": 2,
            "seed": 0, "horizon": 3}
    args.update(over)
    return meta_rl.evaluate_rl2_navigation(**args)


def _save(p, policy=None, config=None, name="policy.pt"):
    config = meta_rl.MAMLRLConfig(hidden_sizes=(8,)) if config is None else config
    meta_rl.save_maml_rl_policy(_nav_mlp() if policy is None else policy, config, p / name)
    return p / name


CASES = [
    ("meta_rl.evaluate_maml_rl params missing keys",
     lambda p: _evaluate(params={"log_std": torch.zeros(2)}), ValueError, "net.0.weight"),
    ("meta_rl.evaluate_maml_rl params=list", lambda p: _evaluate(params=[1]), TypeError,
     "params"),
    ("meta_rl.evaluate_maml_rl trajectories_per_task=0",
     lambda p: _evaluate(trajectories_per_task=0), ValueError, "trajectories_per_task"),
    ("meta_rl.evaluate_maml_rl goals nan", lambda p: _evaluate(goals=np.full((2, 2), math.nan)),
     ValueError, "goals"),
    ("meta_rl.evaluate_maml_rl per-round goals nan",
     lambda p: _evaluate(goals=np.full((2, 2, 2), math.nan)), ValueError, "goals"),
    ("meta_rl.evaluate_maml_rl step_sizes=['a']", lambda p: _evaluate(step_sizes=["a"]),
     ValueError, "step_sizes"),
    ("meta_rl.evaluate_maml_rl step_sizes=0.1", lambda p: _evaluate(step_sizes=0.1),
     TypeError, "step_sizes"),
    ("meta_rl.navigation_oracle_returns goals nan",
     lambda p: meta_rl.navigation_oracle_returns(np.full((2, 2), math.nan)), ValueError, "goals"),
    ("meta_rl.policy_gradient_advantages num_tasks=0",
     lambda p: meta_rl.policy_gradient_advantages(
         rl.collect_rollouts(_FakeEnv(), _mlp(), 2), 0, 0.99), ValueError, "num_tasks"),
    ("meta_rl.policy_gradient_advantages rollout=dict",
     lambda p: meta_rl.policy_gradient_advantages({}, 1, 0.99), TypeError, "rollout"),
    ("meta_rl.policy_gradient_advantages baseline_reg=-1",
     lambda p: meta_rl.policy_gradient_advantages(_rollout(), 1, 0.99, -1.0), ValueError,
     "baseline_reg"),
    ("meta_rl.MAMLRLConfig outer=sgd", lambda p: meta_rl.MAMLRLConfig(outer="sgd"), ValueError,
     "outer"),
    ("meta_rl.MAMLRLConfig gamma='0.99'", lambda p: meta_rl.MAMLRLConfig(gamma="0.99"),
     ValueError, "gamma"),
    ("meta_rl.MAMLRLConfig clip=nan", lambda p: meta_rl.MAMLRLConfig(clip=math.nan), ValueError,
     "clip"),
    ("meta_rl.MAMLRLConfig hidden_sizes=100", lambda p: meta_rl.MAMLRLConfig(hidden_sizes=100),
     TypeError, "hidden_sizes"),
    ("meta_rl.MAMLRLConfig hidden_sizes=(0,)",
     lambda p: meta_rl.MAMLRLConfig(hidden_sizes=(0,)), ValueError, "hidden_sizes[0]"),
    ("meta_rl.MAMLRLConfig baseline_reg=nan",
     lambda p: meta_rl.MAMLRLConfig(baseline_reg=math.nan), ValueError, "baseline_reg"),
    ("meta_rl.MAMLRLConfig goal_tolerance=-1",
     lambda p: meta_rl.MAMLRLConfig(goal_tolerance=-1.0), ValueError, "goal_tolerance"),
    ("meta_rl.MAMLRLConfig seed=-1", lambda p: meta_rl.MAMLRLConfig(seed=-1), ValueError, "seed"),
    ("meta_rl.PolicyMAMLConfig trpo=1", lambda p: meta_rl.PolicyMAMLConfig(trpo=1), TypeError,
     "trpo"),
    ("meta_rl.PolicyMAMLConfig clip='0.2'", lambda p: meta_rl.PolicyMAMLConfig(clip="0.2"),
     ValueError, "clip"),
    ("meta_rl.PolicyMAMLConfig seed=1.5", lambda p: meta_rl.PolicyMAMLConfig(seed=1.5),
     ValueError, "seed"),
    ("meta_rl.RL2Config gamma='0.99'", lambda p: meta_rl.RL2Config(gamma="0.99"), ValueError,
     "gamma"),
    ("meta_rl.RL2Config gae_lambda=2", lambda p: meta_rl.RL2Config(gae_lambda=2), ValueError,
     "gae_lambda"),
    ("meta_rl.RL2Config clip=None", lambda p: meta_rl.RL2Config(clip=None), ValueError, "clip"),
    ("meta_rl.RL2Config entropy_coef=nan", lambda p: meta_rl.RL2Config(entropy_coef=math.nan),
     ValueError, "entropy_coef"),
    ("meta_rl.RL2Config value_coef='0.5'", lambda p: meta_rl.RL2Config(value_coef="0.5"),
     ValueError, "value_coef"),
    ("meta_rl.RL2Config rl2_inputs='yes'", lambda p: meta_rl.RL2Config(rl2_inputs="yes"),
     TypeError, "rl2_inputs"),
    ("meta_rl.RL2Config seed=-1", lambda p: meta_rl.RL2Config(seed=-1), ValueError, "seed"),
    ("meta_rl.RL2Config hidden_dim=0", lambda p: meta_rl.RL2Config(hidden_dim=0), ValueError,
     "hidden_dim"),
    ("meta_rl.maml_rl_step config=1",
     lambda p: meta_rl.maml_rl_step(_mlp(), {}, None, _families().NavigationTasks().sample(2), 1,
                                    np.random.default_rng(0), 0), TypeError, "config"),
    ("meta_rl.maml_rl_step batch=goals",
     lambda p: meta_rl.maml_rl_step(_mlp(), {}, None, np.zeros((2, 2)),
                                    meta_rl.PolicyMAMLConfig(), np.random.default_rng(0), 0),
     TypeError, "batch"),
    ("meta_rl.train_maml_rl on_iteration=1",
     lambda p: meta_rl.train_maml_rl(_mlp(), meta_rl.MAMLRLConfig(num_meta_iterations=1),
                                     progress=False, on_iteration=1), TypeError, "on_iteration"),
    ("meta_rl.train_maml_rl config=dict",
     lambda p: meta_rl.train_maml_rl(_nav_mlp(), {"num_meta_iterations": 1}, progress=False),
     TypeError, "config"),
    ("meta_rl.train_maml_rl policy obs_dim=3 on navigation",
     lambda p: meta_rl.train_maml_rl(_mlp(), meta_rl.MAMLRLConfig(num_meta_iterations=1),
                                     progress=False), ValueError, "policy"),
    ("meta_rl.train_pretrained on_iteration='every 10'",
     lambda p: meta_rl.train_pretrained(_mlp(), progress=False, on_iteration="every 10"),
     TypeError, "on_iteration"),
    ("meta_rl.train_pretrained policy=Linear",
     lambda p: meta_rl.train_pretrained(torch.nn.Linear(2, 2), progress=False), TypeError,
     "policy"),
    ("meta_rl.train_rl2 on_iteration=[]",
     lambda p: meta_rl.train_rl2(_meta(), progress=False, on_iteration=[]), TypeError,
     "on_iteration"),
    ("meta_rl.train_rl2 config=MAMLRLConfig",
     lambda p: meta_rl.train_rl2(_meta(), meta_rl.MAMLRLConfig(), progress=False), TypeError,
     "config"),
    ("meta_rl.make_maml_rl_policy config=dict",
     lambda p: meta_rl.make_maml_rl_policy({"seed": 0}), TypeError, "config"),
    ("meta_rl.make_rl2_policy config=MAMLRLConfig",
     lambda p: meta_rl.make_rl2_policy(meta_rl.MAMLRLConfig()), TypeError, "config"),
    ("meta_rl.trial_length config=None", lambda p: meta_rl.trial_length(None), TypeError,
     "config"),
    ("meta_rl.rollout_length horizon=0", lambda p: meta_rl.rollout_length(0), ValueError,
     "horizon"),
    ("meta_rl.rollout_length episodes_per_trial='2'",
     lambda p: meta_rl.rollout_length(100, "2"), ValueError, "episodes_per_trial"),
    ("meta_rl.paper_step_sizes inner_lr='0.1'", lambda p: meta_rl.paper_step_sizes("0.1", 2),
     ValueError, "inner_lr"),
    ("meta_rl.paper_step_sizes steps=-1", lambda p: meta_rl.paper_step_sizes(0.1, -1),
     ValueError, "steps"),
    ("meta_rl.goal_array words", lambda p: meta_rl.goal_array(["north", "south"]), ValueError,
     "goals"),
    ("meta_rl.goal_array ragged, named", lambda p: meta_rl.goal_array([[0.0], [1, 2]],
                                                                       "jump_goals"),
     ValueError, "jump_goals"),
    ("meta_rl.actor_names params=list", lambda p: meta_rl.actor_names([torch.zeros(2)]),
     TypeError, "params"),
    ("meta_rl.check_param_names unknown name",
     lambda p: meta_rl.check_param_names(["net.9.weight"], _own(_mlp())), ValueError, "names"),
    ("meta_rl.check_param_names names='log_std'",
     lambda p: meta_rl.check_param_names("log_std", _own(_mlp())), TypeError, "names"),
    ("meta_rl.check_param_names params=list",
     lambda p: meta_rl.check_param_names(["log_std"], ["log_std"]), TypeError, "params"),
    ("meta_rl.policy_distribution rollout=None",
     lambda p: meta_rl.policy_distribution(_nav_mlp(), None, None), TypeError, "rollout"),
    ("meta_rl.policy_distribution policy=Linear",
     lambda p: meta_rl.policy_distribution(torch.nn.Linear(2, 2), None, _rollout()), TypeError,
     "policy"),
    ("meta_rl.policy_distribution recurrent policy, feed-forward rollout",
     lambda p: meta_rl.policy_distribution(_nav_meta(), None, _rollout()), ValueError, "inputs"),
    ("meta_rl.policy_distribution params list",
     lambda p: meta_rl.policy_distribution(_nav_mlp(), [1], _rollout()), TypeError, "params"),
    ("meta_rl.policy_log_probs rollout=dict",
     lambda p: meta_rl.policy_log_probs(_nav_mlp(), None, {"obs": _t(3, 2, 2)}), TypeError,
     "rollout"),
    ("meta_rl.policy_log_probs params missing",
     lambda p: meta_rl.policy_log_probs(_nav_mlp(), {"log_std": _t(2)}, _rollout()), ValueError,
     "params"),
    ("meta_rl.surrogate_loss advantages numpy",
     lambda p: _surrogate(advantages=np.zeros((3, 2))), TypeError, "advantages"),
    ("meta_rl.surrogate_loss advantages shape", lambda p: _surrogate(advantages=_t(3, 4)),
     ValueError, "advantages"),
    ("meta_rl.surrogate_loss mask float", lambda p: _surrogate(mask=_t(3, 2)), TypeError,
     "mask"),
    ("meta_rl.surrogate_loss clip=2", lambda p: _surrogate(clip=2.0), ValueError, "clip"),
    ("meta_rl.adapt_policy params=None", lambda p: _adapt(params=None), TypeError, "params"),
    ("meta_rl.adapt_policy params missing", lambda p: _adapt(params={"log_std": _t(2)}),
     ValueError, "params"),
    ("meta_rl.adapt_policy rollout=dict", lambda p: _adapt(rollout={}), TypeError, "rollout"),
    ("meta_rl.adapt_policy step_size=nan", lambda p: _adapt(step_size=math.nan), ValueError,
     "step_size"),
    ("meta_rl.adapt_policy advantages shape", lambda p: _adapt(advantages=_t(2, 3)), ValueError,
     "advantages"),
    ("meta_rl.adapt_policy names unknown", lambda p: _adapt(names=["net.7.bias"]), ValueError,
     "names"),
    ("meta_rl.adapt_policy engine='jax'", lambda p: _adapt(engine="jax"), ValueError, "engine"),
    ("meta_rl.adapt_policy policy=0", lambda p: _adapt(policy=0), TypeError, "policy"),
    ("meta_rl.adapt_online step_sizes=0.1", lambda p: _online(step_sizes=0.1), TypeError,
     "step_sizes"),
    ("meta_rl.adapt_online step_sizes nan", lambda p: _online(step_sizes=[math.nan]),
     ValueError, "step_sizes"),
    ("meta_rl.adapt_online step_sizes too many", lambda p: _online(step_sizes=[0.1, 0.1]),
     ValueError, "step_sizes"),
    ("meta_rl.adapt_online family=object", lambda p: _online(family=object()), TypeError,
     "family"),
    ("meta_rl.adapt_online baseline_reg=-1", lambda p: _online(baseline_reg=-1.0), ValueError,
     "baseline_reg"),
    ("meta_rl.adapt_online gamma='0.9'", lambda p: _online(gamma="0.9"), ValueError, "gamma"),
    ("meta_rl.adapt_online names='log_std'", lambda p: _online(names="log_std"), TypeError,
     "names"),
    ("meta_rl.adapt_online inner_steps=0", lambda p: _online(inner_steps=0), ValueError,
     "inner_steps"),
    ("meta_rl.adapt_online goals (G, 2)", lambda p: _online(goals=np.zeros((2, 2))), ValueError,
     "goals"),
    ("meta_rl.adapt_online policy=None", lambda p: _online(policy=None), TypeError, "policy"),
    ("meta_rl.adapt_within_trial family=None", lambda p: _trial(family=None), TypeError,
     "family"),
    ("meta_rl.adapt_within_trial gamma=2", lambda p: _trial(gamma=2.0), ValueError, "gamma"),
    ("meta_rl.adapt_within_trial baseline_reg=nan", lambda p: _trial(baseline_reg=math.nan),
     ValueError, "baseline_reg"),
    ("meta_rl.adapt_within_trial goals nan", lambda p: _trial(goals=np.full((2, 2), math.nan)),
     ValueError, "goals"),
    ("meta_rl.adapt_within_trial every_steps=0", lambda p: _trial(every_steps=0), ValueError,
     "every_steps"),
    ("meta_rl.adapt_within_trial params list", lambda p: _trial(params=[1]), TypeError,
     "params"),
    ("meta_rl.trial_advantages feed-forward rollout",
     lambda p: meta_rl.trial_advantages(_rollout(), 0.9, 0.9), ValueError, "values"),
    ("meta_rl.trial_advantages rollout=dict", lambda p: meta_rl.trial_advantages({}, 0.9, 0.9),
     TypeError, "rollout"),
    ("meta_rl.trial_advantages lam=2",
     lambda p: meta_rl.trial_advantages(_rollout(_nav_meta()), 0.9, 2.0), ValueError, "lam"),
    ("meta_rl.evaluate_rl2 policy=MLPPolicy", lambda p: _bandit(policy=_mlp()), TypeError,
     "policy"),
    ("meta_rl.evaluate_rl2 seed=-1", lambda p: _bandit(seed=-1), ValueError, "seed"),
    ("meta_rl.evaluate_rl2 num_instances=0", lambda p: _bandit(num_instances=0), ValueError,
     "num_instances"),
    ("meta_rl.rl2_bandit_rewards k=4 for a 5-arm policy",
     lambda p: _bandit(meta_rl.rl2_bandit_rewards, k=4), ValueError, "k=4"),
    ("meta_rl.rl2_bandit_rewards seed='0'",
     lambda p: _bandit(meta_rl.rl2_bandit_rewards, seed="0"), ValueError, "seed"),
    ("meta_rl.rl2_bandit_rewards n=0", lambda p: _bandit(meta_rl.rl2_bandit_rewards, n=0),
     ValueError, "n must"),
    ("meta_rl.evaluate_rl2_navigation discrete policy", lambda p: _rl2_nav(policy=_meta()),
     ValueError, "discrete"),
    ("meta_rl.evaluate_rl2_navigation episodes_per_trial=0",
     lambda p: _rl2_nav(episodes_per_trial=0), ValueError, "episodes_per_trial"),
    ("meta_rl.evaluate_rl2_navigation seed=-1", lambda p: _rl2_nav(seed=-1), ValueError, "seed"),
    ("meta_rl.evaluate_rl2_navigation goals (G, 3)", lambda p: _rl2_nav(goals=np.zeros((2, 3))),
     ValueError, "goals"),
    ("meta_rl.save_maml_rl_policy config=dict", lambda p: _save(p, config={}), TypeError,
     "config"),
    ("meta_rl.save_maml_rl_policy policy=SSMMetaPolicy", lambda p: _save(p, policy=_meta()),
     TypeError, "policy"),
    ("meta_rl.save_maml_rl_policy policy=Linear", lambda p: _save(p, policy=torch.nn.Linear(2, 2)),
     TypeError, "policy"),
    ("meta_rl.save_maml_rl_policy folder missing", lambda p: _save(p, name="no/such/policy.pt"),
     FileNotFoundError, "path"),
    ("meta_rl.save_maml_rl_policy path=None",
     lambda p: meta_rl.save_maml_rl_policy(_nav_mlp(), meta_rl.MAMLRLConfig(hidden_sizes=(8,)),
                                           None), TypeError, "path"),
    ("meta_rl.load_maml_rl_policy missing file",
     lambda p: meta_rl.load_maml_rl_policy(p / "missing.pt"), FileNotFoundError, "missing.pt"),
    ("meta_rl.load_maml_rl_policy path=None", lambda p: meta_rl.load_maml_rl_policy(None),
     TypeError, "path"),
    ("meta_rl.load_maml_rl_policy map_location='gpu0'",
     lambda p: meta_rl.load_maml_rl_policy(_save(p), map_location="gpu0"), ValueError,
     "map_location"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_meta_rl_still_run(tmp_path):
    assert meta_rl.paper_step_sizes(np.float32(0.5), np.int64(2)) == (0.5, 0.25)
    assert meta_rl.paper_step_sizes(0.1, 0) == ()
    assert meta_rl.rollout_length(np.int64(3), 2) == 7
    config = meta_rl.MAMLRLConfig(gamma=np.float32(0.9), clip=np.float64(0.3), hidden_sizes=[8],
                                  goal_tolerance=0.01, seed=np.int64(1))
    assert config.hidden_sizes == (8,)
    assert meta_rl.MAMLRLConfig(trpo={"max_kl": 0.02}).trpo.max_kl == 0.02
    assert meta_rl.PolicyMAMLConfig(clip=np.float32(0.1)).clip == np.float32(0.1)
    rl2 = meta_rl.RL2Config(rl2_inputs=np.bool_(True), gamma=1, hidden_dim=8, ssm_state_dim=4)
    assert meta_rl.trial_length(rl2) == 10
    assert meta_rl.make_rl2_policy(rl2).input_dim == 8 + 5 + 2
    policy = meta_rl.make_maml_rl_policy(meta_rl.MAMLRLConfig(hidden_sizes=(8,)))
    path = _save(tmp_path, policy)
    loaded, _ = meta_rl.load_maml_rl_policy(str(path), map_location="cpu")
    assert torch.equal(loaded.log_std, policy.log_std)
    own = _own(policy)
    meta_rl.check_param_names(None, own)
    meta_rl.check_param_names(("log_std",), own)
    assert meta_rl.actor_names(own) == tuple(own)
    fast = _adapt(names=["log_std"], step_size=np.float32(0.1))
    assert set(fast) == set(own)
    assert _adapt(step_size={name: torch.tensor(0.1) for name in own})["log_std"].shape == (2,)
    assert _surrogate(clip=0.2).dim() == 0
    recurrent = _nav_meta()
    rollout = _rollout(recurrent)
    assert meta_rl.policy_log_probs(recurrent, None, rollout).shape == (3, 2)
    assert meta_rl.trial_advantages(rollout, np.float64(0.9), 0.5).shape == (3, 2)
    assert _bandit(seed=np.int64(3)).shape == (2,)
    assert _rl2_nav(seed=np.int64(1)).shape == (2, 2)
    assert _online(step_sizes=(np.float32(0.1),)).returns.shape == (2, 2, 1)
    assert _online(step_sizes=np.array([0.1])).returns.shape == (2, 2, 1)
    assert _trial(gamma=np.float32(0.9), every_steps=1).rewards.shape == (2, 3)
    assert _evaluate(step_sizes=[np.float32(0.1)]).shape == (2, 2)
    assert meta_rl.goal_array(torch.zeros(2, 2), "jump_goals").dtype == np.float64
