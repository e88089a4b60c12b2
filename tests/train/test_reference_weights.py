"""The reference's own weight files on ImageNet-laid-out images: the same top-5 per image as the
library itself, measured accuracy rows in verify, and one-line refusals of what does not fit."""
from __future__ import annotations

import csv
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import archprof
from archprof.errors import ArchprofError
from archprof.spec.load import bundled_dir
from archprof.train import checkpoint
from archprof.train.evaluate import evaluate
from archprof.train.imagenet import imagenet_samples, synsets
from archprof.verify.accuracy import printed_precision, wilson

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2"}
TORCHVISION_FILE = "resnet18-f37072fd.pth"   # ResNet18_Weights.IMAGENET1K_V1's file name
TIMM_TAG = "mobilenetv1_100.ra4_e3600_r224_in1k"
CORRECT = 5   # of the 8 images, labelled as the reference predicts


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archprof", *args], capture_output=True, text=True, timeout=600, env=ENV, cwd=cwd)


def one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in proc.stderr, proc.stderr


def _images(folder: Path) -> list[Path]:
    """Eight small photographs' worth of structure: gradients, stripes, blobs and noise, in sizes
    and aspect ratios a resize and centre crop must handle, as JPEG and PNG."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    paths = []
    for i in range(8):
        h, w = int(rng.integers(160, 360)), int(rng.integers(160, 360))
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        base = np.stack([np.sin(xx * (i + 1) * 6), np.cos(yy * (i + 2) * 4), np.sin((xx + yy) * (9 - i))], -1)
        pixels = ((base * 0.5 + 0.5) * 200 + rng.normal(0, 20, (h, w, 3))).clip(0, 255).astype(np.uint8)
        path = folder / f"ILSVRC2012_val_{i + 1:08d}.{'JPEG' if i % 3 else 'png'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _calibrated(model: torch.nn.Module, transform, paths: list[Path]) -> torch.nn.Module:
    """Random weights with batch-norm statistics of these images (one pass in training mode), so
    that the logits depend on the image and have no near-ties in their top five."""
    from PIL import Image

    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None    # a plain average over the pass
    with torch.no_grad():
        model.train()(torch.stack([transform(Image.open(p).convert("RGB")) for p in paths]))
    return model.eval()


def _top5(model: torch.nn.Module, transform, paths: list[Path]) -> dict[str, list[int]]:
    """The reference run by itself: its library's transform on each file, its own forward pass."""
    from PIL import Image

    with torch.no_grad():
        batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
        return {str(p): row for p, row in zip(paths, model(batch).topk(5, 1).indices.tolist())}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Weights of both libraries in their own formats, and the images laid out like ImageNet's
    validation set: a folder per WordNet id, CORRECT images in the folder of the class the
    torchvision reference predicts for them, the others elsewhere."""
    import timm
    import torchvision
    from safetensors.torch import save_file

    root = tmp_path_factory.mktemp("imagenet")
    staged = _images(root / "staged")
    weights = root / "weights"
    (weights / TIMM_TAG).mkdir(parents=True)
    tv_transform = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    tv = _calibrated(torchvision.models.resnet18(), tv_transform, staged)
    torch.save(tv.state_dict(), weights / TORCHVISION_FILE)
    tm = timm.create_model(TIMM_TAG, pretrained=False)
    timm_transform = timm.data.create_transform(**timm.data.resolve_model_data_config(tm), is_training=False)
    tm = _calibrated(tm, timm_transform, staged)
    save_file(tm.state_dict(), str(weights / TIMM_TAG / "model.safetensors"))
    by_name = {Path(p).name: t for p, t in _top5(tv, tv_transform, staged).items()}
    wnids = synsets()[0]
    val, labels = root / "val", {}
    for i, path in enumerate(staged):
        top = by_name[path.name]
        label = top[0] if i < CORRECT else (top[0] + 500) % 1000
        target = val / wnids[label] / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        labels[str(target)] = label
    tv_top5 = {p: by_name[Path(p).name] for p in labels}
    tm_top5 = _top5(tm, timm_transform, [Path(p) for p in labels])
    return {"root": root, "val": val, "weights": weights, "labels": labels, "top5": {"resnet18": tv_top5, "mobilenet_v1": tm_top5}}


def _predictions(path: Path) -> dict[str, dict]:
    with path.open() as handle:
        return {row["path"]: row for row in csv.DictReader(handle)}


@pytest.mark.parametrize("spec,file", [("resnet18", TORCHVISION_FILE), ("mobilenet_v1", f"{TIMM_TAG}/model.safetensors")])
def test_reference_weights_give_the_reference_top5_per_image(world, spec, file, tmp_path):
    """The library's own file, evaluated through the spec with the library's own preprocessing,
    ranks the same five classes first for every image as the library's model does."""
    out = tmp_path / "predictions.csv"
    proc = cli("eval", spec, "--weights", str(world["weights"] / file), "--data", f"imagenet:{world['val']}",
               "--preprocess", "reference", "--predictions", str(out), "--format", "json", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["images"] == 8 and summary["preprocess"].startswith("torchvision" if spec == "resnet18" else "timm")
    rows = _predictions(out)
    assert set(rows) == set(world["labels"])
    assert len({tuple(t) for t in world["top5"][spec].values()}) > 4   # the images are told apart: the comparison means something
    for path, row in rows.items():
        assert [int(row[f"top{j}"]) for j in range(1, 6)] == world["top5"][spec][path], path
        assert int(row["label"]) == world["labels"][path]
        probabilities = [float(row[f"prob{j}"]) for j in range(1, 6)]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001


def test_top1_counts_the_images_labelled_as_predicted(world):
    ev = evaluate(archprof.load_spec("resnet18"), world["weights"] / TORCHVISION_FILE, f"imagenet:{world['val']}", device="cpu")
    assert (ev.images, ev.correct) == (8, CORRECT) and ev.top1 == CORRECT / 8
    expected5 = sum(world["labels"][p] in top for p, top in world["top5"]["resnet18"].items())
    assert ev.correct5 == expected5 and ev.of == 8 and not ev.subset


def test_training_checkpoint_wrappers_and_prefixes_are_unwrapped(world, tmp_path):
    """{'model': {'module.conv1.weight': ...}, 'epoch': ...}, as DDP training scripts save, loads like the plain file."""
    state = torch.load(world["weights"] / TORCHVISION_FILE, weights_only=True)
    wrapped = tmp_path / "checkpoint_epoch90.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 90}, wrapped)
    ev = evaluate(archprof.load_spec("resnet18"), wrapped, f"imagenet:{world['val']}", device="cpu")
    assert ev.correct == CORRECT and ev.preprocess.startswith("torchvision ResNet18_Weights.IMAGENET1K_V1")


def test_flat_images_with_a_labels_file_read_as_the_folder_layout(world, tmp_path):
    """Caffe's val.txt (FILE INDEX) and Kaggle's LOC_val_solution.csv label the same images the same way."""
    wnids = synsets()[0]
    for name, line in (("val.txt", "{file} {label}"), ("LOC_val_solution.csv", "{stem},{wnid} 1 2 3 4")):
        flat = tmp_path / name.split(".")[0]
        flat.mkdir()
        lines = ["ImageId,PredictionString"] if name.endswith(".csv") else []
        for path, label in world["labels"].items():
            (flat / Path(path).name).write_bytes(Path(path).read_bytes())
            lines.append(line.format(file=Path(path).name, stem=Path(path).stem, label=label, wnid=wnids[label]))
        (flat / name).write_text("\n".join(lines) + "\n")
        ev = evaluate(archprof.load_spec("resnet18"), world["weights"] / TORCHVISION_FILE, f"imagenet:{flat}", device="cpu")
        assert (ev.images, ev.correct) == (8, CORRECT), name


def _user_spec(folder: Path, top1: float, top5: float) -> Path:
    """resnet18 with accuracy figures this test chose, measured by the torchvision weights."""
    path = folder / f"my_resnet18_{top1:g}.yaml"
    path.write_text(f"extends: {bundled_dir() / 'resnet18.yaml'}\nfigures:\n"
                    f"  - {{metric: top1, value: {top1}, unit: '%', weights: ResNet18_Weights.IMAGENET1K_V1, source: a test}}\n"
                    f"  - {{metric: top5, value: {top5}, unit: '%', source: torchvision ResNet18_Weights.IMAGENET1K_V1}}\n")
    return path


def test_verify_turns_accuracy_figures_into_measured_rows(world, tmp_path):
    top1 = round(100 * CORRECT / 8, 3)
    top5 = round(100 * sum(world["labels"][p] in t for p, t in world["top5"]["resnet18"].items()) / 8, 3)
    args = ["--weights-dir", str(world["weights"]), "--data", f"imagenet:{world['val']}", "--no-equivalence", "--format", "json",
            "--device", "cpu"]

    proc = cli("verify", str(_user_spec(tmp_path, top1, top5)), *args)
    assert proc.returncode == 0, proc.stderr
    rows = {r["check"]: r for r in json.loads(proc.stdout)}
    assert rows["top1"]["status"] == rows["top5"]["status"] == "PASS", rows
    assert rows["top1"]["ours"].startswith(f"{top1:.3f}% ({CORRECT}/8)")
    assert "ResNet18_Weights.IMAGENET1K_V1.transforms()" in rows["top1"]["note"]

    proc = cli("verify", str(_user_spec(tmp_path, top1 + 0.01, top5)), *args)   # one hundredth of a point away
    assert proc.returncode == 1
    rows = {r["check"]: r for r in json.loads(proc.stdout)}
    assert (rows["top1"]["status"], rows["top5"]["status"]) == ("FAIL", "PASS")

    proc = cli("verify", str(_user_spec(tmp_path, top1, top5)), *args, "--limit", "4")
    assert proc.returncode == 0, proc.stderr
    rows = {r["check"]: r for r in json.loads(proc.stdout)}
    assert rows["top1"]["status"] == "ESTIMATE" and "95% CI" in rows["top1"]["ours"] and "4 of 8 images" in rows["top1"]["note"]


def test_verify_measures_the_zoo_spec_itself(world):
    """`archprof verify resnet18 --weights-dir DIR --data imagenet:PATH`: the bundled spec's published
    69.758% is measured with these (random) weights, and honestly fails."""
    proc = cli("verify", "resnet18", "--weights-dir", str(world["weights"]), "--data", f"imagenet:{world['val']}",
               "--no-equivalence", "--format", "json", "--device", "cpu")
    assert proc.returncode == 1, proc.stderr
    rows = {r["check"]: r for r in json.loads(proc.stdout)}
    assert rows["top1"]["status"] == "FAIL" and rows["top1"]["ours"].startswith(f"{100 * CORRECT / 8:.3f}%")
    assert rows["top1"]["paper"] == "69.758%" and "its printed precision" in rows["top1"]["tolerance"]
    assert "resnet18 top1" in proc.stderr.splitlines()[-1]


def test_long_class_lists_show_the_worst_classes():
    from archprof.cli.train import _per_class

    rows = [{"class": f"c{i}", "precision": 0.5, "recall": i / 40, "f1": 0.5, "support": 1} for i in range(40)]
    shown, title = _per_class(rows)
    assert [r["class"] for r in shown] == [f"c{i}" for i in range(10)] and title.startswith("the 10 of 40 classes")
    assert _per_class(rows[:5])[1] == "per class"


def test_verify_without_the_weights_file_keeps_the_figure_as_info(world, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("verify", "resnet18", "--weights-dir", str(empty), "--data", f"imagenet:{world['val']}", "--no-equivalence",
               "--format", "json")
    assert proc.returncode == 0, proc.stderr
    top1 = next(r for r in json.loads(proc.stdout) if r["check"] == "top1")
    assert top1["status"] == "INFO" and TORCHVISION_FILE in top1["note"]


def test_wrong_layouts_are_one_line(world, tmp_path):
    image = next(iter(world["labels"]))
    (tmp_path / "pets" / "cats").mkdir(parents=True)
    (tmp_path / "pets" / "cats" / "a.JPEG").write_bytes(Path(image).read_bytes())
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.JPEG").write_bytes(Path(image).read_bytes())
    (tmp_path / "devkit").mkdir()
    (tmp_path / "devkit" / "a.JPEG").write_bytes(Path(image).read_bytes())
    (tmp_path / "devkit" / "labels.txt").write_text("490\n")
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "a.JPEG").write_bytes(Path(image).read_bytes())
    (tmp_path / "garbled" / "val.txt").write_text("a.JPEG 0\na.JPEG tench\n")
    weights = str(world["weights"] / TORCHVISION_FILE)
    one_line_error(cli("eval", "resnet18", "--weights", weights, "--data", f"imagenet:{tmp_path / 'pets'}"),
                   "'cats' is not one of ImageNet-1k's WordNet ids")
    for data, needle in ((tmp_path / "flat", "images but no labels file"),
                         (tmp_path / "devkit", "labels.txt:1: a bare number per line is the devkit's ILSVRC2012_ID order"),
                         (tmp_path / "garbled", "val.txt:2: expected 'FILE LABEL'"),
                         (tmp_path / "missing", "no such folder")):
        with pytest.raises(ArchprofError, match=re.escape(needle)) as caught:
            imagenet_samples(str(data))
        assert "\n" not in str(caught.value)


def test_weights_of_another_architecture_are_one_line(world, tmp_path):
    import torchvision

    other = tmp_path / "resnet34-b627a593.pth"
    torch.save(torchvision.models.resnet34().state_dict(), other)
    data = f"imagenet:{world['val']}"
    one_line_error(cli("eval", "resnet18", "--weights", str(other), "--data", data),
                   "the file is named as torchvision ResNet34_Weights.IMAGENET1K_V1: weights of another architecture")
    one_line_error(cli("eval", "resnet18", "--weights", str(world["weights"] / TIMM_TAG / "model.safetensors"), "--data", data),
                   "weights of another architecture?")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch archprof_pwned",))


def test_weights_that_would_run_code_are_refused_in_one_line(world, tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / TORCHVISION_FILE).write_bytes(pickle.dumps({"conv1.weight": _Payload()}))
    data = f"imagenet:{world['val']}"
    one_line_error(cli("eval", "resnet18", "--weights", str(folder / TORCHVISION_FILE), "--data", data, cwd=tmp_path), "would run code")
    one_line_error(cli("verify", "resnet18", "--weights-dir", str(folder), "--data", data, "--no-equivalence", cwd=tmp_path),
                   "would run code")
    assert not (tmp_path / "archprof_pwned").exists()


def test_unknown_weights_name_in_a_figure_is_one_line(world, tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text(f"extends: {bundled_dir() / 'resnet18.yaml'}\nfigures:\n"
                    "  - {metric: top1, value: 70, unit: '%', weights: ResNet18_Weights.IMAGENET1K_V9, source: a test}\n")
    one_line_error(cli("verify", str(spec), "--weights-dir", str(world["weights"]), "--data", f"imagenet:{world['val']}",
                       "--no-equivalence"), "publishes no weights 'ResNet18_Weights.IMAGENET1K_V9' for resnet18")


def test_ten_crop_protocol_averages_ten_crops(world):
    ev = evaluate(archprof.load_spec("resnet18"), world["weights"] / TORCHVISION_FILE, f"imagenet:{world['val']}", device="cpu",
                  ten_crop=True)
    assert "ten crops 224" in ev.preprocess and ev.images == 8


def test_imagenet_data_is_for_evaluation_only(world, tmp_path):
    one_line_error(cli("train", "lenet5", "--data", f"imagenet:{world['val']}", "--epochs", "1", "--out", str(tmp_path / "run")),
                   "train on imagefolder:PATH")


def test_estimates_and_printed_precision():
    assert printed_precision(69.758) == pytest.approx(0.0005) and printed_precision(81.3) == pytest.approx(0.05)
    assert printed_precision(70.0) == pytest.approx(0.5)
    low, high = wilson(50, 100)
    assert low < 0.5 < high and high - low == pytest.approx(2 * 1.96 * 0.05, rel=0.05)


def test_reference_preprocessing_needs_a_reference_and_image_files(tmp_path):
    weights = tmp_path / "lenet5.pth"
    torch.save(archprof.build(archprof.load_spec("lenet5")).state_dict(), weights)
    with pytest.raises(ArchprofError, match="declares no reference"):
        evaluate(archprof.load_spec("lenet5"), weights, "digits", preprocess="reference")


def test_unreadable_images_refuse_the_run_or_are_left_out(world, tmp_path):
    import shutil

    data = tmp_path / "val"
    shutil.copytree(world["val"], data)
    first = next(iter(world["labels"]))
    broken = data / Path(first).parent.name / "broken.JPEG"
    broken.write_bytes(Path(first).read_bytes()[:300])
    spec, weights = archprof.load_spec("resnet18"), world["weights"] / TORCHVISION_FILE
    with pytest.raises(ArchprofError, match=r"broken\.JPEG cannot be read .*--bad-images skip") as caught:
        evaluate(spec, weights, f"imagenet:{data}", device="cpu")
    assert "\n" not in str(caught.value)
    ev = evaluate(spec, weights, f"imagenet:{data}", device="cpu", bad_images="skip")
    assert (ev.images, ev.correct, len(ev.left_out)) == (8, CORRECT, 1) and "broken.JPEG" in ev.left_out[0]


def test_a_predictions_file_that_cannot_be_written_is_refused_before_evaluating(world, tmp_path):
    with pytest.raises(ArchprofError, match="does not exist"):
        evaluate(archprof.load_spec("resnet18"), world["weights"] / TORCHVISION_FILE, f"imagenet:{world['val']}",
                 predictions=tmp_path / "missing" / "p.csv")


def test_kaggles_layout_finds_its_labels_four_folders_up(world, tmp_path):
    wnids = synsets()[0]
    images = tmp_path / "ILSVRC" / "Data" / "CLS-LOC" / "val"
    images.mkdir(parents=True)
    lines = ["ImageId,PredictionString"]
    for path, label in world["labels"].items():
        (images / Path(path).name).write_bytes(Path(path).read_bytes())
        lines.append(f"{Path(path).stem},{wnids[label]} 10 20 30 40")
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    samples, layout = imagenet_samples(str(images))
    assert len(samples) == 8 and "LOC_val_solution.csv" in layout


def test_labels_files_as_editors_save_them_and_files_that_are_not(world, tmp_path):
    """A byte-order mark and Windows line ends are read; a file far too big for labels is refused unread."""
    flat = tmp_path / "flat"
    flat.mkdir()
    lines = []
    for path, label in world["labels"].items():
        (flat / Path(path).name).write_bytes(Path(path).read_bytes())
        lines.append(f"{Path(path).name} {label}")
    (flat / "val.txt").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    samples, _ = imagenet_samples(str(flat))
    assert sorted(label for _, label in samples) == sorted(world["labels"].values())
    with (flat / "val.txt").open("r+b") as handle:
        handle.truncate(65 << 20)   # sparse: nothing is written, nothing need be read
    with pytest.raises(ArchprofError, match="is not a labels file"):
        imagenet_samples(str(flat))


def test_predictions_never_overwrite_the_weights(world, tmp_path):
    import shutil

    weights = tmp_path / TORCHVISION_FILE
    shutil.copy(world["weights"] / TORCHVISION_FILE, weights)
    before = weights.read_bytes()
    with pytest.raises(ArchprofError, match="is the weights file"):
        evaluate(archprof.load_spec("resnet18"), weights, f"imagenet:{world['val']}", predictions=weights)
    assert weights.read_bytes() == before


def test_torchvision_densenet_files_keep_their_old_key_names(tmp_path):
    """torchvision's DenseNet files name keys 'norm.1' (modules of an older torchvision), which its
    own loader rewrites, and like other files saved before PyTorch 1.0 have no batch-norm step
    counters; archprof loads them as torchvision does, before the spec's renames."""
    import re as regex

    import torchvision

    from archprof.spec.compiler import compile_plan
    from archprof.train.evaluate import _load

    reference = torchvision.models.densenet121()
    old = r"(denselayer\d+\.(?:norm|conv))([12])\.(weight|bias|running_mean|running_var)$"
    legacy = {regex.sub(old, r"\1.\2.\3", k): v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert any(".norm.1." in k for k in legacy)
    path = tmp_path / "densenet121-a639ec97.pth"
    torch.save(legacy, path)
    spec = archprof.load_spec("densenet121")
    model = compile_plan(archprof.resolve(spec))
    _load(model, spec, checkpoint.load(path)[0], path)   # as eval reads the file
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), reference.eval()(x), rtol=1e-4, atol=1e-5)


def test_timm_converts_original_releases_with_its_own_filter(tmp_path):
    """ConvNeXt's original Facebook release (``convnext_tiny_1k_224_ema.pth``, keys like
    ``downsample_layers.0.0.weight`` under ``model``) loads through timm's checkpoint_filter_fn."""
    import re as regex

    import timm

    from archprof.spec.compiler import compile_plan
    from archprof.train.evaluate import _load

    reference = timm.create_model("convnext_tiny", pretrained=False).eval()
    to_facebook = [(r"^stem\.", "downsample_layers.0."), (r"^stages\.(\d+)\.downsample\.", r"downsample_layers.\1."),
                   (r"^stages\.(\d+)\.blocks\.(\d+)\.", r"stages.\1.\2."), ("conv_dw", "dwconv"), (r"mlp\.fc", "pwconv"),
                   (r"^head\.norm\.", "norm."), (r"^head\.fc\.", "head.")]
    original = {}
    for key, tensor in reference.state_dict().items():
        for pattern, repl in to_facebook:
            key = regex.sub(pattern, repl, key)
        original[key] = tensor
    path = tmp_path / "convnext_tiny_1k_224_ema.pth"
    torch.save({"model": original}, path)
    spec = archprof.load_spec("convnext_tiny")
    model = compile_plan(archprof.resolve(spec))
    _load(model, spec, checkpoint.load(path)[0], path)   # as eval reads the file
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), reference(x), rtol=1e-4, atol=1e-5)


def test_long_evaluations_say_how_far_they_are_in_a_log(capsys):
    from archprof.train.progress import EvalBar

    with EvalBar("resnet18 on imagenet", 50_000, show=False, every=0) as bar:
        bar.advance(12_800)
        bar.advance(37_200)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("resnet18 on imagenet: 12,800 of 50,000 images, ")
    assert "img/s" in lines[0] and lines[0].endswith(" left") and bar.seconds > 0
