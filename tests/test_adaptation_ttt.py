"""Tests of ssm_metarl.adaptation.ttt: the TTT identities against explicit double loops.
"""

from __future__ import annotations

import pytest
import torch

from ssm_metarl.adaptation import (
    delta_rule,
    delta_rule_as_ssm,
    delta_rule_step,
    linear_attention,
    linear_attention_as_ssm,
    ttt_linear_batch,
    ttt_linear_online,
)

# ----------------------------------------------------------------------------- TTT identity


@pytest.fixture
def qkv():
    generator = torch.Generator().manual_seed(3)
    q, k = (torch.randn(2, 7, 4, generator=generator, dtype=torch.float64) for _ in range(2))
    v = torch.randn(2, 7, 3, generator=generator, dtype=torch.float64)
    return q, k, v


def test_linear_attention_equals_ssm_equals_batch_ttt(qkv):
    q, k, v = qkv
    expected = torch.zeros_like(v)  # o_t = sum_{s<=t} (q_t . k_s) v_s, as a double loop
    for b in range(2):
        for t in range(7):
            for s in range(t + 1):
                expected[b, t] += torch.dot(q[b, t], k[b, s]) * v[b, s]
    attention = linear_attention(q, k, v)
    assert torch.allclose(attention, expected, atol=1e-12)
    assert torch.allclose(linear_attention_as_ssm(q, k, v), expected, atol=1e-12)
    assert torch.allclose(ttt_linear_batch(q, k, v, lr=0.5), expected, atol=1e-12)
    # A different step scales the state: lr = 1/4 halves it.
    assert torch.allclose(ttt_linear_batch(q, k, v, lr=0.25), expected / 2, atol=1e-12)
    # Unbatched inputs work the same way.
    assert torch.allclose(linear_attention_as_ssm(q[0], k[0], v[0]), expected[0], atol=1e-12)


def test_batch_ttt_from_a_nonzero_start(qkv):
    q, k, v = qkv
    W0 = torch.randn(3, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    W, expected = W0.clone(), []
    for t in range(7):
        W = W - 0.1 * 2 * torch.outer(W0 @ k[0, t] - v[0, t], k[0, t])
        expected.append(W @ q[0, t])
    got = ttt_linear_batch(q[0], k[0], v[0], lr=0.1, initial_weights=W0)
    assert torch.allclose(got, torch.stack(expected), atol=1e-12)


def test_delta_rule_equals_online_gradient_descent_equals_its_ssm(qkv):
    q, k, v = qkv
    beta = torch.rand(2, 7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    expected = delta_rule(q, k, v, beta)
    assert torch.allclose(ttt_linear_online(q, k, v, beta), expected, atol=1e-12)
    assert torch.allclose(delta_rule_as_ssm(q, k, v, beta), expected, atol=1e-12)
    assert torch.allclose(delta_rule(q, k, v, 0.3), ttt_linear_online(q, k, v, 0.3), atol=1e-12)
    # One step by hand: S' = S + beta (v - S k) k^T reduces 1/2 ||S k - v||^2 for small beta.
    S = torch.randn(3, 4, dtype=torch.float64)
    kk, vv = k[0, 0], v[0, 0]
    hand = S + 0.1 * torch.outer(vv - S @ kk, kk)
    assert torch.allclose(delta_rule_step(S, kk, vv, 0.1), hand, atol=1e-14)
    assert ((hand @ kk - vv) ** 2).sum() < ((S @ kk - vv) ** 2).sum()


def test_delta_rule_differs_from_linear_attention_unless_keys_are_orthonormal(qkv):
    q, k, v = qkv
    assert (delta_rule(q, k, v, 1.0) - linear_attention(q, k, v)).abs().max() > 1e-2
    orthonormal = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))[0].T[None]
    q4, v4 = q[:1, :4], v[:1, :4]
    assert torch.allclose(delta_rule(q4, orthonormal, v4, 1.0),
                          linear_attention(q4, orthonormal, v4), atol=1e-12)


def test_ttt_functions_reject_bad_shapes(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="q and k must have the same shape"):
        linear_attention_as_ssm(q, k[:, :5], v)
    with pytest.raises(ValueError, match="broadcastable to"):
        delta_rule(q, k, v, torch.ones(3))
