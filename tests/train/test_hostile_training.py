"""Training, evaluation and benchmarks refuse what cannot work, in one line and before building
anything: models that cannot fit, unreadable or one-class data, a run folder in use; and a run
killed at any point resumes to complete files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archprof", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_line(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert message in proc.stderr, proc.stderr


HUGE = "input: [1, 32, 32]\nparams: {num_classes: 10}\nlayers:\n  - {op: conv, out: 1000000, kernel: 3, padding: 1}\n" \
       "  - {op: adaptive_avgpool}\n  - {op: flatten}\n  - {op: linear, out: num_classes}\n"


def test_a_model_that_cannot_fit_is_refused_before_it_is_built(tmp_path):
    (tmp_path / "huge.yaml").write_text(HUGE)
    began = time.perf_counter()
    proc = cli(["train", "huge.yaml", "--data", "digits", "--batch-size", "64"], tmp_path)
    one_line(proc, "training huge at batch 64 needs about")
    assert "is free on cpu; use a smaller --batch-size" in proc.stderr or "even batch 1 does not fit" in proc.stderr
    assert time.perf_counter() - began < 60 and not (tmp_path / "runs").exists()
    bench = cli(["bench", "huge.yaml", "--device", "cpu", "--batch-size", "64", "--mode", "train"], tmp_path)
    one_line(bench, "benchmarking huge (train) at batch 64 needs about")


def _images(folder: Path, classes: dict[str, int], size: int = 12) -> None:
    from PIL import Image

    for name, count in classes.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("RGB", (size, size), (40 * i % 255, 80, 120)).save(folder / name / f"{i}.jpg")


def test_unreadable_images_are_refused_or_left_out(tmp_path):
    data = tmp_path / "data"
    _images(data, {"cat": 6, "dog": 6})
    good = (data / "cat" / "0.jpg").read_bytes()
    (data / "cat" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (data / "dog" / "notes.png").write_bytes(b"this is not a picture")
    refused = cli(["train", "resnet18", "--data", f"imagefolder:{data}", "--input", "3x32x32", "--epochs", "1"], tmp_path)
    one_line(refused, "2 of 14 images cannot be read")
    assert "truncated.jpg" in refused.stderr and "--bad-images skip" in refused.stderr
    skipped = cli(["train", "lenet5", "--data", f"imagefolder:{data}", "--epochs", "1", "--batch-size", "4", "--bad-images", "skip",
                   "--out", "run"], tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "left out 2 of 14 images that cannot be read" in skipped.stderr


def test_a_decompression_bomb_is_refused(tmp_path):
    from PIL import Image

    data = tmp_path / "data"
    _images(data, {"a": 3, "b": 3})
    Image.new("1", (20000, 20000)).save(data / "a" / "bomb.png")   # 400 M pixels: PIL's bomb limit is 179 M
    one_line(cli(["train", "lenet5", "--data", f"imagefolder:{data}"], tmp_path), "bomb.png (decompression bomb)")


def test_one_class_is_refused(tmp_path):
    data = tmp_path / "data"
    _images(data, {"only": 8})
    one_line(cli(["train", "lenet5", "--data", f"imagefolder:{data}"], tmp_path), "only one class (only); classification needs at least two")


def test_too_few_images_to_split_are_refused(tmp_path):
    data = tmp_path / "data"
    _images(data, {"a": 2, "b": 2, "c": 2})   # 6 images: 2 held out, fewer than the 3 classes
    one_line(cli(["train", "lenet5", "--data", f"imagefolder:{data}"], tmp_path), "6 images in 3 classes are too few for a stratified 80/20 split")


def test_a_run_folder_in_use_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX); "
                               "f.write('4242'); f.flush(); print('held', flush=True); time.sleep(120)", str(out / ".archprof-train.lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()
        one_line(cli(["train", "lenet5", "--data", "digits", "--epochs", "1", "--out", str(out)], tmp_path),
                 "another archprof train is using this run folder (pid 4242)")
    finally:
        holder.kill()
        holder.wait()


def test_resume_completes_a_run_that_died_in_its_last_epoch(tmp_path):
    from archprof.train import checkpoint

    out = tmp_path / "run"
    first = cli(["train", "lenet5", "--data", "digits", "--epochs", "2", "--out", str(out)], tmp_path)
    assert first.returncode == 0, first.stderr
    history = json.loads((out / "history.json").read_text())
    best_epoch = max(range(2), key=lambda i: (history[i]["val_acc"], i))
    # as a run of an earlier version that died after last.safetensors of its final epoch: one epoch short
    (out / "history.json").write_text(json.dumps(history[:1]))
    (out / "curves.png").unlink()
    if best_epoch == 1:
        (out / "best.safetensors").unlink()
    resumed = cli(["train", "lenet5", "--data", "digits", "--epochs", "2", "--out", str(out), "--resume"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "already finished its 2 epochs" in resumed.stderr and "epoch 3/2" not in resumed.stderr
    assert len(json.loads((out / "history.json").read_text())) == 2 and (out / "curves.png").is_file()
    assert checkpoint.load(out / "best.safetensors")[1]["epoch"] == best_epoch


def test_weights_and_data_are_checked_before_the_model_is_built(tmp_path):
    (tmp_path / "random.bin").write_bytes(os.urandom(4096))
    began = time.perf_counter()
    one_line(cli(["eval", "lenet5", "--weights", "random.bin", "--data", "digits"], tmp_path),
             "random.bin: not a weights file (neither safetensors nor a torch checkpoint)")
    one_line(cli(["eval", "lenet5", "--weights", str(tmp_path), "--data", "digits"], tmp_path), "is a folder, not a weights file")
    assert time.perf_counter() - began < 30
