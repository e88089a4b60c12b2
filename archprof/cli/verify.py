"""``archprof verify``: every spec checked against its paper and its reference implementation."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from archprof.cli.common import BATCH, COLUMNS, PLUGIN, emit, on_terminal, user_errors
from archprof.cli.train import DEVICE, LIMIT, WORKERS


@click.command()
@click.argument("specs", nargs=-1)
@click.option("--train", "with_training", is_flag=True, help="Also run each spec's short training check on bundled data.")
@click.option("--no-equivalence", is_flag=True, help="Skip the comparison with reference implementations.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
@click.option("--weights-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the references' own weight files (resnet18-f37072fd.pth, convnext_tiny.fb_in1k/model.safetensors, "
                   "or a torch/Hugging Face cache): measure each accuracy figure whose weights are there.")
@click.option("--data", help="The images to measure accuracy on, with --weights-dir: imagenet:PATH (ImageNet-1k validation).")
@click.option("--limit", type=LIMIT, help="Measure on a fixed random subset of this many images: an ESTIMATE with its interval.")
@click.option("--batch-size", type=BATCH, default=128, show_default=True)
@DEVICE
@WORKERS
@COLUMNS
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@PLUGIN
@user_errors
def verify(specs: tuple[str, ...], with_training: bool, no_equivalence: bool, weights_dir: Path | None, data: str | None,
           limit: int | None, batch_size: int, device: str, workers: int | None, fmt: str, columns: list[str] | None,
           output: Path | None) -> None:
    """Check specs (default: the whole zoo) against their papers; exit 1 on any FAIL.

    With --weights-dir and --data, the published top-1/top-5 of each spec whose reference
    weights are in the folder is measured and becomes PASS or FAIL.
    """
    from archprof import load_spec, zoo_names
    from archprof.verify import FAIL
    from archprof.verify import verify as run
    from archprof.verify.render import render

    if (weights_dir is None) != (data is None):
        raise click.UsageError("--weights-dir and --data go together: the weights to measure, and the images to measure them on")
    if limit is not None and weights_dir is None:
        raise click.UsageError("--limit needs --weights-dir and --data")
    accuracy = None
    if weights_dir is not None:
        from archprof.errors import ArchprofError
        from archprof.verify.accuracy import AccuracyRun

        if not weights_dir.expanduser().is_dir():
            raise ArchprofError(f"--weights-dir {weights_dir}: no such folder")
        accuracy = AccuracyRun(weights_dir, data, limit, device, batch_size, workers)
    rows = []
    for name in specs or zoo_names():
        rows += run(load_spec(name), equivalence=not no_equivalence, train=with_training, accuracy=accuracy)
    emit(render(rows, fmt, columns=columns, color=on_terminal(output)), output)
    failed = [r for r in rows if r.status == FAIL]
    if failed:
        click.echo(f"archprof: {len(failed)} check(s) failed: " + ", ".join(f"{r.spec} {r.check}" for r in failed[:5]), err=True)
        sys.exit(1)


COMMANDS = [verify]
