"""``archprof report`` and ``archprof diff``.

``archprof report`` writes the Markdown reports (one per spec, the zoo index, verify.md) and
``archprof diff`` compares two specs stage by stage. Heavy imports stay inside the commands.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from archprof.cli.common import COLUMNS, DEPTH, PLUGIN, fail, on_terminal, user_errors
from archprof.cli.process import import_torch, one_shot


def _progress(message: str) -> None:
    click.echo(message, err=True)


@click.command()
@click.argument("sources", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every bundled spec (the default when no SOURCE is given).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True,
              help="Folder for the reports; also where verify.json, bench/ and train/ are read from.")
@click.option("--verify", "run_verify", is_flag=True,
              help="First run `archprof verify` with the equivalence proof (slow: minutes) and rewrite OUT/verify.json.")
@click.option("--verify-stale", is_flag=True,
              help="Like --verify, but only for specs missing from verify.json or changed since (spec hash).")
@click.option("--index", is_flag=True, help="Also write the index (README.md) and verify.md for just these SOURCEs.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing: regenerate in a temporary folder and compare with OUT.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages.")
@PLUGIN
@user_errors
def report(sources: tuple[str, ...], all_: bool, out: Path, run_verify: bool, verify_stale: bool, index: bool, check_only: bool,
           quiet: bool) -> None:
    """Markdown reports with plots: OUT/SPEC.md per spec, the zoo index OUT/README.md and OUT/verify.md.

    SOURCE is a bundled spec name, a spec file, torchvision:NAME, timm:NAME or file.py:NAME (the
    last three get the analysis sections only: they have no paper figures). No SOURCE (or --all)
    means the whole zoo, which also rewrites the index and removes reports of specs no longer in
    the zoo. Regenerating from the same code and specs gives byte-identical files.
    """
    from archprof import report as rep
    from archprof.files import write_text_atomic

    if all_ and sources:
        fail("give SOURCEs or --all, not both")
    whole_zoo = not sources
    if check_only and (run_verify or verify_stale):
        fail("--check compares only; it cannot be combined with --verify or --verify-stale")
    say = (lambda m: None) if quiet else _progress
    targets = rep.select(sources)
    specs = rep.specs_of(targets)
    refresh = rep.refresh_command(sources, out)
    started = time.monotonic()
    if check_only:
        differ, same_versions = rep.check(out, targets, whole_zoo=whole_zoo, index=index, refresh=refresh)
        if not same_versions:
            say(f"note: {out} was generated with other library versions; version text and PNG bytes not compared")
        if differ:
            shown = ", ".join(differ[:6]) + (f" and {len(differ) - 6} more" if len(differ) > 6 else "")
            click.echo(f"archprof: {out} is stale ({shown}); regenerate with: {refresh}", err=True)
            sys.exit(1)
        say(f"{out} is up to date ({len(targets)} reports, {time.monotonic() - started:.0f} s)")
        return
    if out.exists() and not out.is_dir():
        fail(f"{out}: not a folder")
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    if run_verify or verify_stale:
        import json

        previous = rep.load_verify(out / "verify.json")
        todo = specs if run_verify else rep.unverified(specs, previous)
        say(f"verifying {len(todo)} spec(s): {', '.join(s.name for s in todo) or 'none'}")
        verify = rep.run_verify(todo, previous, say)
        if whole_zoo:  # drop rows of specs that left the zoo
            names = {s.name for s in specs}
            verify["checks"] = [r for r in verify["checks"] if r["spec"] in names]
        write_text_atomic(out / "verify.json", json.dumps(verify, indent=2, ensure_ascii=False) + "\n")
        failed = [r for r in verify["checks"] if r["spec"] in {s.name for s in specs} and r["status"] == "FAIL"]
    written = rep.generate(targets, out, index=whole_zoo or index, progress=say, prune=whole_zoo, refresh=refresh)
    say(f"wrote {len(written)} files in {out} ({time.monotonic() - started:.0f} s)")
    if failed:
        click.echo(f"archprof: {len(failed)} check(s) failed: " + ", ".join(f"{r['spec']} {r['check']}" for r in failed[:5]), err=True)
        sys.exit(1)


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--depth", type=DEPTH, help="Stages = name roll-up at this depth, paired by name (default: by output resolution).")
@click.option("--format", "fmt", type=click.Choice(["table", "md"]), default="table", show_default=True)
@COLUMNS
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@PLUGIN
@user_errors
@one_shot
def diff(a: str, b: str, depth: int | None, fmt: str, columns: list[str] | None, output: Path | None) -> None:
    """Two specs (or any two sources) side by side per stage: shapes, params, MACs, activations,
    receptive field, with B/A ratios. Example: archprof diff resnet50 convnext_tiny."""
    from archprof.cli.common import emit, opened

    first, second = opened(a, {}), opened(b, {})
    import_torch()
    from archprof.analysis import analyze
    from archprof.report.diff import diff as run
    from archprof.report.diff import render

    emit(render(run(analyze(first), analyze(second), depth=depth), fmt, columns=columns, color=on_terminal(output)), output)


COMMANDS = [report, diff]
