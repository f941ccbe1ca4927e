"""Bad inputs of maml (MAML, FOMAML, MetaMAMLTrainer): each is refused naming the argument."""

from __future__ import annotations

import math

import numpy as np
import torch
from bad_input_table import _trainer, table_tests

from ssm_metarl import maml, policies, tasks

EXEMPT = {
    "ssm_metarl.maml.MetaSGD.parameters": "takes no argument: returns the learned rate tensors",
}


def _net():
    return maml.regression_mlp(1, (4,), 1)


def _params(model=None):
    return dict((model or _net()).named_parameters())


def _pair(*lead, width=1, dtype=torch.float32):
    return torch.zeros(*lead, width, dtype=dtype), torch.zeros(*lead, 1, dtype=dtype)


def _inner(**over):
    model = _net()
    args = {"model": model, "params": _params(model), "loss_fn": maml.mse_loss,
            "support": _pair(5), "steps": 1, "inner_lr": 0.1}
    args.update(over)
    return maml.inner_adapt(**args)


def _loss(**over):
    model = _net()
    args = {"model": model, "params": _params(model), "loss_fn": maml.mse_loss,
            "support_batch": _pair(2, 5), "query_batch": _pair(2, 5), "steps": 1,
            "inner_lr": 0.1}
    args.update(over)
    return maml.maml_loss(**args)


def _adapt_tasks(**over):
    model = _net()
    args = {"model": model, "params": _params(model), "loss_fn": maml.mse_loss,
            "support_batch": _pair(2, 5), "steps": 1, "inner_lr": 0.1}
    args.update(over)
    return maml.adapt_tasks(**args)


def _curve(**over):
    model = _net()
    args = {"model": model, "params": _params(model), "tasks": tasks.SinusoidTasks(seed=0),
            "k_shot": 3, "max_steps": 1, "inner_lr": 0.1, "num_tasks": 2, "num_query": 4}
    args.update(over)
    return maml.adaptation_curve(**args)


def _pretrain(**over):
    args = {"model": _net(), "task_batch": maml.TaskBatch(tasks.SinusoidTasks(seed=0), 2, 2, 2),
            "num_iterations": 1, "progress": False}
    args.update(over)
    return maml.pretrain(**args)


def _map(**over):
    args = {"model": _net(), "per_task": lambda x, engine: x.sum(), "batches": (torch.zeros(2, 3),)}
    args.update(over)
    return maml.map_over_tasks(**args)


def _fast(params=None, **swap):
    return [{**{k: v.detach().clone() for k, v in (params or _params()).items()}, **swap}]


def _small_trainer(**kw):
    return maml.MetaMAMLTrainer(_net(), **kw)


def _sample(dtype=torch.float32):
    return tasks.SinusoidTasks(seed=0, dtype=dtype).sample(2, 3, 3)


def _saved_trainer(p):
    path = p / "trainer.pt"
    _small_trainer().save(path)
    return path


class _NotTasks:
    def sample(self, num_tasks, k_support, k_query):
        return "not a TaskSample"


def _rl_trainer():
    return maml.MetaMAMLTrainer(policies.MLPPolicy(2, 2, (8,)))


CASES = [
    ("maml.MetaMAMLTrainer.predict numpy", lambda p: _trainer().predict(np.zeros((2, 1))),
     TypeError, "inputs"),
    ("maml.MetaMAMLTrainer.predict float64",
     lambda p: _small_trainer().predict(torch.zeros(3, 1, dtype=torch.float64)), TypeError,
     "inputs"),
    ("maml.MetaMAMLTrainer.predict width 2",
     lambda p: _small_trainer().predict(torch.zeros(3, 2)), ValueError, "inputs"),
    ("maml.MetaMAMLTrainer.predict fast_params={}",
     lambda p: _small_trainer().predict(torch.zeros(3, 1), {}), TypeError, "fast_params"),
    ("maml.MetaMAMLTrainer.predict fast_params of another model",
     lambda p: _small_trainer().predict(torch.zeros(3, 1), _params(maml.regression_mlp(1, (8,)))),
     ValueError, "fast_params"),
    ("maml.MetaMAMLTrainer.predict on a policy",
     lambda p: _rl_trainer().predict(torch.zeros(2, 2)), NotImplementedError, "predict"),
    ("maml.MetaMAMLTrainer config='x'",
     lambda p: maml.MetaMAMLTrainer(torch.nn.Linear(1, 1), config="x"), TypeError, "config"),
    ("maml.MetaMAMLTrainer loss_fn=None", lambda p: _small_trainer(loss_fn=None), TypeError,
     "loss_fn"),
    ("maml.MetaMAMLTrainer forward_fn=1", lambda p: _small_trainer(forward_fn=1), TypeError,
     "forward_fn"),
    ("maml.MetaMAMLTrainer device='gpu'", lambda p: _small_trainer(device="gpu"), ValueError,
     "device"),
    ("maml.MetaMAMLTrainer.meta_train task_batch=object()",
     lambda p: _trainer().meta_train(object(), 1, progress=False), TypeError, "task_batch"),
    ("maml.MetaMAMLTrainer.meta_train sample() gives a str",
     lambda p: _small_trainer().meta_train(type("B", (), {"sample": lambda self: "x"})(), 1,
                                           progress=False), TypeError, "task_batch.sample()"),
    ("maml.MetaMAMLTrainer.meta_train progress='no'",
     lambda p: _small_trainer().meta_train(maml.TaskBatch(tasks.SinusoidTasks(), 2), 1,
                                           progress="no"), TypeError, "progress"),
    ("maml.MetaMAMLTrainer.meta_step object()", lambda p: _small_trainer().meta_step(object()),
     TypeError, "batch"),
    ("maml.MetaMAMLTrainer.meta_step (support, query) tuple",
     lambda p: _small_trainer().meta_step((_sample().support, _sample().query)), TypeError,
     "batch"),
    ("maml.MetaMAMLTrainer.meta_step float64 batch",
     lambda p: _small_trainer().meta_step(_sample(torch.float64)), TypeError, "support_batch[0]"),
    ("maml.MetaMAMLTrainer.meta_step TaskSample into a policy",
     lambda p: _rl_trainer().meta_step(_sample()), TypeError, "RL task batches"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task numpy",
     lambda p: _small_trainer().adapt_to_new_task((np.zeros((3, 1)), np.zeros((3, 1)))),
     TypeError, "support_data"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task float64",
     lambda p: _small_trainer().adapt_to_new_task(_pair(3, dtype=torch.float64)), TypeError,
     "support_data[0]"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task width 2",
     lambda p: _small_trainer().adapt_to_new_task(_pair(3, width=2)), ValueError,
     "support_data[0]"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task nan targets",
     lambda p: _small_trainer().adapt_to_new_task(
         (torch.zeros(3, 1), torch.full((3, 1), math.nan))), ValueError, "support_data[1]"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task steps=-1",
     lambda p: _small_trainer().adapt_to_new_task(_pair(3), steps=-1), ValueError, "steps"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task TaskSample",
     lambda p: _small_trainer().adapt_to_new_task(_sample().task(0)), TypeError, "support_data"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task policy family=object()",
     lambda p: _rl_trainer().adapt_to_new_task(np.zeros(2), family=object()), TypeError,
     "family"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task policy seed=-1",
     lambda p: _rl_trainer().adapt_to_new_task(np.zeros(2), seed=-1), ValueError, "seed"),
    ("maml.MetaMAMLTrainer.adapt_to_new_task policy foo=1",
     lambda p: _rl_trainer().adapt_to_new_task(np.zeros(2), foo=1), TypeError, "foo"),
    ("maml.MetaMAMLTrainer.adaptation_curve k_shot='3'",
     lambda p: _small_trainer().adaptation_curve(tasks.SinusoidTasks(), "3", 1), ValueError,
     "k_shot"),
    ("maml.MetaMAMLTrainer.adaptation_curve float64 tasks",
     lambda p: _small_trainer().adaptation_curve(_sample(torch.float64), 3, 1), TypeError,
     "tasks.support[0]"),
    ("maml.MetaMAMLTrainer.adaptation_curve on a policy",
     lambda p: _rl_trainer().adaptation_curve(tasks.SinusoidTasks(), 3, 1), NotImplementedError,
     "adaptation_curve"),
    ("maml.MetaMAMLTrainer.save path=3", lambda p: _small_trainer().save(3), TypeError, "path"),
    ("maml.MetaMAMLTrainer.save missing folder",
     lambda p: _small_trainer().save(p / "no" / "such" / "t.pt"), FileNotFoundError, "path"),
    ("maml.MetaMAMLTrainer.load missing file",
     lambda p: maml.MetaMAMLTrainer.load(p / "nothing.pt", _net()), FileNotFoundError,
     "nothing.pt"),
    ("maml.MetaMAMLTrainer.load path=None", lambda p: maml.MetaMAMLTrainer.load(None, _net()),
     TypeError, "path"),
    ("maml.MetaMAMLTrainer.load model=None",
     lambda p: maml.MetaMAMLTrainer.load(_saved_trainer(p), None), TypeError, "model"),
    ("maml.MetaMAMLTrainer.load another architecture",
     lambda p: maml.MetaMAMLTrainer.load(_saved_trainer(p), maml.regression_mlp(1, (8,))),
     ValueError, "architecture"),
    ("maml.MetaMAMLTrainer.load loss_fn=3",
     lambda p: maml.MetaMAMLTrainer.load(_saved_trainer(p), _net(), loss_fn=3), TypeError,
     "loss_fn"),
    ("maml.MAMLConfig algorithm='MAML'", lambda p: maml.MAMLConfig(algorithm="MAML"), ValueError,
     "algorithm"),
    ("maml.MAMLConfig meta_lr=nan", lambda p: maml.MAMLConfig(meta_lr=math.nan), ValueError,
     "meta_lr"),
    ("maml.MAMLConfig seed=-1", lambda p: maml.MAMLConfig(seed=-1), ValueError, "seed"),
    ("maml.MAMLConfig device='gpu'", lambda p: maml.MAMLConfig(device="gpu"), ValueError,
     "device"),
    ("maml.MAMLConfig vmap='no'", lambda p: maml.MAMLConfig(vmap="no"), TypeError, "vmap"),
    ("maml.MAMLConfig first_order=1", lambda p: maml.MAMLConfig(first_order=1), TypeError,
     "first_order"),
    ("maml.MAMLConfig anil_head=3", lambda p: maml.MAMLConfig(algorithm="anil", anil_head=3),
     ValueError, "anil_head"),
    ("maml.TaskBatch tasks=object()", lambda p: maml.TaskBatch(tasks=object(), batch_size=2),
     TypeError, "tasks"),
    ("maml.TaskBatch batch_size=0", lambda p: maml.TaskBatch(tasks.SinusoidTasks(), 0),
     ValueError, "batch_size"),
    ("maml.TaskBatch unknown sample option",
     lambda p: maml.TaskBatch(tasks.SinusoidTasks(), 2, foo=1), TypeError, "foo"),
    ("maml.TaskBatch.sample tasks.sample() gives a str",
     lambda p: maml.TaskBatch(_NotTasks(), 2).sample(), TypeError, "tasks.sample()"),
    ("maml.inner_adapt model=None", lambda p: _inner(model=None), TypeError, "model"),
    ("maml.inner_adapt loss_fn='mse'", lambda p: _inner(loss_fn="mse"), TypeError, "loss_fn"),
    ("maml.inner_adapt forward_fn=3", lambda p: _inner(forward_fn=3), TypeError, "forward_fn"),
    ("maml.inner_adapt support numpy", lambda p: _inner(support=(np.zeros((5, 1)),
                                                                 np.zeros((5, 1)))),
     TypeError, "support"),
    ("maml.inner_adapt support float64", lambda p: _inner(support=_pair(5, dtype=torch.float64)),
     TypeError, "support[0]"),
    ("maml.inner_adapt support int", lambda p: _inner(support=(torch.zeros(5, 1, dtype=torch.long),
                                                               torch.zeros(5, 1))),
     TypeError, "support[0]"),
    ("maml.inner_adapt support width 3", lambda p: _inner(support=_pair(5, width=3)), ValueError,
     "support[0]"),
    ("maml.inner_adapt targets width 2",
     lambda p: _inner(support=(torch.zeros(5, 1), torch.zeros(5, 2))), ValueError, "support[1]"),
    ("maml.inner_adapt support nan",
     lambda p: _inner(support=(torch.full((5, 1), math.nan), torch.zeros(5, 1))), ValueError,
     "support[0]"),
    ("maml.inner_adapt no examples", lambda p: _inner(support=_pair(0)), ValueError, "support"),
    ("maml.inner_adapt params of another model",
     lambda p: _inner(params=_params(maml.regression_mlp(1, (8,)))), ValueError, "params"),
    ("maml.inner_adapt params float64",
     lambda p: _inner(params={k: v.double() for k, v in _params().items()}), TypeError, "params"),
    ("maml.inner_adapt params extra name",
     lambda p: _inner(params={**_params(), "extra": torch.ones(1)}), ValueError, "params"),
    ("maml.inner_adapt steps=1.5", lambda p: _inner(steps=1.5), ValueError, "steps"),
    ("maml.inner_adapt inner_lr=-1", lambda p: _inner(inner_lr=-1.0), ValueError, "inner_lr"),
    ("maml.inner_adapt first_order='no'", lambda p: _inner(first_order="no"), TypeError,
     "first_order"),
    ("maml.inner_adapt engine='jax'", lambda p: _inner(engine="jax"), ValueError, "engine"),
    ("maml.maml_loss model=None", lambda p: _loss(model=None), TypeError, "model"),
    ("maml.maml_loss support_batch float64",
     lambda p: _loss(support_batch=_pair(2, 5, dtype=torch.float64)), TypeError,
     "support_batch[0]"),
    ("maml.maml_loss query_batch width 3", lambda p: _loss(query_batch=_pair(2, 5, width=3)),
     ValueError, "query_batch[0]"),
    ("maml.maml_loss query_batch numpy",
     lambda p: _loss(query_batch=(np.zeros((2, 5, 1)), np.zeros((2, 5, 1)))), TypeError,
     "query_batch"),
    ("maml.maml_loss task counts differ", lambda p: _loss(query_batch=_pair(3, 5)), ValueError,
     "query_batch"),
    ("maml.maml_loss vmap='yes'", lambda p: _loss(vmap="yes"), TypeError, "vmap"),
    ("maml.maml_loss first_order='no'", lambda p: _loss(first_order="no"), TypeError,
     "first_order"),
    ("maml.map_over_tasks per_task=None", lambda p: _map(per_task=None), TypeError, "per_task"),
    ("maml.map_over_tasks batches is one tensor", lambda p: _map(batches=torch.zeros(2, 3)),
     TypeError, "batches"),
    ("maml.map_over_tasks batches numpy", lambda p: _map(batches=(np.zeros((2, 3)),)), TypeError,
     "batches"),
    ("maml.map_over_tasks batches of different T",
     lambda p: _map(per_task=lambda a, b, engine: a.sum() + b.sum(),
                    batches=(torch.zeros(2, 3), torch.zeros(3, 3))), ValueError, "batches"),
    ("maml.map_over_tasks model=None", lambda p: _map(model=None), TypeError, "model"),
    ("maml.adapt_tasks params=list", lambda p: _adapt_tasks(params=list(_params().values())),
     TypeError, "params"),
    ("maml.adapt_tasks support_batch float64",
     lambda p: _adapt_tasks(support_batch=_pair(2, 5, dtype=torch.float64)), TypeError,
     "support_batch[0]"),
    ("maml.adapt_tasks steps=-1", lambda p: _adapt_tasks(steps=-1), ValueError, "steps"),
    ("maml.adapt_tasks inner_lr=nan", lambda p: _adapt_tasks(inner_lr=math.nan), ValueError,
     "inner_lr"),
    ("maml.adapt_tasks loss_fn=None", lambda p: _adapt_tasks(loss_fn=None), TypeError,
     "loss_fn"),
    ("maml.adaptation_curve model=None", lambda p: _curve(model=None), TypeError, "model"),
    ("maml.adaptation_curve k_shot=0", lambda p: _curve(k_shot=0), ValueError, "k_shot"),
    ("maml.adaptation_curve num_query='4'", lambda p: _curve(num_query="4"), ValueError,
     "num_query"),
    ("maml.adaptation_curve max_steps=-1", lambda p: _curve(max_steps=-1), ValueError,
     "max_steps"),
    ("maml.adaptation_curve inner_lr=-1", lambda p: _curve(inner_lr=-1.0), ValueError,
     "inner_lr"),
    ("maml.adaptation_curve tasks=None", lambda p: _curve(tasks=None), TypeError, "tasks"),
    ("maml.adaptation_curve tasks float64", lambda p: _curve(tasks=_sample(torch.float64)),
     TypeError, "tasks.support[0]"),
    ("maml.adaptation_curve tasks nan",
     lambda p: _curve(tasks=_sample()._replace(query_y=torch.full((2, 3, 1), math.nan))),
     ValueError, "tasks.query[1]"),
    ("maml.adaptation_curve k_shot against the TaskSample",
     lambda p: _curve(tasks=_sample(), k_shot=5), ValueError, "k_shot"),
    ("maml.adaptation_curve vmap='x'", lambda p: _curve(vmap="x"), TypeError, "vmap"),
    ("maml.pretrain model=None", lambda p: _pretrain(model=None), TypeError, "model"),
    ("maml.pretrain task_batch=object()", lambda p: _pretrain(task_batch=object()), TypeError,
     "task_batch"),
    ("maml.pretrain lr='a'", lambda p: _pretrain(lr="a"), ValueError, "lr"),
    ("maml.pretrain num_iterations=1.5", lambda p: _pretrain(num_iterations=1.5), ValueError,
     "num_iterations"),
    ("maml.pretrain device='gpu'", lambda p: _pretrain(device="gpu"), ValueError, "device"),
    ("maml.pretrain float64 tasks",
     lambda p: _pretrain(task_batch=maml.TaskBatch(tasks.SinusoidTasks(dtype=torch.float64), 2)),
     TypeError, "task_batch.sample().support[0]"),
    ("maml.pretrain loss_fn=None", lambda p: _pretrain(loss_fn=None), TypeError, "loss_fn"),
    ("maml.MetaSGD params=None", lambda p: maml.MetaSGD(None), TypeError, "params"),
    ("maml.MetaSGD init_lr=-1", lambda p: maml.MetaSGD(_params(), -1.0), ValueError, "init_lr"),
    ("maml.MetaSGD init_lr=dict", lambda p: maml.MetaSGD(_params(), {"0.weight": 0.1}),
     TypeError, "init_lr"),
    ("maml.MetaSGD adapt_names=['nope']", lambda p: maml.MetaSGD(_params(), 0.1, ["nope"]),
     ValueError, "adapt_names"),
    ("maml.ANIL head=3", lambda p: maml.ANIL(3), TypeError, "head"),
    ("maml.ANIL head=''", lambda p: maml.ANIL(""), ValueError, "head"),
    ("maml.ANIL.last_layer model='net'", lambda p: maml.ANIL.last_layer("net"), TypeError,
     "model"),
    ("maml.ANIL.last_layer no parameters", lambda p: maml.ANIL.last_layer(torch.nn.ReLU()),
     ValueError, "no parameters"),
    ("maml.ANIL.adapt_names params=module", lambda p: maml.ANIL("2").adapt_names(_net()),
     TypeError, "params"),
    ("maml.ANIL.adapt_names unknown head", lambda p: maml.ANIL("9").adapt_names(_params()),
     ValueError, "ANIL head"),
    ("maml.Reptile epsilon=2", lambda p: maml.Reptile(epsilon=2), ValueError, "epsilon"),
    ("maml.Reptile inner_steps=0.5", lambda p: maml.Reptile(inner_steps=0.5), ValueError,
     "inner_steps"),
    ("maml.Reptile inner_lr=dict", lambda p: maml.Reptile(inner_lr={"w": 0.1}), TypeError,
     "inner_lr"),
    ("maml.Reptile.adapt model=None",
     lambda p: maml.Reptile().adapt(None, _params(), maml.mse_loss, _pair(2, 5)), TypeError,
     "model"),
    ("maml.Reptile.adapt support_batch numpy",
     lambda p: maml.Reptile().adapt(_net(), _params(), maml.mse_loss,
                                    (np.zeros((2, 5, 1)), np.zeros((2, 5, 1)))),
     TypeError, "support_batch"),
    ("maml.Reptile.outer_update fast_weights=dict",
     lambda p: maml.Reptile().outer_update(_params(), _fast()[0]), TypeError, "fast_weights"),
    ("maml.Reptile.outer_update fast_weights=[]",
     lambda p: maml.Reptile().outer_update(_params(), []), ValueError, "fast_weights"),
    ("maml.reptile_pseudo_gradient params=None",
     lambda p: maml.reptile_pseudo_gradient(None, _fast()), TypeError, "params"),
    ("maml.reptile_pseudo_gradient missing parameter",
     lambda p: maml.reptile_pseudo_gradient(_params(), [{"0.weight": torch.zeros(4, 1)}]),
     ValueError, "fast_weights[0]"),
    ("maml.reptile_pseudo_gradient wrong shape",
     lambda p: maml.reptile_pseudo_gradient(_params(), _fast(**{"0.bias": torch.zeros(3)})),
     ValueError, "fast_weights[0]['0.bias']"),
    ("maml.reptile_pseudo_gradient numpy weights",
     lambda p: maml.reptile_pseudo_gradient(_params(), _fast(**{"0.bias": np.zeros(4)})),
     TypeError, "fast_weights[0]['0.bias']"),
    ("maml.reptile_update epsilon=nan", lambda p: maml.reptile_update(_params(), _fast(), math.nan),
     ValueError, "epsilon"),
    ("maml.reptile_update epsilon='a'", lambda p: maml.reptile_update(_params(), _fast(), "a"),
     ValueError, "epsilon"),
    ("maml.reptile_update epsilon=-1", lambda p: maml.reptile_update(_params(), _fast(), -1.0),
     ValueError, "epsilon"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_maml_still_run():
    """What the checks above must still let through."""
    model = _net()
    params = _params(model)
    # a float64 model takes float64 data (the model's dtype, not float32, is the rule)
    double = _net().double()
    fast = maml.inner_adapt(double, _params(double), maml.mse_loss,
                            _pair(4, dtype=torch.float64), 1, 0.1)
    assert fast["0.weight"].dtype == torch.float64
    # a forward_fn decides what the inputs are: no width check
    wide = maml.inner_adapt(model, params, maml.mse_loss, _pair(5, width=3), 1, 0.1,
                            forward_fn=lambda m, q, x: torch.func.functional_call(
                                m, q, (x[..., :1],)))
    assert wide["0.weight"].shape == (4, 1)
    # NumPy numbers where numbers are meant
    config = maml.MAMLConfig(meta_lr=np.float32(1e-3), inner_steps=np.int64(2), seed=np.int64(1))
    assert (type(config.meta_lr), type(config.inner_steps), type(config.seed)) == (float, int, int)
    batch = maml.TaskBatch(tasks.SinusoidTasks(seed=0), np.int64(2), np.int64(3), 3)
    assert batch.sample().support_x.shape == (2, 3, 1)
    new = maml.reptile_update(params, tuple(_fast(params)), np.float64(0.5))
    assert new["0.bias"].shape == (4,)
    assert maml.ANIL(["2"]).adapt_names(params) == ("2.weight", "2.bias")
    assert _map(batches=[torch.zeros(2, 3)]).shape == (2,)
    trainer = maml.MetaMAMLTrainer(model, algorithm="metasgd")
    adapted = trainer.adapt_to_new_task(_pair(3))
    assert trainer.predict(torch.zeros(3, 1), adapted).shape == (3, 1)
    assert trainer.meta_step(_sample()) >= 0
    steps, losses = trainer.adaptation_curve(_sample(), 3, 1)
    assert losses.shape == (2, 2) and list(steps) == [0, 1]
    assert len(_pretrain()) == 1
