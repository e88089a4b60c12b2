"""Memoised meta kernels: replayed outputs are indistinguishable from running the kernel."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import archprof
from archprof.analysis.fast_meta import plain_meta_kernels
from archprof.analysis import build_on_meta
from archprof.analysis.meta_memo import MemoMode, MetaMemo
from archprof.analysis.sources import open_source
from archprof.analysis.trace import trace

from conftest import ZOO

aten = torch.ops.aten


def _rows(traced):
    return ([(r.name, r.type, r.input_shape, r.output_shape, r.params, r.trainable_params, r.macs, r.flops,
              r.activation_bytes, repr(r.rf), r.ops, r.notes) for r in traced.rows],
            traced.uncounted, traced.peak_activation_bytes, traced.saved_bytes, traced.output_shape)


@pytest.mark.parametrize("source", [*ZOO, "torchvision:regnet_y_400mf", "torchvision:maxvit_t", "timm:levit_128s"])
def test_memoised_trace_equals_the_plain_one(source):
    src = open_source(source)
    x = torch.empty(2, *src.input_shape, device="meta")
    with plain_meta_kernels():  # a fresh model each: some cache tensors on their first forward (LeViT)
        assert _rows(trace(build_on_meta(src).eval(), x, memo=True)) == _rows(trace(build_on_meta(src).eval(), x, memo=False))


def _meta(*shape, **kw):
    return torch.empty(*shape, device="meta", **kw)


def test_repeats_are_replayed_with_the_kernels_metadata():
    memo = MetaMemo()
    x = _meta(2, 8, 5, 5).to(memory_format=torch.channels_last)
    w = _meta(4, 8, 3, 3)
    args = (x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
    first = memo(aten.convolution.default, args, {})
    again = memo(aten.convolution.default, args, {})
    assert memo.hits == 1
    assert (again.shape, again.stride(), again.dtype) == (first.shape, first.stride(), first.dtype)
    assert again.untyped_storage()._cdata != first.untyped_storage()._cdata  # a fresh tensor each time
    norm = [memo(aten.native_layer_norm.default, (_meta(3, 7, dtype=torch.float16), [7], None, None, 1e-5), {})
            for _ in range(2)]
    assert memo.hits == 2
    assert [(t.shape, t.dtype) for t in norm[0]] == [(t.shape, t.dtype) for t in norm[1]]
    assert isinstance(norm[1], tuple) and len(norm[1]) == 3


def test_different_metadata_or_values_run_the_kernel():
    memo = MetaMemo()
    memo(aten.add.Tensor, (_meta(3, 4), _meta(3, 4)), {})
    memo(aten.add.Tensor, (_meta(3, 4), _meta(3, 4, dtype=torch.float16)), {})
    memo(aten.add.Tensor, (_meta(3, 4), _meta(4, 3).t()), {})
    memo(aten.mul.Scalar, (_meta(3, 4, dtype=torch.int64), 2), {})
    out = memo(aten.mul.Scalar, (_meta(3, 4, dtype=torch.int64), 2.5), {})
    assert memo.hits == 0 and out.dtype == torch.float32


def test_views_and_in_place_ops_are_never_replayed():
    memo = MetaMemo()
    x = _meta(4, 6)
    for _ in range(2):
        view = memo(aten.view.default, (x, [6, 4]), {})
        assert view.untyped_storage()._cdata == x.untyped_storage()._cdata
        assert memo(aten.add_.Tensor, (x, x), {}) is x
    assert memo.hits == 0


def test_a_failing_kernel_fails_every_time():
    memo = MetaMemo()
    for _ in range(2):
        with pytest.raises(RuntimeError):
            memo(aten.mm.default, (_meta(2, 3), _meta(4, 5)), {})


def test_size_probes_run_under_the_memo():
    model = nn.Sequential(*[nn.Linear(8, 8) for _ in range(4)]).to("meta")
    with torch.no_grad(), MemoMode() as mode:
        model(_meta(2, 8))
    assert mode.memo.hits >= 3


def test_zoo_is_complete():
    assert len(ZOO) == len(archprof.zoo_names())
