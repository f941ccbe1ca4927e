"""Benchmark: one MAML meta-iteration, vmapped over tasks vs a per-task Python loop.

Setup of Finn et al. (2017), Section 5.1: 25 sinusoid tasks, K = 10 support and
10 query points, MLP 1-40-40-1 (ReLU), second order, inner lr 0.01, 1 and 5
inner steps. One meta-iteration = meta-loss forward + backward to theta.

Compared side by side in one process, same data, same threads:

- ``vmap``: ``ssm_metarl.maml.maml_loss(vmap=True)`` (torch.func.vmap + grad).
- ``loop (ours)``: ``maml_loss(vmap=False)``, the library's fallback path.
- ``loop (l2l style)``: how higher / learn2learn work: a Python loop over
  tasks, ``torch.autograd.grad(create_graph=True)`` per inner step and one
  ``backward()`` per task that accumulates the meta-gradient.

Optionally (``--train N``) it also meta-trains MAML and the pretrained baseline
for N iterations with the paper protocol (meta-batch 25, K = 10, one inner step,
alpha = 0.01, Adam 1e-3) and reports the time per 1000 iterations and the
5-shot post-adaptation MSE after 1/5/10 steps on 200 held-out tasks.

Usage: python benchmarks/bench_maml.py --threads 1 [--repeats 30] [--train 5000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.func import functional_call

from ssm_metarl.maml import (
    MetaMAMLTrainer,
    TaskBatch,
    adaptation_curve,
    maml_loss,
    mse_loss,
    pretrain,
    regression_mlp,
)
from ssm_metarl.profiles import seed_everything
from ssm_metarl.tasks import SinusoidTasks

NUM_TASKS, K_SHOT, INNER_LR = 25, 10, 0.01


def meta_step_vmap(model, params, batch, steps):
    loss = maml_loss(model, params, mse_loss, batch.support, batch.query, steps, INNER_LR)
    loss.backward()


def meta_step_loop(model, params, batch, steps):
    loss = maml_loss(model, params, mse_loss, batch.support, batch.query, steps, INNER_LR,
                     vmap=False)
    loss.backward()


def meta_step_l2l_style(model, params, batch, steps):
    """A per-task loop with autograd.grad(create_graph=True), as higher/learn2learn do."""
    for sx, sy, qx, qy in zip(*batch.support, *batch.query, strict=True):
        fast = dict(params)
        for _ in range(steps):
            loss = mse_loss(functional_call(model, fast, (sx,)), sy)
            grads = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
            fast = {n: p - INNER_LR * g for (n, p), g in zip(fast.items(), grads, strict=True)}
        (mse_loss(functional_call(model, fast, (qx,)), qy) / NUM_TASKS).backward()


def time_call(fn, repeats: int) -> tuple[float, float]:
    """Median and minimum wall time in milliseconds after three warm-up calls."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times), min(times)


def bench_meta_iteration(repeats: int) -> None:
    seed_everything(0)
    model = regression_mlp()
    params = dict(model.named_parameters())
    batch = SinusoidTasks(seed=0).sample(NUM_TASKS, K_SHOT, K_SHOT)
    methods = {"vmap": meta_step_vmap, "loop (ours)": meta_step_loop,
               "loop (l2l style)": meta_step_l2l_style}
    print(f"\nOne second-order meta-iteration, {NUM_TASKS} tasks, K={K_SHOT}, MLP 1-40-40-1 "
          f"(median / min of {repeats} runs, ms)\n")
    print("| inner steps | " + " | ".join(methods) + " | l2l-style / vmap | loop (ours) / vmap |")
    print("|---" * (len(methods) + 3) + "|")
    for steps in (1, 5):
        results = {}
        for name, step in methods.items():
            def run(step=step, steps=steps):
                model.zero_grad(set_to_none=True)
                step(model, params, batch, steps)
            results[name] = time_call(run, repeats)
        vmap_median = results["vmap"][0]
        cells = [f"{med:.1f} / {low:.1f}" for med, low in results.values()]
        print(f"| {steps} | " + " | ".join(cells)
              + f" | {results['loop (l2l style)'][0] / vmap_median:.1f}x"
              + f" | {results['loop (ours)'][0] / vmap_median:.1f}x |")


def bench_training(iterations: int) -> None:
    seed_everything(0)
    model = regression_mlp()
    trainer = MetaMAMLTrainer(model, meta_lr=1e-3, inner_lr=INNER_LR, inner_steps=1, seed=0)
    start = time.perf_counter()
    trainer.meta_train(TaskBatch(SinusoidTasks(seed=1), NUM_TASKS, K_SHOT, K_SHOT), iterations)
    maml_seconds = time.perf_counter() - start
    seed_everything(0)
    baseline = regression_mlp()
    start = time.perf_counter()
    pretrain(baseline, TaskBatch(SinusoidTasks(seed=1), NUM_TASKS, K_SHOT, K_SHOT), iterations)
    pretrain_seconds = time.perf_counter() - start
    held_out = SinusoidTasks(seed=12345).sample(200, 5, 100)
    print(f"\nMAML sinusoid training, paper protocol, {iterations} meta-iterations: "
          f"{maml_seconds:.1f} s ({1000 * maml_seconds / iterations:.1f} s per 1000); "
          f"pretrained baseline {pretrain_seconds:.1f} s\n")
    print("| 5-shot MSE, 200 held-out tasks (mean +- 95% CI) | 0 steps | 1 step | 5 steps "
          "| 10 steps |")
    print("|---|---|---|---|---|")
    for name, net in (("MAML", model), ("pretrained", baseline)):
        _, curve = adaptation_curve(net, dict(net.named_parameters()), held_out, 5, 10, INNER_LR)
        means = curve.mean(0)
        half_widths = 1.96 * curve.std(0, ddof=1) / curve.shape[0] ** 0.5
        cells = [f"{means[s]:.2f} +- {half_widths[s]:.2f}" for s in (0, 1, 5, 10)]
        print(f"| {name} ({iterations} its) | " + " | ".join(cells) + " |")
    print("| MAML (paper, 70k its) | | 0.67 | 0.38 | 0.35 |")
    print("| pretrained (paper) | | 2.41 | 2.23 | 2.19 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per method")
    parser.add_argument("--train", type=int, default=0,
                        help="also meta-train this many iterations and report MSEs (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, device=cpu")
    bench_meta_iteration(args.repeats)
    if args.train:
        bench_training(args.train)


if __name__ == "__main__":
    main()
