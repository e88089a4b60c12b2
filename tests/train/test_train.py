"""Training, checkpoints, resume, distributed training, evaluation and safe weight loading."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import archprof
from archprof.train import checkpoint
from archprof.errors import ArchprofError
from archprof.train.evaluate import evaluate
from archprof.train import TrainConfig, train

from conftest import ZOO

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def cli(*args: str, timeout: int = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, timeout=timeout, env=ENV, **kwargs)


def test_lenet5_reaches_the_course_accuracy_on_mnist5k(tmp_path):
    """`archprof train lenet5 --data mnist5k` (the spec's fast recipe) beats the course's 96.5%."""
    began = time.perf_counter()
    proc = cli("train", "lenet5", "--data", "mnist5k", "--out", str(tmp_path))
    seconds = time.perf_counter() - began
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["val_acc"] >= 0.965, summary
    assert seconds < 180
    assert {"last.safetensors", "best.safetensors", "history.json", "curves.png"} <= {p.name for p in tmp_path.iterdir()}
    print(f"lenet5 on mnist5k: {summary['val_acc']:.2%} held-out accuracy in {seconds:.0f} s")


def _history(folder: Path) -> list[dict]:
    return json.loads((folder / "history.json").read_text())


def test_killed_run_resumes_to_the_same_result(tmp_path):
    args = ["train", "lenet5", "--data", "digits", "--epochs", "4", "--batch-size", "16", "--lr", "0.02"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert cli(*args, "--out", str(straight)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "archprof", *args, "--out", str(killed)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "history.json").exists() and time.time() < deadline:  # written after epoch 1's checkpoint
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-way through epoch 2 (or later): no chance to clean up
    proc.wait()
    _, meta = checkpoint.load(killed / "last.safetensors")  # the checkpoint left behind is whole
    assert 0 <= meta["epoch"] < 3  # epochs counted from 0: the run stopped before its last epoch
    resumed = cli(*args, "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    a, b = _history(straight), _history(killed)
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert x["val_acc"] == y["val_acc"]
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-6)


def test_torchrun_two_cpu_processes_match_one(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    assert torchrun, "torchrun is installed with torch"
    args = ["train", "lenet5", "--data", "digits", "--epochs", "2", "--batch-size", "32", "--lr", "0.02", "--device", "cpu"]
    single = cli(*args, "--out", str(tmp_path / "one"))
    assert single.returncode == 0, single.stderr
    proc = subprocess.run([torchrun, "--nproc-per-node", "2", "--master-port", "29517", "-m", "archprof", *args, "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, timeout=600, env=ENV)
    assert proc.returncode == 0, proc.stderr[-2000:]
    one, two = _history(tmp_path / "one"), _history(tmp_path / "two")
    for x, y in zip(one, two):
        assert x["train_loss"] == pytest.approx(y["train_loss"], rel=1e-4)
        assert abs(x["val_acc"] - y["val_acc"]) <= 2 / 360  # at most two of the 360 held-out digits flip
    w1 = checkpoint.model_state(checkpoint.load(tmp_path / "one" / "last.safetensors")[0])
    w2 = checkpoint.model_state(checkpoint.load(tmp_path / "two" / "last.safetensors")[0])
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-4


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet")
    result = train(archprof.load_spec("lenet5"), "digits", TrainConfig(epochs=2, batch_size=32, lr=0.05, device="cpu"), out)
    return out, result


def test_eval_reports_consistent_metrics(trained, tmp_path):
    out, result = trained
    ev = evaluate(archprof.load_spec("lenet5"), out / "last.safetensors", "digits", out=tmp_path, tsne=True)
    assert ev.top1 == pytest.approx(result.final.val_acc)
    assert ev.top5 >= ev.top1
    assert len(ev.per_class) == 10 and sum(c["support"] for c in ev.per_class) == ev.images == 360
    assert sum(map(sum, ev.confusion)) == 360
    assert ev.f1 == pytest.approx(sum(c["f1"] for c in ev.per_class) / 10)
    assert (tmp_path / "confusion.png").stat().st_size > 0 and (tmp_path / "tsne.png").stat().st_size > 0
    ten = evaluate(archprof.load_spec("lenet5"), out / "last.safetensors", "digits", ten_crop=True, tsne=True, out=tmp_path / "ten")
    assert 0.1 < ten.top1 <= 1.0
    assert (tmp_path / "ten" / "tsne.png").stat().st_size > 0   # one feature row per image, the mean over its ten crops


def test_eval_cli_and_weight_file_untouched(trained):
    out, _ = trained
    weights = out / "best.safetensors"
    before = hashlib.sha256(weights.read_bytes()).hexdigest()
    proc = cli("eval", "lenet5", "--weights", str(weights), "--data", "digits", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["images"] == 360
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == before


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch archprof_pwned",))


def test_eval_refuses_code_in_pickles(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(pickle.dumps({"c1.weight": _Payload()}))
    proc = cli("eval", "lenet5", "--weights", str(bad), "--data", "digits", cwd=tmp_path)
    assert proc.returncode == 2
    assert "refused" in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "archprof_pwned").exists()


def test_eval_reports_every_mismatching_tensor(tmp_path):
    model = archprof.build(archprof.load_spec("lenet5", params={"num_classes": 10}))
    state = model.state_dict()
    state["c1.weight"] = torch.zeros(8, 1, 5, 5)
    del state["f6.bias"]
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(ArchprofError, match=r"c1\.weight: shape \(8, 1, 5, 5\) in the file, \(6, 1, 5, 5\).*f6\.bias: missing|f6\.bias: missing.*c1\.weight"):
        evaluate(archprof.load_spec("lenet5"), path, "digits")


@pytest.fixture(scope="module")
def trainability_sweep():
    """Every zoo spec's check, one family per task in a pool of processes (one per core, one thread
    each: small models train faster that way), so that variants sharing a network share its run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from archprof.train.trainability import one_thread, run_all

    families: dict[str, list[str]] = {}
    for name in ZOO:
        families.setdefault(archprof.load_spec(name).family or name, []).append(name)
    groups = sorted(families.values(), key=len, reverse=True)  # the big families first
    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=one_thread) as pool:
        return {name: result for done in pool.map(run_all, groups) for name, result in done.items()}


@pytest.mark.parametrize("name", ZOO)
def test_every_spec_learns(name, trainability_sweep):
    """A small setting of each spec (its `trainability` section) learns the digits within a few hundred steps."""
    result = trainability_sweep[name]
    assert result.last_loss < result.first_loss
    assert result.accuracy >= result.bar, result


@pytest.mark.parametrize("name,params,shape", [
    ("convnext_tiny", {"dims": [16, 32, 64, 128]}, (3, 32, 32)),        # AdamW, warm-up, RandAugment, Mixup/CutMix, erasing, EMA, drop path
    ("alexnet_paper", {"widths": [16, 32, 48, 32, 32], "fc_width": 64, "resolution": 95}, None),  # SGD, crops, flips, PCA lighting
])
def test_paper_recipes_run(tmp_path, name, params, shape):
    spec = archprof.load_spec(name, params=params)
    config = TrainConfig.from_recipe(spec.recipe["paper"], epochs=1, batch_size=16, steps_per_epoch=3, device="cpu")
    result = train(spec, "digits", config, tmp_path, input_shape=shape)
    assert len(result.history) == 1 and result.final.train_loss == result.final.train_loss  # finite, not NaN


def test_eval_uses_the_input_size_the_checkpoint_was_trained_at(tmp_path):
    """A network trained at 64x64 (not its declared 224) is evaluated at 64x64: the same held-out
    accuracy as training measured, the files it wrote named, no top-5 for fewer than six classes."""
    spec = archprof.load_spec("resnet18", params={"base_width": 8})
    result = train(spec, "digits", TrainConfig(epochs=1, batch_size=32, lr=0.01, steps_per_epoch=8, device="cpu"), tmp_path,
                   input_shape=(3, 64, 64))
    ev = evaluate(spec, tmp_path / "last.safetensors", "digits")
    assert ev.input_shape == [3, 64, 64]
    assert ev.top1 == pytest.approx(result.final.val_acc)
    proc = cli("eval", "resnet18", "--param", "base_width=8", "--weights", str(tmp_path / "last.safetensors"),
               "--data", "digits", "--input", "3x48x48", "--out", str(tmp_path / "eval"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["input_shape"] == [3, 48, 48]
    assert f"wrote {tmp_path / 'eval' / 'confusion.png'}" in proc.stderr


def test_training_says_what_it_trains_on_first(tmp_path):
    proc = cli("train", "lenet5", "--data", "digits", "--epochs", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stderr.splitlines()[:2]
    assert first == "data digits: 10 classes, 1,437 training and 360 held-out images (a fixed stratified 80/20 split, seed 0)"
    assert second.startswith("model lenet5: 61,706 parameters, input 1x32x32, on cpu")
