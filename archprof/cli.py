"""The ``archprof`` command: thin click commands that call one library function and render it.

Data goes to stdout (so ``--format csv | ...`` pipes), messages to stderr. Heavy imports (torch,
pandas, rich) happen inside the commands, so ``archprof --help`` and spec validation stay fast.
Every user mistake ends as one line on stderr and exit code 2 (see :func:`fail`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from archprof.cli_common import PARAM, _params, _shape, _spec_or_source, emit, fail, user_errors  # noqa: F401  (re-exported)
from archprof.cli_process import one_shot


class _Group(click.Group):
    """Usage errors (bad options) also become one line and exit code 2."""

    def main(self, *args, **kwargs):
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__.startswith("NoArgsIsHelp"):  # a bare `archprof`: show help
                click.echo(exc.ctx.get_help() if exc.ctx else "")
                sys.exit(0)
            fail(exc.format_message())
        except click.exceptions.Abort:
            fail("aborted")
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archprof")
def main() -> None:
    """Architectures as YAML specs: build, analyse, benchmark and verify them."""


@main.command()
@click.argument("source")
@PARAM
@click.option("--input", "input_", metavar="CxHxW", help="Input size without batch (default: the source's own).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--dtype", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--depth", type=click.IntRange(min=1), help="Roll layers up to this many name levels (stages, blocks).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@user_errors
@one_shot
def analyze(source: str, params: tuple[str, ...], input_: str | None, batch: int, dtype: str, depth: int | None, fmt: str, output: Path | None) -> None:
    """Per-layer shapes, params, MACs/FLOPs, receptive fields, memory and input constraints.

    SOURCE is a spec file, a bundled spec name (archprof zoo), torchvision:NAME, timm:NAME, or
    path/to/file.py:ClassOrFactory (which imports and runs that file). Nothing is allocated: the
    model is analysed on PyTorch's meta device.
    """
    from archprof.analysis import analyze as run
    from archprof.report_analysis import render

    result = run(_spec_or_source(source, _params(params)), input_shape=_shape(input_), batch=batch, dtype=dtype)
    emit(render(result, fmt, depth), output)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@user_errors
def zoo(fmt: str) -> None:
    """List the bundled specs with the figures their papers publish."""
    from archprof import zoo as zoo_mod
    from archprof.render import render_frame

    click.echo(render_frame(zoo_mod.table(), fmt, title="archprof zoo", right=("params", "MACs", "top-1 %", "top-5 %")), nl=False)


@main.command()
@user_errors
def schema() -> None:
    """Print the JSON Schema of spec files (for editors)."""
    import json

    from archprof.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@main.command()
@click.argument("source")
@user_errors
def check(source: str) -> None:
    """Validate a spec without building it (no torch import)."""
    from archprof import load_spec, resolve

    spec = load_spec(source)
    plan = resolve(spec)
    leaves = sum(1 for _ in plan.leaves())
    click.echo(f"{spec.name}: ok ({leaves} layers, input {'x'.join(map(str, plan.input_shape))}, output {'x'.join(map(str, plan.root.out_shape))})")


@main.command()
@click.argument("spec")
@PARAM
@click.option("--data", required=True, help="mnist5k, digits, cifar10:PATH or imagefolder:PATH")
@click.option("--epochs", type=click.IntRange(min=1))
@click.option("--batch-size", type=click.IntRange(min=1))
@click.option("--lr", type=click.FloatRange(min=0, min_open=True))
@click.option("--optimizer", type=click.Choice(["sgd", "adamw"]))
@click.option("--recipe", type=click.Choice(["fast", "paper"]), default="fast", show_default=True,
              help="Settings from the spec's recipe section: 'paper' (the paper's optimizer, schedule and "
                   "augmentation) or 'fast' (a short CPU-friendly run). Options given here override them.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
@click.option("--input", "input_", metavar="CxHxW", help="Train at this input size (images are resized to it).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for checkpoints and curves (default runs/SPEC).")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.safetensors.")
@user_errors
def train(spec: str, params, data: str, epochs, batch_size, lr, optimizer, recipe: str, device: str, input_, seed: int, out: Path | None, resume: bool) -> None:
    """Train a spec; one checkpoint per epoch, written atomically, plus the best one.

    Runs under torchrun too: torchrun --nproc-per-node 2 -m archprof train ... (DDP).
    """
    import json

    from archprof import load_spec
    from archprof.train import TrainConfig
    from archprof.train import train as run

    loaded = load_spec(spec, params=_params(params))
    config = TrainConfig.from_recipe((loaded.recipe or {}).get(recipe), epochs=epochs, batch_size=batch_size,
                                     lr=lr, optimizer=optimizer, device=device, seed=seed)
    result = run(loaded, data, config, out or Path("runs") / loaded.name, resume=resume, input_shape=_shape(input_))
    final = result.final
    click.echo(json.dumps({"spec": loaded.name, "data": data, "epochs": final.epoch, "val_acc": final.val_acc,
                           "best_val_acc": result.best.val_acc, "out": str(result.out)}, indent=2))


@main.command("eval")
@click.argument("spec")
@PARAM
@click.option("--weights", required=True, type=click.Path(path_type=Path), help="safetensors checkpoint or a weights-only state_dict")
@click.option("--data", required=True, help="mnist5k, digits, cifar10:PATH or imagefolder:PATH")
@click.option("--ten-crop", is_flag=True, help="Average ten crops per image (AlexNet paper).")
@click.option("--tsne", is_flag=True, help="Also plot a t-SNE map of the penultimate features.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the confusion matrix (and t-SNE) PNG.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
@user_errors
def evaluate(spec: str, params, weights: Path, data: str, ten_crop: bool, tsne: bool, out: Path | None, fmt: str) -> None:
    """Top-1/top-5, macro precision/recall/F1, per-class table and confusion matrix."""
    import json

    import pandas as pd

    from archprof import load_spec
    from archprof.evaluate import evaluate as run
    from archprof.render import render_frame

    result = run(load_spec(spec, params=_params(params)), weights, data, ten_crop=ten_crop, out=out, tsne=tsne)
    if fmt == "json":
        click.echo(json.dumps({**result.summary(), "per_class": result.per_class, "confusion": result.confusion}, indent=2))
        return
    summary = pd.DataFrame([{k: (f"{v:.2%}" if isinstance(v, float) else v) for k, v in result.summary().items()}])
    per_class = pd.DataFrame(result.per_class)
    for col in ("precision", "recall", "f1"):
        per_class[col] = per_class[col].map(lambda v: f"{v:.2%}")
    click.echo(render_frame(summary, fmt, title="evaluation"), nl=False)
    click.echo(render_frame(per_class, fmt, title="per class", right=("precision", "recall", "f1", "support")), nl=False)


@main.command()
@click.argument("specs", nargs=-1)
@click.option("--train", "with_training", is_flag=True, help="Also run each spec's short training check on bundled data.")
@click.option("--no-equivalence", is_flag=True, help="Skip the comparison with reference implementations.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "json"]), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@user_errors
def verify(specs: tuple[str, ...], with_training: bool, no_equivalence: bool, fmt: str, output: Path | None) -> None:
    """Check specs (default: the whole zoo) against their papers; exit 1 on any FAIL."""
    import json

    import pandas as pd

    from archprof import load_spec, zoo_names
    from archprof.render import render_frame
    from archprof.verify import FAIL, verify as run

    rows = []
    for name in specs or zoo_names():
        rows += run(load_spec(name), equivalence=not no_equivalence, train=with_training)
    if fmt == "json":
        emit(json.dumps([r.as_dict() for r in rows], indent=2) + "\n", output)
    else:
        frame = pd.DataFrame([r.as_dict() for r in rows])
        emit(render_frame(frame, fmt, title="archprof verify"), output)
    failed = [r for r in rows if r.status == FAIL]
    if failed:
        click.echo(f"archprof: {len(failed)} check(s) failed: " + ", ".join(f"{r.spec} {r.check}" for r in failed[:5]), err=True)
        sys.exit(1)


def _register(module_name: str) -> None:
    import importlib

    for command in importlib.import_module(module_name).COMMANDS:
        main.add_command(command)


for _module in ("archprof.cli_bench", "archprof.cli_report"):
    _register(_module)


if __name__ == "__main__":  # python -m archprof.cli
    main()
