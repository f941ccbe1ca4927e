"""Tests of ssm_metarl.scan: the fast scans against the loop oracle and closed forms."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ssm_metarl.scan import associative_combine, scan, scan_doubling, scan_reference

FAST_SCANS = [scan, scan_doubling]
ALL_SCANS = [scan_reference, scan, scan_doubling]
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-10, torch.complex128: 1e-10}


def random_problem(batch, length, channels, dtype, reset_density, seed, with_h0=True):
    """Decays of modulus below 1.05 (and random phase when complex), so h stays O(L)."""
    generator = torch.Generator().manual_seed(seed)
    real_dtype = torch.float64 if dtype == torch.complex128 else dtype
    shape = (batch, length, channels)
    modulus = 1.05 * torch.rand(shape, generator=generator, dtype=real_dtype)
    if dtype.is_complex:
        phase = 6.3 * torch.rand(shape, generator=generator, dtype=real_dtype)
        a = torch.polar(modulus, phase)
        b = torch.randn(shape, generator=generator, dtype=dtype)
        h0 = torch.randn(batch, channels, generator=generator, dtype=dtype)
    else:
        a = modulus
        b = torch.randn(shape, generator=generator, dtype=dtype)
        h0 = torch.randn(batch, channels, generator=generator, dtype=dtype)
    reset = torch.rand(batch, length, generator=generator) < reset_density
    return a, b, (h0 if with_h0 else None), reset


def values_and_gradients(scan_fn, a, b, h0, reset, **kwargs):
    """h and d<h, W>/d(a, b, h0) for a fixed random weighting W of the outputs."""
    leaves = [x.detach().clone().requires_grad_() for x in (a, b)]
    if h0 is not None:
        leaves.append(h0.detach().clone().requires_grad_())
    h = scan_fn(*leaves[:2], leaves[2] if h0 is not None else None, reset, **kwargs)
    weights = torch.randn(h.shape, generator=torch.Generator().manual_seed(7), dtype=h.dtype)
    loss = (h * weights.conj()).real.sum()
    return h.detach(), torch.autograd.grad(loss, leaves)


def assert_same(got, want, tol):
    torch.testing.assert_close(got, want, rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    length=st.sampled_from([1, 2, 7, 16, 31, 32, 33, 64, 100]),
    channels=st.integers(1, 4),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.complex128]),
    reset_density=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    with_h0=st.booleans(),
    chunk_size=st.sampled_from([None, 1, 3, 8, 16]),
    seed=st.integers(0, 2**16),
)
def test_scan_equals_reference_in_values_and_gradients(
    batch, length, channels, dtype, reset_density, with_h0, chunk_size, seed
):
    a, b, h0, reset = random_problem(batch, length, channels, dtype, reset_density, seed, with_h0)
    want_h, want_grads = values_and_gradients(scan_reference, a, b, h0, reset)
    got_h, got_grads = values_and_gradients(scan, a, b, h0, reset, chunk_size=chunk_size)
    assert_same(got_h, want_h, TOLERANCE[dtype])
    for got, want in zip(got_grads, want_grads, strict=True):
        assert_same(got, want, TOLERANCE[dtype])


@settings(max_examples=20, deadline=None)
@given(
    length=st.sampled_from([1, 2, 5, 17, 64]),
    dtype=st.sampled_from([torch.float64, torch.complex128]),
    reset_density=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_doubling_scan_equals_reference(length, dtype, reset_density, seed):
    a, b, h0, reset = random_problem(2, length, 3, dtype, reset_density, seed)
    want_h, want_grads = values_and_gradients(scan_reference, a, b, h0, reset)
    got_h, got_grads = values_and_gradients(scan_doubling, a, b, h0, reset)
    assert_same(got_h, want_h, 1e-10)
    for got, want in zip(got_grads, want_grads, strict=True):
        assert_same(got, want, 1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_scan_passes_gradcheck_and_gradgradcheck(dtype):
    a, b, h0, reset = random_problem(2, 13, 2, dtype, 0.2, seed=3)
    inputs = tuple(x.requires_grad_() for x in (a, b, h0))

    def chunked(a, b, h0):
        return scan(a, b, h0, reset, chunk_size=4)

    assert torch.autograd.gradcheck(chunked, inputs)
    assert torch.autograd.gradgradcheck(chunked, inputs)


def test_second_derivatives_equal_reference():
    """Second-order MAML differentiates through the backward pass: compare Hessian-vector products."""
    a, b, h0, reset = random_problem(2, 40, 3, torch.float64, 0.1, seed=5)
    direction = torch.randn(2, 40, 3, dtype=torch.float64)
    results = []
    for scan_fn in (scan_reference, scan):
        leaves = [x.clone().requires_grad_() for x in (a, b, h0)]
        loss = scan_fn(*leaves, reset).pow(2).sum()
        (grad_a,) = torch.autograd.grad(loss, leaves[0], create_graph=True)
        results.append(torch.autograd.grad((grad_a * direction).sum(), leaves))
    for got, want in zip(results[1], results[0], strict=True):
        assert_same(got, want, 1e-10)


@pytest.mark.parametrize("scan_fn", ALL_SCANS)
@pytest.mark.parametrize("decay", [0.5, -0.9, 0.999, 0.3 + 0.6j])
def test_constant_step_gives_geometric_series(scan_fn, decay):
    """h_t = a^(t+1) h0 + b (1 - a^(t+1)) / (1 - a) for constant a, b: independent of any loop."""
    dtype = torch.complex128 if isinstance(decay, complex) else torch.float64
    length, offset, h0_value = 300, 0.7, 2.0
    a = torch.full((1, length, 1), decay, dtype=dtype)
    b = torch.full((1, length, 1), offset, dtype=dtype)
    h0 = torch.full((1, 1), h0_value, dtype=dtype)
    powers = torch.tensor(decay, dtype=dtype) ** torch.arange(1, length + 1, dtype=torch.float64)
    expected = powers * h0_value + offset * (1 - powers) / (1 - decay)
    assert_same(scan_fn(a, b, h0)[0, :, 0], expected, 1e-10)


@pytest.mark.parametrize("scan_fn", FAST_SCANS)
def test_decay_near_one_over_long_sequence_matches_reference(scan_fn):
    """a = 0.999 for 4096 steps: no overflow or underflow from long products."""
    length = 4096
    a = torch.full((1, length, 2), 0.999, dtype=torch.float64)
    b = torch.randn(1, length, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h0 = torch.tensor([[5.0, -3.0]], dtype=torch.float64)
    expected = scan_reference(a, b, h0)
    assert_same(scan_fn(a, b, h0), expected, 1e-10)
    # float32: rounding error accumulates over 4096 steps; no worse than the loop's own.
    def float32_error(fn):
        return (fn(a.float(), b.float(), h0.float()).double() - expected).abs().max()

    assert float32_error(scan_fn) < 3 * float32_error(scan_reference)


@pytest.mark.parametrize("scan_fn", ALL_SCANS)
def test_exact_zero_decay_restarts_the_state(scan_fn):
    a, b, h0, _ = random_problem(2, 50, 3, torch.float64, 0.0, seed=11)
    zeros = torch.rand(2, 50, 3, generator=torch.Generator().manual_seed(1)) < 0.3
    a = a.masked_fill(zeros, 0.0)
    h = scan_fn(a, b, h0, chunk_size=8) if scan_fn is scan else scan_fn(a, b, h0)
    assert torch.equal(h[zeros], b[zeros])
    assert_same(h, scan_reference(a, b, h0), 1e-10)


@pytest.mark.parametrize("scan_fn", ALL_SCANS)
def test_reset_makes_the_state_equal_the_input(scan_fn):
    a, b, h0, _ = random_problem(3, 40, 2, torch.float64, 0.0, seed=2)
    reset = torch.zeros(3, 40, dtype=torch.bool)
    reset[0, 10] = reset[1, 0] = reset[2, 39] = True
    h = scan_fn(a, b, h0, reset)
    assert torch.equal(h[reset], b[reset])
    # After the reset the sequence is a fresh episode: same as scanning from there with no h0.
    assert_same(h[0, 10:], scan_reference(a[:1, 10:], b[:1, 10:])[0], 1e-12)
    assert_same(h[0, :10], scan_reference(a[:1, :10], b[:1, :10], h0[:1])[0], 1e-12)


@pytest.mark.parametrize("scan_fn", FAST_SCANS)
def test_reset_shared_by_the_batch_broadcasts(scan_fn):
    a, b, h0, reset = random_problem(3, 25, 2, torch.float64, 0.2, seed=12)
    shared = reset[:1]
    assert_same(scan_fn(a, b, h0, shared), scan_reference(a, b, h0, shared.expand(3, 25)), 1e-12)


@pytest.mark.parametrize("scan_fn", ALL_SCANS)
def test_reset_at_first_step_ignores_h0(scan_fn):
    a, b, h0, _ = random_problem(2, 30, 3, torch.float64, 0.0, seed=4)
    reset = torch.zeros(2, 30, dtype=torch.bool)
    reset[:, 0] = True
    h0 = h0.requires_grad_()
    h = scan_fn(a, b, h0, reset)
    assert_same(h, scan_reference(a, b), 1e-12)
    (grad_h0,) = torch.autograd.grad(h.sum(), h0, allow_unused=True)
    assert grad_h0 is None or torch.equal(grad_h0, torch.zeros_like(h0))


@pytest.mark.parametrize("scan_fn", ALL_SCANS)
def test_missing_h0_means_zero_state(scan_fn):
    a, b, h0, _ = random_problem(2, 20, 3, torch.float64, 0.0, seed=6)
    assert_same(scan_fn(a, b), scan_fn(a, b, torch.zeros_like(h0)), 0.0)
    assert_same(scan_fn(a, b)[:, 0], b[:, 0], 0.0)


@pytest.mark.parametrize("scan_fn", FAST_SCANS)
@pytest.mark.parametrize("decay_shape", [(1, 37, 3), (2, 1, 3)])
def test_broadcast_decays_match_expanded_decays(scan_fn, decay_shape):
    """A decay shared across the batch (1, L, D) or over time (B, 1, D) broadcasts like torch."""
    generator = torch.Generator().manual_seed(8)
    a = torch.rand(decay_shape, generator=generator, dtype=torch.float64)
    b = torch.randn(2, 37, 3, generator=generator, dtype=torch.float64)
    a_shared = a.clone().requires_grad_()
    a_full = a.expand(2, 37, 3).clone().requires_grad_()
    h = scan_fn(a_shared, b)
    expected = scan_reference(a_full, b)
    assert_same(h, expected, 1e-10)
    (grad_shared,) = torch.autograd.grad(h.sum(), a_shared)
    (grad_full,) = torch.autograd.grad(expected.sum(), a_full)
    assert grad_shared.shape == a.shape
    assert_same(grad_shared, grad_full.sum_to_size(decay_shape), 1e-10)


def test_associative_combine_is_associative_and_composes_steps():
    generator = torch.Generator().manual_seed(9)
    steps = [tuple(torch.randn(4, generator=generator) for _ in range(2)) for _ in range(3)]
    left_first = associative_combine(associative_combine(steps[0], steps[1]), steps[2])
    right_first = associative_combine(steps[0], associative_combine(steps[1], steps[2]))
    for x, y in zip(left_first, right_first, strict=True):
        assert_same(x, y, 1e-6)
    h = torch.randn(4, generator=generator)
    one_by_one = h
    for decay, offset in steps:
        one_by_one = decay * one_by_one + offset
    decay, offset = left_first
    assert_same(decay * h + offset, one_by_one, 1e-6)


def test_scan_under_no_grad_returns_a_plain_tensor():
    a, b, h0, reset = random_problem(2, 40, 3, torch.float32, 0.1, seed=10)
    a.requires_grad_()
    with torch.no_grad():
        h = scan(a, b, h0, reset)
    assert h.grad_fn is None
    assert_same(h, scan_reference(a.detach(), b, h0, reset), 1e-5)


# ----------------------------------------------------------------------------
# Errors on bad input
# ----------------------------------------------------------------------------

GOOD = dict(a=torch.rand(2, 5, 3), b=torch.randn(2, 5, 3))


@pytest.mark.parametrize("scan_fn", ALL_SCANS)
@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (dict(a=[[0.5]]), TypeError, r"a must be a torch.Tensor, got list"),
        (dict(a=torch.rand(5, 3)), ValueError, r"a must have shape \(B, L, D\); got shape \(5, 3\)"),
        (dict(b=torch.rand(2, 4, 3)), ValueError, r"a of shape \(2, 5, 3\) and b of shape \(2, 4, 3\)"),
        (dict(b=torch.randn(2, 5, 3, dtype=torch.float64)), TypeError, r"a: torch.float32, b: torch.float64"),
        (dict(a=torch.ones(2, 5, 3, dtype=torch.int64), b=torch.ones(2, 5, 3, dtype=torch.int64)), TypeError, r"floating or complex dtype"),
        (dict(a=torch.rand(2, 0, 3), b=torch.rand(2, 0, 3)), ValueError, r"at least one time step"),
        (dict(h0=torch.zeros(2, 4)), ValueError, r"h0 must have shape \(B, D\) = \(2, 3\); got \(2, 4\)"),
        (dict(h0=torch.zeros(2, 3, dtype=torch.float64)), TypeError, r"h0 must match a and b"),
        (dict(reset=torch.zeros(2, 5)), TypeError, r"reset must be a bool tensor; got dtype torch.float32"),
        (dict(reset=torch.zeros(2, 4, dtype=torch.bool)), ValueError, r"reset must have shape \(B, L\) = \(2, 5\).*got \(2, 4\)"),
        (dict(reset=torch.zeros(3, 5, dtype=torch.bool)), ValueError, r"reset must have shape \(B, L\) = \(2, 5\).*got \(3, 5\)"),
        (dict(reset=torch.zeros(2, 5, 1, dtype=torch.bool)), ValueError, r"reset must have shape \(B, L\)"),
    ],
)
def test_bad_input_raises_a_clear_error(scan_fn, changes, error, message):
    arguments = dict(GOOD, h0=None, reset=None) | changes
    with pytest.raises(error, match=message):
        scan_fn(**arguments)


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, True])
def test_bad_chunk_size_raises(chunk_size):
    with pytest.raises(ValueError, match=r"chunk_size must be a positive int"):
        scan(GOOD["a"], GOOD["b"], chunk_size=chunk_size)


def test_two_thread_scan_equals_the_one_thread_scan_and_the_reference():
    """With 2 torch threads ATen splits every chunk op across them: bit-identical to 1 thread."""

    generator = torch.Generator().manual_seed(5)
    a = (0.98 * torch.rand(3, 300, 320, generator=generator, dtype=torch.float64)).requires_grad_()
    b = torch.randn(3, 300, 320, generator=generator, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 320, generator=generator, dtype=torch.float64, requires_grad=True)
    reset = torch.rand(3, 300, generator=generator) < 0.05
    upstream = torch.randn(3, 300, 320, generator=generator, dtype=torch.float64)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        h = scan(a, b, h0, reset)
        grads = torch.autograd.grad(h, (a, b, h0), upstream)
        assert torch.get_num_threads() == 2  # restored after the threaded section
        torch.set_num_threads(1)
        h_serial = scan(a, b, h0, reset)
        grads_serial = torch.autograd.grad(h_serial, (a, b, h0), upstream)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(h, h_serial)
    assert all(torch.equal(g, s) for g, s in zip(grads, grads_serial, strict=True))
    reference = scan_reference(a, b, h0, reset)
    torch.testing.assert_close(h, reference, rtol=0, atol=1e-12)
    for g, r in zip(grads, torch.autograd.grad(reference, (a, b, h0), upstream), strict=True):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-12)



def test_default_chunk_size_is_near_sqrt_length_and_longer_for_wide_steps():
    from ssm_metarl.scan import default_chunk_size

    assert [default_chunk_size(length) for length in (1, 100, 1024, 4096, 10**6)] == [
        16, 16, 32, 64, 256]
    assert default_chunk_size(4096, width=4 * 256) == 64  # B * D = 1024: narrow
    assert default_chunk_size(1024, width=4 * 4096) == 128  # wide: 4 T
    assert default_chunk_size(4096, width=4 * 4096) == 256
    assert default_chunk_size(16384, width=4 * 4096) == 256  # clipped


def _huge_page_kb(tensor: torch.Tensor) -> int:
    """AnonHugePages (kB) summed over the /proc/self/smaps mappings that hold ``tensor``'s data.

    madvise splits a mapping where its advice starts, so the data can span several.
    """
    first = tensor.data_ptr()
    last = first + tensor.numel() * tensor.element_size()
    total, inside = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                start, end = (int(x, 16) for x in head.split("-"))
                inside = start < last and end > first
            elif inside and line.startswith("AnonHugePages:"):
                total += int(line.split()[1])
    return total


def test_large_scan_outputs_are_backed_by_huge_pages_where_the_kernel_offers_them():
    """A 64 MB output is advised onto 2 MB pages (fewer first-touch faults); a plain tensor is not."""
    import sys

    from ssm_metarl import scan as scan_module

    mode_file = "/sys/kernel/mm/transparent_hugepage/enabled"
    try:
        mode = open(mode_file).read()
    except OSError:
        pytest.skip(f"no {mode_file}: this system has no transparent huge pages")
    if not sys.platform.startswith("linux") or "[never]" in mode:
        pytest.skip(f"transparent huge pages off here ({mode.strip()})")
    like = torch.empty(4, 1024, 4096)  # 64 MB, never touched
    out = scan_module._empty_output(like)
    assert out.shape == like.shape and out.dtype == like.dtype and out.is_contiguous()
    out.fill_(1.0)
    assert _huge_page_kb(out) >= 32 * 1024  # at least half of it on huge pages
    if "[madvise]" in mode:
        plain = torch.empty(4, 1024, 4096).fill_(1.0)
        assert _huge_page_kb(plain) == 0
    small = scan_module._empty_output(torch.empty(3, 5, 7, dtype=torch.float64))
    assert small.shape == (3, 5, 7) and small.dtype == torch.float64
