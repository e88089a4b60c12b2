"""The analyser against hand counts from the papers' layer tables and against independent counters."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import archprof
from archprof.analysis import analyze
from archprof.errors import ArchprofError

from conftest import ZOO

SPECS = Path(__file__).parent / "specs"


def rows(analysis, prefix: str = "") -> dict:
    return {r["name"]: r for r in analysis.layers.to_dict("records") if r["name"].startswith(prefix)}


def test_lenet5_per_layer_params():
    a = analyze("lenet5")
    params = {name: r["params"] for name, r in rows(a).items() if r["params"]}
    assert params == {"c1": 156, "c3": 2416, "c5": 48120, "f6": 10164, "output": 850}
    assert a.totals["params"] == 61706
    assert a.totals["macs"] == 416520


def test_vgg16_activations_and_weights():
    a = analyze("vgg16")
    layers = [r for r in a.layers.to_dict("records") if r["type"] in ("Conv2d", "MaxPool2d", "Linear")]
    values = [torch.Size(r["output_shape"]).numel() for r in layers]
    assert values[0] == 224 * 224 * 64  # conv1_1
    fc6 = next(r for r in layers if r["type"] == "Linear")
    assert fc6["params"] - 4096 == 102_760_448
    # Every conv/pool/fc output plus the input image: 15.24M values, not the "24M" of the course summary line.
    assert sum(values) + 3 * 224 * 224 == 15_237_608
    assert a.totals["macs"] == 15_470_264_320


def test_inception_naive_vs_bottleneck():
    naive = analyze(SPECS / "inception_naive.yaml")
    bottleneck = analyze(SPECS / "inception_bottleneck.yaml")
    assert naive.totals["macs"] == 854_196_224
    assert bottleneck.totals["macs"] == 271_351_808
    assert tuple(naive.layers.iloc[-1]["output_shape"]) == (1, 672, 28, 28)
    assert tuple(bottleneck.layers.iloc[-1]["output_shape"]) == (1, 480, 28, 28)


@pytest.mark.parametrize("channels,size,filters,padding,standard,separable", [
    (3, 7, 128, 0, (86_400, 3456), (10_275, 27 + 384)),                   # MobileNets §3.1 (eqs. 1-5), a first example
    (512, 14, 512, 1, (462_422_016, 2_359_296), (52_283_392, 266_752)),   # MobileNets Table 3
])
def test_depthwise_separable(channels, size, filters, padding, standard, separable):
    for flag, (macs, params) in ((False, standard), (True, separable)):
        spec = archprof.load_spec(SPECS / "separable.yaml", params=dict(channels=channels, size=size, filters=filters, padding=padding, separable=flag))
        a = analyze(spec)
        assert (a.totals["macs"], a.totals["params"]) == (macs, params)


@pytest.mark.parametrize("layer,params,flops,shape,nbytes", [
    ("fc", 784 * 256 + 256, 2 * 784 * 256 + 256, (256,), 256 * 4),
    ("conv", 256 * 9 + 256, 2 * 26 * 26 * 256 * 9 + 26 * 26 * 256, (256, 26, 26), 256 * 26 * 26 * 4),
    ("pool", 0, 14 * 14 * 3, (1, 14, 14), 14 * 14 * 4),  # 3 comparisons per 2x2 window
])
def test_course_exercise(layer, params, flops, shape, nbytes):
    a = analyze(archprof.load_spec(SPECS / "course_exercise.yaml", params={"layer": layer}))
    last = a.layers.iloc[-1]
    assert (a.totals["params"], a.totals["flops"]) == (params, flops)
    assert tuple(last["output_shape"][1:]) == shape and last["activation_bytes"] == nbytes


@pytest.mark.parametrize("source,size,layer", [
    ("vgg16", 212, "features.maxpool_5"),
    ("torchvision:alexnet", 195, "avgpool"),
    ("resnet18", 435, None),
    ("resnet50", 427, None),
    ("torchvision:resnet50", 427, "layer4.2.relu"),
])
def test_receptive_fields(source, size, layer):
    a = analyze(source)
    assert a.totals["receptive_field"]["size"] == [size, size]
    if layer:  # the named layer (VGG pool5, AlexNet's last pool) has it too
        assert rows(a)[layer]["rf_size"] == (size, size)


def test_receptive_field_of_dilated_anisotropic_conv():
    model = nn.Sequential(nn.Conv2d(3, 4, (3, 5), stride=(1, 2), dilation=(2, 1)), nn.Conv2d(4, 4, 3))
    rf = analyze(model, input_shape=(3, 32, 32)).totals["receptive_field"]
    # H: 1 + 2*2 = 5, then + 2*1 = 7; W: 1 + 4 = 5 (jump 2), then + 2*2 = 9.
    assert rf["size"] == [7, 9] and rf["jump"] == [1, 2]


def _flop_counter_macs(model: nn.Module, shape) -> int:
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, *shape, device="meta"))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name", ZOO)
def test_zoo_totals_match_independent_counts(name):
    a = analyze(name)
    model = archprof.build(name, device="meta").eval()
    assert a.totals["params"] == sum(p.numel() for p in model.parameters())
    assert a.totals["macs"] == _flop_counter_macs(model, a.input_shape)
    assert a.uncounted_ops == {}


PEERS = ["torchvision:resnet18", "torchvision:mobilenet_v3_small", "torchvision:densenet121", "torchvision:squeezenet1_0",
         "torchvision:shufflenet_v2_x1_0", "torchvision:regnet_y_400mf", "torchvision:mnasnet0_5", "torchvision:swin_t",
         "torchvision:vit_b_16", "timm:resnet26d", "timm:deit_tiny_patch16_224", "timm:convnext_atto"]


@pytest.mark.parametrize("source", PEERS)
def test_library_models_match_flop_counter(source):
    from archprof.analysis import build_on_meta
    from archprof.analysis.sources import open_source

    a = analyze(source)
    model = build_on_meta(open_source(source)).eval()
    assert a.totals["params"] == sum(p.numel() for p in model.parameters())
    assert a.totals["macs"] == _flop_counter_macs(model, a.input_shape)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "googlenet"])
def test_fvcore_agrees_once_its_extra_ops_are_removed(name):
    """fvcore counts one per MAC too, but adds batch norm and adaptive pooling (explained in the README)."""
    fvcore = pytest.importorskip("fvcore.nn")
    model = archprof.build(name).eval()
    a = analyze(name)
    counter = fvcore.FlopCountAnalysis(model, torch.randn(1, *a.input_shape)).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = counter.by_operator()
    extra = sum(v for k, v in by_op.items() if k in ("batch_norm", "adaptive_avg_pool2d", "upsample_nearest2d"))
    assert counter.total() - extra == a.totals["macs"]


def test_shared_weights_are_counted_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))

    a = analyze(Tied(), input_shape=(8,))
    assert a.totals["params"] == 8 * 8 + 2 * 8
    assert a.layers["params"].sum() == a.totals["params"]


def test_model_with_real_weights_is_not_touched():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    before = model[0].weight.clone()
    analyze(model, input_shape=(3, 16, 16))
    assert not model[0].weight.is_meta and torch.equal(model[0].weight, before)


def test_input_constraints():
    assert analyze("lenet5").input_constraints["min_size"] == [32, 32]
    assert analyze("lenet5").input_constraints["max_size"] == [35, 35]
    resnet = analyze("resnet50").input_constraints   # the README: any size from 1x1
    assert (resnet["fixed_size"], resnet["min_size"], resnet["max_size"], resnet["multiple_of"]) == (False, [1, 1], None, 1)
    assert analyze("torchvision:vit_b_16").input_constraints["fixed_size"] is True


def test_bad_input_size_names_the_layer():
    with pytest.raises(ArchprofError, match=r"layer 'c3'.*from 32x32 to 35x35"):
        analyze("lenet5", input_shape=(1, 8, 8))


def test_json_has_the_documented_fields():
    data = analyze("resnet18", batch=2, dtype="bf16").to_dict()
    assert {"schema_version", "source", "input_shape", "batch", "dtype", "totals", "input_constraints", "layers", "uncounted_ops"} <= set(data)
    assert {"params", "trainable_params", "macs", "flops", "activation_bytes", "peak_activation_bytes", "train_memory_bytes", "receptive_field"} <= set(data["totals"])
    row = data["layers"][0]
    assert {"name", "type", "input_shape", "output_shape", "params", "trainable_params", "macs", "flops", "activation_bytes", "receptive_field", "notes"} <= set(row)
    assert row["activation_bytes"] == 2 * 64 * 112 * 112 * 2  # batch 2, bf16


def test_meta_analysis_allocates_no_weights():
    """ConvNeXt-XL (350M params, 1.4 GB of fp32 weights) is analysed without allocating them."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    a = analyze("convnext_xlarge")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert a.totals["params"] > 340_000_000
    assert grown_mb < 300


def test_analysis_imports_neither_dynamo_sympy_nor_triton_and_leaves_torch_as_it_was():
    """They cost more than an analysis (archprof/_fast_meta.py); after one, torch works as before."""
    code = textwrap.dedent("""
        import sys
        from archprof.analysis import analyze
        from archprof.analysis.fast_meta import _guarded_functions
        for name in ("efficientnet_b0", "swin_t", "tnt_ti", "vit_b_16", "googlenet", "alexnet_paper"):
            analyze(name)
        for module in ("torch._dynamo", "torch.fx.experimental.symbolic_shapes", "sympy", "triton"):
            assert module not in sys.modules, f"an analysis imported {module}"
        guarded = _guarded_functions()
        assert len(guarded) > 100 and not any(hasattr(f, "__dynamo_disable") for f in guarded)
        import torch
        import torch.fx.experimental.symbolic_shapes as shapes
        import sympy
        assert hasattr(shapes, "ShapeEnv") and hasattr(sympy, "Symbol")
        torch.relu(torch.empty(2, device="meta"))  # outside an analysis torch's own guard runs again
        assert "torch._dynamo" in sys.modules
        from torch.utils import flop_counter  # still tells triton kernels from anything else
        assert not isinstance(torch.ops.aten.mm, flop_counter._JITFunction)
        try:
            from triton.runtime.jit import JITFunction
        except ImportError:
            pass
        else:
            assert isinstance(JITFunction.__new__(JITFunction), flop_counter._JITFunction)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


CONCRETE = [True, False, 0, 3, (2, 3), [2, 3], torch.Size([2, 3]), (), [1, (2, 3)]]


def _outcome(fn, *args):
    try:
        value = fn(*args)
        return "value", type(value), value
    except Exception as exc:  # noqa: BLE001 - the stand-in must fail the same way
        return "error", type(exc), None


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("name", ["expect_true", "guard_or_false", "guard_or_true", "guard_size_oblivious",
                                  "statically_known_true", "guarding_hint_or_throw", "has_guarding_hint",
                                  "is_nested_int", "sym_and", "sym_or", "sym_eq"])
def test_symbolic_shapes_stand_in_answers_as_torch(name):
    """The stand-in used during analyses gives torch's answers (or errors) for concrete values."""
    import itertools

    import torch.fx.experimental.symbolic_shapes as real

    from archprof.analysis.fast_meta import _ConcreteShapes

    ours, theirs = getattr(_ConcreteShapes, name), getattr(real, name)
    for value in CONCRETE:
        assert _outcome(ours, value) == _outcome(theirs, value), (name, value)
    if name.startswith("sym_"):
        for a, b in itertools.product(CONCRETE, repeat=2):
            assert _outcome(ours, a, b) == _outcome(theirs, a, b), (name, a, b)


def test_squeeze_excitation_gates_keep_the_convolutional_receptive_field():
    """An SE gate scales the map with a global value: the headline is the convolutional field of
    the last spatial layer, marked as gated, not the field just before the first gate."""
    a = analyze("efficientnet_b0")
    rf = a.totals["receptive_field"]
    assert rf["layer"] == "features.8.silu" and rf["gated"] and rf["size"][0] > 224 and rf["jump"] == [32, 32]
    rows = {r["name"]: r for r in a.records}
    assert rows["features.8.silu"]["receptive_field"].endswith("+gate")
    plain = analyze("resnet50").totals["receptive_field"]
    assert plain["gated"] is False and plain["size"] == [427, 427]
