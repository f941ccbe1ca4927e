"""Benchmark: recurrence vs convolution vs scan, side by side in one run.

    python benchmarks/bench_ssm.py [--threads 2] [--quick]

(a) An S4D layer (B=4, H=64, N=64) run as a recurrence (L steps of
    ``S4DLayer.step``) and as an FFT convolution (kernel computation included),
    forward only, as at inference.
(b) The linear recurrence h_t = a_t h_{t-1} + b_t at B=4, D=H*N=256*16=4096
    (float32; the issue's size), then at D=16*16=256: the loop oracle
    ``scan_reference``, the chunked ``scan`` and the textbook
    ``scan_doubling``; forward (no_grad) and forward+backward.
    Next to them, the floor: one read of a and b and one write of h
    (``torch.add(a, b, out=h)``), into a reused buffer and into a fresh one
    (a fresh (B, L, D) tensor costs page faults, which every scan pays for its
    outputs; ``THP_MEM_ALLOC_ENABLE=1`` lets PyTorch back large tensors with
    transparent huge pages, which makes them several times cheaper).
(c) The same recurrence at B=4, L=4096, D=4096, forward+backward: a plain
    unbind loop (autograd through every step) against the chunked ``scan``,
    with 1 and with 2 torch threads in this one process (ATen splits each of
    the chunked scan's (B, C, D) ops across the threads; the scan's outputs
    sit on 2 MB pages, see ``ssm_metarl.scan``).
(d) Mamba-2's SSD: the chunked algorithm against its recurrence at the same
    lengths with the copy floor (``bench_ssd.bench_long``; bench_ssd.py
    has the side-by-side table of all three forms and head splits).

Times are medians over repeats after one warm-up call; a call that takes over
2 s is timed once (n=1 in the table). Lengths L = 256, 1024, 4096, 16384
(``--quick``: 256 and 1024). Dimension letters as in ``ssm_metarl.scan``.
Prints markdown tables to stdout. The full run takes 2 to 4 minutes and
about 10 GB of memory (at L=16384, D=4096 each (B, L, D) tensor is 1 GB).
Wall-clock times: run it on an otherwise idle machine; with more busy
processes than cores, every multi-threaded op can stall for a scheduler
time slice, and the 2-thread numbers stop meaning anything.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
from collections.abc import Callable

import bench_ssd  # benchmarks/ is on sys.path when this file runs as a script
import torch

from ssm_metarl.scan import scan, scan_doubling, scan_reference
from ssm_metarl.ssm import S4DLayer, causal_conv

BATCH = 4
S4D_CHANNELS, S4D_STATE = 64, 64
SCAN_SHAPES = ((256, 16), (16, 16))  # (H, N); D = H * N
SLOW_CALL_S = 2.0
MAX_REPEATS = 5
THREAD_REPEATS = 5  # table (c): always 5 timed calls after the warm-up
# The doubling scan keeps log2(L) full-size levels for backward: O(B L D log L) memory.
DOUBLING_MAX_LENGTH = {"fwd": 4096, "fwd+bwd": 1024}


def median_time(run: Callable[[], object], repeats: int | None = None) -> tuple[float, int]:
    """(median seconds, repeats) of ``run`` after one warm-up call.

    ``repeats=None``: up to MAX_REPEATS, or the warm-up alone when it takes over
    SLOW_CALL_S; a number: exactly that many timed calls after the warm-up
    (the first call in a fresh process can be several times slower than the
    next ones: it maps the memory later calls reuse).
    """
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    if repeats is None:
        if first > SLOW_CALL_S:
            return first, 1
        repeats = max(1, min(MAX_REPEATS, int(3 * SLOW_CALL_S / max(first, 1e-6))))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), repeats


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def cell(seconds: float, repeats: int) -> str:
    suffix = " (n=1)" if repeats == 1 else ""
    return f"{milliseconds(seconds)}{suffix}"


# ----------------------------------------------------------------------------
# (a) S4D: recurrence vs FFT convolution
# ----------------------------------------------------------------------------


def bench_s4d(lengths: list[int]) -> dict[int, tuple[float, float]]:
    """Print table (a); return (layer conv, kernel + FFT) speedups over the recurrence per L."""
    torch.manual_seed(0)
    layer = S4DLayer(S4D_CHANNELS, d_state=S4D_STATE)

    def kernel_and_fft(x: torch.Tensor) -> torch.Tensor:
        return causal_conv(x, layer.kernel(x.shape[1])) + layer.D * x

    print(f"\n## (a) S4D layer, B={BATCH}, H={S4D_CHANNELS}, N={S4D_STATE} (float32, forward)\n")
    print(
        "`conv` is `S4DLayer.forward(mode='conv')` (y and the final state); `K + FFT` is "
        "`causal_conv(x, layer.kernel(L)) + D x` (y only). Both include the kernel.\n"
    )
    print(
        "| L | recurrence | conv | K + FFT | recurrence / conv | recurrence / (K + FFT) "
        "| max abs diff |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    speedups = {}
    for length in lengths:
        x = torch.randn(BATCH, length, S4D_CHANNELS)
        with torch.no_grad():
            y_rec, _ = layer(x, mode="recurrent")
            diff = (y_rec - layer(x, mode="conv")[0]).abs().max().item()
            t_rec, n_rec = median_time(lambda x=x: layer(x, mode="recurrent"))
            t_conv, n_conv = median_time(lambda x=x: layer(x, mode="conv"))
            t_fft, n_fft = median_time(lambda x=x: kernel_and_fft(x))
        speedups[length] = (t_rec / t_conv, t_rec / t_fft)
        print(
            f"| {length} | {cell(t_rec, n_rec)} | {cell(t_conv, n_conv)} | {cell(t_fft, n_fft)} "
            f"| {speedups[length][0]:.1f}x | {speedups[length][1]:.1f}x | {diff:.1e} |"
        )
    return speedups


# ----------------------------------------------------------------------------
# (b) the scans
# ----------------------------------------------------------------------------


def scan_inputs(
    length: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """a in (0.5, 1) (stable decays), b, h0 and an upstream gradient, (B, L, D)."""
    generator = torch.Generator().manual_seed(length)
    shape = (BATCH, length, channels)
    a = 0.5 + 0.5 * torch.rand(shape, generator=generator)
    b = torch.randn(shape, generator=generator)
    h0 = torch.randn(shape[0], shape[2], generator=generator)
    return a, b, h0, torch.randn(shape, generator=generator)


def forward_and_backward(scan_fn, a, b, h0, grad_h) -> Callable[[], None]:
    leaves = [x.detach().requires_grad_() for x in (a, b, h0)]

    def run() -> None:
        h = scan_fn(*leaves)
        torch.autograd.grad(h, leaves, grad_h)

    return run


def forward_only(scan_fn, a, b, h0) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            scan_fn(a, b, h0)

    return run


def bench_floor(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(reused buffer, fresh output) time of h = a + b: one read of a, b and one write of h."""
    h = torch.empty_like(a)
    reused, _ = median_time(lambda: torch.add(a, b, out=h))
    fresh, _ = median_time(lambda: torch.add(a, b))
    return reused, fresh


SCANS = {"loop": scan_reference, "scan": scan, "doubling": scan_doubling}


def bench_one_length(length: int, channels: int) -> dict[str, tuple[float, int] | None]:
    a, b, h0, grad_h = scan_inputs(length, channels)
    with torch.no_grad():
        error = (scan(a, b, h0) - scan_reference(a, b, h0)).abs().max().item()
    times: dict[str, tuple[float, int] | None] = {}
    for name, scan_fn in SCANS.items():
        for kind in ("fwd", "fwd+bwd"):
            if name == "doubling" and length > DOUBLING_MAX_LENGTH[kind]:
                times[f"{name} {kind}"] = None
                continue
            run = (
                forward_only(scan_fn, a, b, h0)
                if kind == "fwd"
                else forward_and_backward(scan_fn, a, b, h0, grad_h)
            )
            times[f"{name} {kind}"] = median_time(run)
            gc.collect()
    times["floor"], times["floor fresh"] = ((t, 0) for t in bench_floor(a, b))
    times["error"] = (error, 0)
    return times


def bench_scans(lengths: list[int], heads: int, state: int) -> dict[int, dict]:
    """Print table (b) for D = heads * state; return the raw times per L."""
    channels = heads * state
    print(f"\n## (b) scans, B={BATCH}, D=H*N={heads}*{state}={channels} (float32)")
    results = {length: bench_one_length(length, channels) for length in lengths}
    for kind in ("fwd", "fwd+bwd"):
        print(f"\n### D={channels}, {kind}\n")
        print("| L | loop | scan | doubling | loop / scan | doubling / scan |")
        print("|---:|---:|---:|---:|---:|---:|")
        for length, times in results.items():
            loop, fast, doubling = (times[f"{name} {kind}"] for name in SCANS)
            doubling_cell = "skipped (O(L log L))" if doubling is None else cell(*doubling)
            doubling_ratio = "" if doubling is None else f"{doubling[0] / fast[0]:.1f}x"
            print(
                f"| {length} | {cell(*loop)} | {cell(*fast)} | {doubling_cell} "
                f"| {loop[0] / fast[0]:.1f}x | {doubling_ratio} |"
            )
    print(f"\n### D={channels}, the floor: h = a + b (read a, b; write h)\n")
    print(
        "| L | floor, reused h | floor, fresh h | scan fwd / floor | scan fwd+bwd / floor "
        "| max abs diff scan vs loop |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for length, times in results.items():
        floor, fresh = times["floor"][0], times["floor fresh"][0]
        print(
            f"| {length} | {milliseconds(floor)} | {milliseconds(fresh)} "
            f"| {times['scan fwd'][0] / floor:.1f}x | {times['scan fwd+bwd'][0] / floor:.1f}x "
            f"| {times['error'][0]:.1e} |"
        )
    return results


def unbind_loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """The plain loop a reader would write: unbind time, one step each, stack (autograd)."""
    state, states = h0, []
    for a_t, b_t in zip(a.unbind(1), b.unbind(1), strict=True):
        state = a_t * state + b_t
        states.append(state)
    return torch.stack(states, 1)


def bench_threads(length: int = 4096, channels: int = 4096) -> dict[int, float]:
    """Table (c): loop vs chunked scan, forward+backward, with 1 and with 2 torch threads.

    Both thread counts run in this one process, one after the other, so the
    ratios compare like with like; the caller's thread setting is restored.
    Fixed repeats: the loop's first call in a process is several times slower
    than the next ones, and timing it alone (n=1) made a 12x "ratio" once.
    """
    print(f"\n## (c) threads: B={BATCH}, L={length}, D={channels}, float32, forward+backward\n")
    print(f"Median of {THREAD_REPEATS} calls after one warm-up call each.\n")
    print("| torch threads | unbind loop | chunked scan | loop / scan |")
    print("|---:|---:|---:|---:|")
    a, b, h0, grad_h = scan_inputs(length, channels)
    before, ratios = torch.get_num_threads(), {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            loop = median_time(forward_and_backward(unbind_loop, a, b, h0, grad_h), THREAD_REPEATS)
            gc.collect()
            fast = median_time(forward_and_backward(scan, a, b, h0, grad_h), THREAD_REPEATS)
            gc.collect()
            ratios[threads] = loop[0] / fast[0]
            print(f"| {threads} | {cell(*loop)} | {cell(*fast)} | {ratios[threads]:.1f}x |")
    finally:
        torch.set_num_threads(before)
    return ratios


def report_targets(
    conv_speedups: dict[int, tuple[float, float]], scan_results: dict[int, dict],
    thread_ratios: dict[int, float],
) -> None:
    """scan_results: {D: {L: times}}."""
    print("\n## targets (L = 4096)\n")
    if 4096 not in conv_speedups:
        print("not measured (--quick)")
        return
    layer_conv, kernel_fft = conv_speedups[4096]
    checks = [
        ("S4D forward, conv mode vs recurrence", layer_conv, 10),
        ("S4D forward, kernel + FFT (y only) vs recurrence", kernel_fft, 10),
    ]
    for channels, results in scan_results.items():
        times = results[4096]
        speedup = times["loop fwd+bwd"][0] / times["scan fwd+bwd"][0]
        checks.append((f"scan vs loop, forward+backward, D={channels}", speedup, 5))
    for threads, ratio in thread_ratios.items():
        checks.append((f"scan vs unbind loop, forward+backward, {threads} thread(s)", ratio, 3))
    for what, measured, target in checks:
        verdict = "met" if measured >= target else "NOT met"
        print(f"- {what}: {measured:.1f}x (target {target}x): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--quick", action="store_true", help="only L = 256, 1024")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    lengths = [256, 1024] if args.quick else [256, 1024, 4096, 16384]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print("# bench_ssm")
    print(
        f"\ntorch {torch.__version__}, torch threads = {torch.get_num_threads()}, "
        f"CPUs = {os.cpu_count()}, 1-min load average at start = {load:.1f}, "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}"
    )
    started = time.perf_counter()
    conv_speedups = bench_s4d(lengths)
    scan_results = {
        heads * state: bench_scans(lengths, heads, state) for heads, state in SCAN_SHAPES
    }
    thread_ratios = {} if args.quick else bench_threads()
    print("\n## (d) SSD (Mamba-2): chunked algorithm vs recurrence, with the copy floor")
    bench_ssd.bench_long(tuple(lengths), repeats=3)  # benchmarks/bench_ssd.py, table (b)
    report_targets(conv_speedups, scan_results, thread_ratios)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; "
        f"1-min load average at end = {load:.1f}"
    )


if __name__ == "__main__":
    main()
