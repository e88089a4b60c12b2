"""`archprof bench` on the CPU, its profiler output, its user errors, and the snapshot gate.

The GPU code paths (CUDA events, max_memory_allocated, the peak table, the bf16 probe) run in the
GPU session: benchmarks/test_gpu_throughput.py and the commands in README.md's Benchmarks section.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import archprof
from archprof.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_schedule(monkeypatch):
    """A short CPU schedule for tests about outputs rather than timings."""
    from archprof.bench import options, runner

    monkeypatch.setattr(runner, "CPU_SCHEDULE", options.Schedule(warmup_steps=1, warmup_s=0.0, min_steps=3, min_s=0.0, max_steps=3))


def _bench(args: list[str]) -> dict:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def test_profile_writes_a_trace_and_an_operator_table(tmp_path, short_schedule):
    out = tmp_path / "prof"
    data = _bench(["bench", "lenet5", "--device", "cpu", "--batch-size", "2", "--no-latency", "--format", "json", "--profile", str(out)])
    traces = list(out.glob("*.pt.trace.json"))
    assert len(traces) == 1 and data["profile"]["trace"] == str(traces[0])
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temporary trace folder left behind"
    trace = json.loads(traces[0].read_text())
    events = trace["traceEvents"]
    ops = [e for e in events if e.get("cat") in ("cpu_op", "kernel") and str(e.get("name", "")).startswith("aten::")]
    assert any("conv" in e["name"] for e in ops), "no convolution operator in the trace"
    ranges = {e["name"] for e in events if e.get("cat") == "user_annotation"}
    assert {"archprof.layer::c1", "archprof.layer::f6"} <= ranges
    summary = Path(data["profile"]["summary"])
    assert summary.parent == out and summary.suffix == ".md"
    text = summary.read_text()
    assert "### Top operators by self time" in text and "aten::" in text
    assert "### Analyser FLOPs by kind" in text and "| conv" in text and "ridge point" in text
    assert "### Layers by time" in text and "| c3 " in text
    assert data["peak"]["ridge_flop_per_byte"] > 0


def test_timm_protocol_on_the_cpu():
    data = _bench(["bench", "lenet5", "--device", "cpu", "--batch-size", "2", "--timm-compat", "--mode", "both", "--no-latency",
                   "--format", "json"])
    assert data["fingerprint"]["protocol"] == "timm"
    for run in data["runs"]:
        assert run["steps"] == 40 and run["warmup_steps"] == 10
        assert run["timm_samples_per_sec"] == pytest.approx(run["images_per_s_wall"])
    assert [r["mode"] for r in data["runs"]] == ["infer", "train"]
    assert data["runs"][1]["achieved_flops"] == pytest.approx(3 * data["runs"][1]["images_per_s"] * data["flops_per_image"])


@pytest.mark.parametrize("args,message", [
    (["bench", "no_such_model", "--device", "cpu"], "no spec file or bundled spec named 'no_such_model'"),
    (["bench", "torchvision:resnet_nope", "--device", "cpu"], "torchvision has no model 'resnet_nope'"),
    (["bench", "lenet5", "--batch-size", "0"], "must be a positive integer or 'auto', got 0"),
    (["bench", "lenet5", "--batch-size", "many"], "must be a positive integer or 'auto', got 'many'"),
    (["bench", "lenet5", "--device", "tpu"], "--device must be cuda, cuda:N or cpu"),
    (["bench", "lenet5", "--device", "cpu", "--precision", "tf32"], "--precision tf32 needs a CUDA device"),
    (["bench", "lenet5", "--compile", "fastest"], "'fastest' is not one of"),
])
def test_bad_arguments_are_one_line_errors(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    text = result.output.strip()
    assert "\n" not in text and "Traceback" not in text, text
    assert text.startswith("archprof: error:") and message in text, text


def test_cuda_without_a_gpu_is_a_one_line_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    proc = subprocess.run([sys.executable, "-m", "archprof", "bench", "lenet5", "--device", "cuda"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "--device cuda: CUDA is not available" in proc.stderr


def test_bench_help_does_not_import_torch():
    code = ("import sys; from archprof.cli import main; sys.argv=['archprof','bench','--help']\n"
            "try: main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name,entry", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA H200 NVL", "H200 NVL"), ("NVIDIA A100-SXM4-80GB", "A100 80GB"),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"), ("NVIDIA A100-PCIE-40GB", "A100 40GB"), ("NVIDIA L4", "L4"),
    ("NVIDIA L40S", "L40S"), ("NVIDIA A10", "A10"), ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla T4", "T4"), ("NVIDIA A10G", None), ("NVIDIA B200", None),
])
def test_device_peak_table(name, entry):
    from archprof.bench import device_peak

    found = device_peak(name)
    assert (found.name if found else None) == entry
    if found:
        assert found.tflops["fp32"] > 0 and found.bandwidth_gbs > 0
        assert found.tflops.get("bf16", found.tflops["fp16"]) >= found.tflops["fp32"]


def test_percentiles_and_throughput_summary():
    from archprof.bench import Timing, percentile

    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0], 10) == pytest.approx(1.1)
    s = Timing([0.1, 0.2, 0.4, 0.2, 0.2], wall_s=1.1, warmup_steps=2).summary(batch=8)
    assert s["images_per_s"] == pytest.approx(40.0) and s["steps"] == 5
    assert s["images_per_s_p10"] < s["images_per_s"] < s["images_per_s_p90"]


def test_auto_batch_sweep_stops_when_throughput_saturates_or_memory_runs_out(monkeypatch):
    """The sweep logic on synthetic measurements: powers of two, stop after two doublings under +5%
    or at the first out-of-memory error, and report the smallest batch within 5% of the best."""
    from archprof.bench import options, runner

    curve = {1: 10.0, 2: 20.0, 4: 38.0, 8: 60.0, 16: 61.0, 32: 62.0, 64: 63.0}

    def fake(work, mode, batch, schedule, *, per_step_sync):
        if batch > 16 and mode == "train":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return {"mode": mode, "batch": batch, "images_per_s": curve[batch]}

    monkeypatch.setattr(runner, "measure", fake)
    work = type("W", (), {"device": torch.device("cpu"), "compile": None, "model": torch.nn.Linear(1, 1)})()
    totals = {"weight_bytes": 0, "peak_activation_bytes": 0, "train_memory_sgd_bytes": 0, "saved_activation_bytes": 0}
    notes: list[str] = []
    points = runner.sweep(work, "infer", options.CPU_SCHEDULE, totals, notes)
    assert [p["batch"] for p in points] == [1, 2, 4, 8, 16, 32]
    assert [p["batch"] for p in points if p["saturation"]] == [8]
    points = runner.sweep(work, "train", options.CPU_SCHEDULE, totals, notes)
    assert [p["batch"] for p in points] == [2, 4, 8, 16] and notes == ["train sweep: out of memory at batch 32"]


def _gate(spec: Path, baselines: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "benchmarks" / "test_snapshots.py"), "--spec", str(spec),
           "--snapshot-dir", str(baselines), "-p", "no:cacheprovider", "-q", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_snapshot_gate_fails_on_a_changed_conv_width_and_rebless_fixes_it(tmp_path):
    from archprof.spec import find

    spec = tmp_path / "specs" / "lenet5.yaml"
    spec.parent.mkdir()
    text = find("lenet5").read_text()
    spec.write_text(text)
    baselines = tmp_path / "baselines"
    baselines.mkdir()
    from archprof.gate.check import GateOptions, run_gate

    # the first baseline in-process (the gate's own code), to spare one pytest start
    assert run_gate(str(spec), GateOptions(baselines, bless=True), name="lenet5").status == "written"

    old = "{name: c3, op: conv, out: 16, kernel: 5}"
    assert old in text
    spec.write_text(text.replace(old, "{name: c3, op: conv, out: 20, kernel: 5}"))
    failed = _gate(spec, baselines)
    out = failed.stdout
    assert failed.returncode == 1, out + failed.stderr
    assert "lenet5: the analysis differs from" in out
    assert "params 61,706 -> 74,310 (+12,604)" in out                     # totals first
    assert "~ c3 (Conv2d): output '1x16x10x10' -> '1x20x10x10'; params 2,416 -> 3,020 (+604)" in out
    assert "~ c5 (Conv2d): params 48,120 -> 60,120 (+12,000)" in out    # the next conv sees 20 input channels
    assert "python -m pytest benchmarks --bless" in out

    reblessed = _gate(spec, baselines, "--bless")
    assert reblessed.returncode == 0, reblessed.stdout
    passed = _gate(spec, baselines)
    assert passed.returncode == 0, passed.stdout


def test_report_dir_writes_the_file_archprof_report_reads(tmp_path, short_schedule):
    from archprof.report import load_result

    out = tmp_path / "bench"
    _bench(["bench", "lenet5", "--device", "cpu", "--batch-size", "2", "--mode", "both", "--format", "json", "--report-dir", str(out)])
    record = load_result(out / "lenet5.json", "lenet5")
    assert record["device"]["type"] == "cpu" and record["spec_hash"] == archprof.load_spec("lenet5").digest()
    assert [r["mode"] for r in record["results"]] == ["inference", "training"]
    assert record["results"][0]["throughput"] > 0 and record["results"][0]["latency_ms"] > 0
    assert record["command"].startswith("archprof bench lenet5 --device=cpu")
    # a second run with another batch keeps the first one's records (same device fingerprint)
    _bench(["bench", "lenet5", "--device", "cpu", "--batch-size", "4", "--no-latency", "--format", "json", "--report-dir", str(out)])
    batches = [(r["mode"], r["batch"]) for r in load_result(out / "lenet5.json", "lenet5")["results"]]
    assert batches == [("inference", 2), ("training", 2), ("inference", 4)]
    result = CliRunner().invoke(main, ["bench", "torchvision:resnet18", "--device", "cpu", "--report-dir", str(out)])
    assert result.exit_code == 2 and "records specs only" in result.output
