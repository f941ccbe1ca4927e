"""Benchmark: the SSD as recurrence vs quadratic attention vs chunks, side by side in one run.

    python benchmarks/bench_ssd.py [--threads 1] [--repeats 5] [--quick]

(a) B=64, L in (100, 500), N=16, B and C shared by all heads (G=1, Mamba-2's
    default), one head of dim 64 vs four heads of dim 16 (the same H*P = 64
    channels): ``ssd_recurrence``, ``ssd_quadratic`` and ``ssd_chunked`` with
    Q = 25, 50, 100; forward (no_grad) and forward+backward (gradients w.r.t.
    x, log_a, Bm, C and h0). Ratios are recurrence time / method time.
(b) ``ssd_chunked`` (Q=64) vs ``ssd_recurrence`` at B=1, H=4, P=16, N=16 and
    L = 256 ... 16384 (``--quick``: up to 1024), next to the copy floor: one
    read of the inputs and one write of the outputs (``x.clone()`` for y,
    ``clone()`` of log_a, Bm, C, and a (B, H, P, N) ``copy_`` for the final
    state). The floor is what any algorithm must pay in memory traffic.

float32. Times are medians over ``--repeats`` after one warm-up call; a call
over 2 s is timed once (n=1 in the table). Dimension letters as in
``ssm_metarl.ssd``. Prints markdown tables to stdout. Wall-clock times: run
it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from ssm_metarl.ssd import ssd_chunked, ssd_quadratic, ssd_recurrence

SLOW_CALL_S = 2.0
STATE_SIZE = 16
SIDE_BY_SIDE = {"batch": 64, "lengths": (100, 500), "heads_dims": ((1, 64), (4, 16))}
CHUNK_SIZES = (25, 50, 100)
LONG = {"batch": 1, "heads": 4, "head_dim": 16, "chunk": 64}
LONG_LENGTHS = (256, 1024, 4096, 16384)


def median_time(run: Callable[[], object], repeats: int) -> tuple[float, int]:
    """(median seconds, repeats) of ``run``: one warm-up, then repeats unless the call is slow."""
    start = time.perf_counter()
    run()
    if time.perf_counter() - start > SLOW_CALL_S:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start, 1
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), repeats


def cell(timing: tuple[float, int]) -> str:
    seconds, repeats = timing
    text = f"{seconds * 1e3:.2f}" if seconds < 0.01 else f"{seconds * 1e3:.1f}"
    return text + (" (n=1)" if repeats == 1 else "")


def inputs(batch: int, length: int, heads: int, head_dim: int) -> dict[str, torch.Tensor]:
    """x, log_a in (-0.1, 0] (long memory), Bm, C (G=1) and h0, float32."""
    generator = torch.Generator().manual_seed(length * heads)
    randn = lambda *shape: torch.randn(*shape, generator=generator)
    return {
        "x": randn(batch, length, heads, head_dim),
        "log_a": -0.1 * torch.rand(batch, length, heads, generator=generator),
        "Bm": randn(batch, length, 1, STATE_SIZE) / STATE_SIZE**0.5,
        "C": randn(batch, length, 1, STATE_SIZE) / STATE_SIZE**0.5,
        "state": randn(batch, heads, head_dim, STATE_SIZE),
    }


def forward(form, tensors: dict[str, torch.Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            form(tensors["x"], tensors["log_a"], tensors["Bm"], tensors["C"],
                 state=tensors["state"])

    return run


def forward_backward(form, tensors: dict[str, torch.Tensor]) -> Callable[[], None]:
    leaves = {name: value.detach().clone().requires_grad_() for name, value in tensors.items()}

    def run() -> None:
        y, final = form(leaves["x"], leaves["log_a"], leaves["Bm"], leaves["C"],
                        state=leaves["state"])
        torch.autograd.grad((y.sum(), final.sum()), list(leaves.values()))

    return run


def chunked(chunk_size: int):
    return lambda *args, **kw: ssd_chunked(*args, chunk_size=chunk_size, **kw)


def copy_floor(tensors: dict[str, torch.Tensor]) -> Callable[[], None]:
    """Read every input once and write y and the final state once."""
    final = torch.empty_like(tensors["state"])

    def run() -> None:
        tensors["x"].clone()
        for name in ("log_a", "Bm", "C"):
            tensors[name].clone()
        final.copy_(tensors["state"])

    return run


def max_error(form, tensors: dict[str, torch.Tensor]) -> float:
    """Max |y - y_recurrence| in float32 (a check that the timed code is the right code)."""
    args = (tensors["x"], tensors["log_a"], tensors["Bm"], tensors["C"])
    with torch.no_grad():
        want = ssd_recurrence(*args, state=tensors["state"])[0]
        return (form(*args, state=tensors["state"])[0] - want).abs().max().item()


def bench_side_by_side(repeats: int) -> None:
    print(f"\n## (a) B={SIDE_BY_SIDE['batch']}, N={STATE_SIZE}, G=1, float32 (ms; ratio = "
          "recurrence / method)\n")
    print("| L | H x P | method | fwd | fwd+bwd | fwd ratio | fwd+bwd ratio | max abs err |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    forms = {"recurrence": ssd_recurrence, "quadratic": ssd_quadratic}
    forms.update({f"chunked Q={q}": chunked(q) for q in CHUNK_SIZES})
    for length in SIDE_BY_SIDE["lengths"]:
        for heads, head_dim in SIDE_BY_SIDE["heads_dims"]:
            tensors = inputs(SIDE_BY_SIDE["batch"], length, heads, head_dim)
            base = None
            for name, form in forms.items():
                fwd = median_time(forward(form, tensors), repeats)
                both = median_time(forward_backward(form, tensors), repeats)
                base = base or (fwd, both)
                error = 0.0 if form is ssd_recurrence else max_error(form, tensors)
                print(f"| {length} | {heads} x {head_dim} | {name} | {cell(fwd)} | {cell(both)} "
                      f"| {base[0][0] / fwd[0]:.1f}x | {base[1][0] / both[0]:.1f}x "
                      f"| {error:.1e} |")


def bench_long(lengths: tuple[int, ...], repeats: int) -> None:
    batch, heads, head_dim, chunk = (LONG[k] for k in ("batch", "heads", "head_dim", "chunk"))
    print(f"\n## (b) chunked (Q={chunk}) vs recurrence, B={batch}, H={heads}, P={head_dim}, "
          f"N={STATE_SIZE}, float32 (ms)\n")
    print("| L | floor | recurrence fwd | chunked fwd | recurrence fwd+bwd | chunked fwd+bwd "
          "| rec / chunked fwd | rec / chunked fwd+bwd | chunked fwd / floor |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    form = chunked(chunk)
    for length in lengths:
        tensors = inputs(batch, length, heads, head_dim)
        floor = median_time(copy_floor(tensors), repeats)
        rec_fwd = median_time(forward(ssd_recurrence, tensors), repeats)
        fwd = median_time(forward(form, tensors), repeats)
        rec_both = median_time(forward_backward(ssd_recurrence, tensors), repeats)
        both = median_time(forward_backward(form, tensors), repeats)
        print(f"| {length} | {cell(floor)} | {cell(rec_fwd)} | {cell(fwd)} | {cell(rec_both)} "
              f"| {cell(both)} | {rec_fwd[0] / fwd[0]:.1f}x | {rec_both[0] / both[0]:.1f}x "
              f"| {fwd[0] / floor[0]:.0f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per cell (median)")
    parser.add_argument("--quick", action="store_true", help="table (b) only up to L = 1024")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# SSD benchmark: torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats}")
    bench_side_by_side(args.repeats)
    bench_long(LONG_LENGTHS[:2] if args.quick else LONG_LENGTHS, args.repeats)


if __name__ == "__main__":
    main()
