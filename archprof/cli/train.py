"""``archprof train`` and ``archprof eval``: reference training and evaluation of a spec."""
from __future__ import annotations

from pathlib import Path

import click

from archprof.cli.common import BATCH, EPOCHS, LEARNING_RATE, PARAM, PLUGIN, SEED, on_terminal, parse_params, parse_shape, user_errors

DATA_KINDS = "mnist5k, digits, cifar10:PATH, imagefolder:PATH or imagenet:PATH (ImageNet-1k validation images)"
DEVICE = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
LIMIT = click.IntRange(1, 1 << 30)
WORKERS = click.option("--workers", type=click.IntRange(0, 256), help="Processes decoding images (default: up to 8, one per spare core).")
BAD_IMAGES = click.option("--bad-images", type=click.Choice(["refuse", "skip"]), default="refuse", show_default=True,
                          help="Images of an image folder that cannot be decoded: refuse the data, or leave them out and say which.")


@click.command()
@click.argument("spec")
@PARAM
@click.option("--data", required=True, help="mnist5k, digits, cifar10:PATH or imagefolder:PATH")
@click.option("--epochs", type=EPOCHS)
@click.option("--batch-size", type=BATCH)
@click.option("--lr", type=LEARNING_RATE)
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]))
@click.option("--recipe", type=click.Choice(["fast", "paper"]), default="fast", show_default=True,
              help="Settings from the spec's recipe section: 'paper' (the paper's optimizer, schedule and "
                   "augmentation) or 'fast' (a short CPU-friendly run). Options given here override them.")
@DEVICE
@click.option("--input", "input_", metavar="CxHxW", help="Train at this input size (images are resized to it).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for checkpoints and curves (default runs/SPEC).")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.safetensors.")
@BAD_IMAGES
@PLUGIN
@user_errors
def train(spec: str, params, data: str, epochs, batch_size, lr, optimizer, recipe: str, device: str, input_, seed: int, out: Path | None,
          resume: bool, bad_images: str) -> None:
    """Train a spec; one checkpoint per epoch, written atomically, plus the best one.

    Runs under torchrun too: torchrun --nproc-per-node 2 -m archprof train ... (DDP).
    """
    import json

    from archprof import load_spec, resolve
    from archprof.spec.recipe import TrainConfig

    loaded = load_spec(spec, params=parse_params(params))
    resolve(loaded, parse_shape(input_))   # the spec's mistakes are reported before torch is imported
    config = TrainConfig.from_recipe((loaded.recipe or {}).get(recipe), epochs=epochs, batch_size=batch_size,
                                     lr=lr, optimizer=optimizer, device=device, seed=seed)
    from archprof.train import train as run

    result = run(loaded, data, config, out or Path("runs") / loaded.name, resume=resume, input_shape=parse_shape(input_),
                 bad_images=bad_images)
    final = result.final
    click.echo(json.dumps({"spec": loaded.name, "data": data, "epochs": final.epoch, "val_acc": final.val_acc,
                           "best_val_acc": result.best.val_acc, "out": str(result.out)}, indent=2))


@click.command("eval")
@click.argument("spec")
@PARAM
@click.option("--weights", required=True, type=click.Path(path_type=Path),
              help="An archprof checkpoint, or the reference's own weight file (torchvision .pth, timm .safetensors/.pth), "
                   "loaded without running code and renamed by the spec's reference mapping.")
@click.option("--data", required=True, help=DATA_KINDS)
@click.option("--preprocess", type=click.Choice(["reference", "spec"]),
              help="reference: the reference library's evaluation transform for those weights (torchvision Weights.transforms(), "
                   "timm's data config); spec: the spec's own recipe. Default: reference for a reference's weight file, "
                   "spec for archprof checkpoints and bundled data.")
@click.option("--ten-crop", is_flag=True, help="Average ten crops per image (AlexNet paper).")
@click.option("--predictions", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each image's path, true label and top-5 classes with probabilities to this CSV file.")
@click.option("--limit", type=LIMIT, help="Evaluate a fixed random subset of this many images (seed 0).")
@click.option("--tsne", is_flag=True, help="Also plot a t-SNE map of the penultimate features.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the confusion matrix (and t-SNE) PNG.")
@click.option("--input", "input_", metavar="CxHxW", help="Evaluate at this input size (default: the checkpoint's, else the spec's; "
              "with reference preprocessing, the crop size).")
@click.option("--batch-size", type=BATCH, default=128, show_default=True)
@DEVICE
@WORKERS
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
@BAD_IMAGES
@PLUGIN
@user_errors
def evaluate(spec: str, params, weights: Path, data: str, preprocess: str | None, ten_crop: bool, predictions: Path | None,
             limit: int | None, tsne: bool, out: Path | None, input_: str | None, batch_size: int, device: str, workers: int | None,
             fmt: str, bad_images: str) -> None:
    """Top-1/top-5, macro precision/recall/F1, per-class table and confusion matrix.

    With the reference's own weights and imagenet:PATH this measures a published ImageNet
    accuracy: the reference's preprocessing is the default for such files. Images are resized
    to the size an archprof checkpoint was trained at (recorded in it), unless --input says otherwise.
    """
    import json

    from archprof import load_spec
    from archprof.text import markdown_table, rich_rows
    from archprof.train.evaluate import evaluate as run

    result = run(load_spec(spec, params=parse_params(params)), weights, data, ten_crop=ten_crop, out=out, tsne=tsne,
                 input_shape=parse_shape(input_), bad_images=bad_images, batch_size=batch_size, preprocess=preprocess,
                 device=device, workers=workers, limit=limit, predictions=predictions)
    for path in result.files:
        click.echo(f"wrote {path}", err=True)
    if fmt == "json":
        click.echo(json.dumps({**result.summary(), "per_class": result.per_class,
                               **({"confusion": result.confusion} if len(result.classes) <= MATRIX else {})}, indent=2))
        return
    summary = {k: _shown(k, v) for k, v in result.summary().items()}
    per_class, title = _per_class(result.per_class)
    if fmt == "md":
        click.echo("### evaluation\n\n" + markdown_table(["quantity", "value"], [[k, v] for k, v in summary.items()])
                   + f"\n### {title}\n\n" + markdown_table(list(per_class[0]), [list(c.values()) for c in per_class], right=RIGHT), nl=False)
        return
    click.echo(rich_rows(["quantity", "value"], [[k, v] for k, v in summary.items()], "evaluation", color=on_terminal(None)), nl=False)
    click.echo(rich_rows(list(per_class[0]), [list(c.values()) for c in per_class], title, RIGHT, color=on_terminal(None)), nl=False)


PERCENT = ("top1", "top5", "precision", "recall", "f1")
MATRIX = 100     # classes up to which --format json carries the confusion matrix (ImageNet's would be a million numbers)
LISTED = 30      # classes up to which every class gets a row in the table


def _shown(key: str, value) -> str:
    if key in PERCENT:
        return f"{value:.2%}"
    if isinstance(value, list):
        return "x".join(map(str, value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _per_class(rows: list[dict]) -> tuple[list[dict], str]:
    """Every class when there are few, else the ten with the lowest recall."""
    title = "per class"
    if len(rows) > LISTED:
        title = f"the 10 of {len(rows)} classes with the lowest recall (all in --format json)"
        rows = sorted(rows, key=lambda c: (c["recall"], c["class"]))[:10]
    return [{**c, **{k: f"{c[k]:.2%}" for k in ("precision", "recall", "f1")}} for c in rows], title


RIGHT = ("precision", "recall", "f1", "support")


COMMANDS = [train, evaluate]
