"""Bad inputs of maml (MAML, FOMAML, MetaMAMLTrainer): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
import torch
from bad_input_table import _trainer, table_tests

from ssm_metarl import maml

CASES = [
    ("maml.MetaMAMLTrainer.predict numpy", lambda p: _trainer().predict(np.zeros((2, 1))),
     TypeError, "inputs"),
    ("maml.MetaMAMLTrainer config='x'",
     lambda p: maml.MetaMAMLTrainer(torch.nn.Linear(1, 1), config="x"), TypeError, "config"),
    ("maml.MetaMAMLTrainer.meta_train task_batch=object()",
     lambda p: _trainer().meta_train(object(), 1, progress=False), TypeError, "task_batch"),
    ("maml.TaskBatch tasks=object()", lambda p: maml.TaskBatch(tasks=object(), batch_size=2),
     TypeError, "tasks"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)
