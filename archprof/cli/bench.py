"""``archprof bench``: throughput, latency, memory and MFU of any source.

Like every command, ``bench`` imports torch only inside its body, and reports user mistakes through
:func:`archprof.cli.common.user_errors` (one line on stderr, exit code 2).
"""
from __future__ import annotations

from pathlib import Path

import click

from archprof.bench.options import COMPILE_MODES, PRECISIONS
from archprof.cli.common import PARAM, PLUGIN, user_errors


class BatchSize(click.ParamType):
    """A positive integer or 'auto'."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif str(value).strip().lower() == "auto":
            return "auto"
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                self.fail(f"must be a positive integer or 'auto', got '{value}'", param, ctx)
        if number < 1:
            self.fail(f"must be a positive integer or 'auto', got {number}", param, ctx)
        if number > 1 << 20:
            self.fail(f"must be 'auto' or at most {1 << 20}, got {number}", param, ctx)
        return number


@click.command("bench")
@click.argument("source")
@PARAM
@click.option("--input", "input_", metavar="CxHxW", help="Input size without batch (default: the source's own).")
@click.option("--device", default="auto", show_default=True, help="cuda, cuda:N or cpu (auto: cuda when a GPU is visible).")
@click.option("--batch-size", type=BatchSize(), default=None,
              help="Images per step, or 'auto' to sweep powers of two up to saturation (default: 64 on CUDA, 8 on the CPU, 256 with --timm-compat).")
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="fp32 is IEEE fp32 (TF32 off); tf32 enables TF32 tensor cores; bf16/fp16 use autocast.")
@click.option("--channels-last", is_flag=True, help="channels_last memory layout for the model and the input.")
@click.option("--compile", "compile_mode", is_flag=False, flag_value="default", default=None, type=click.Choice(COMPILE_MODES),
              metavar="[MODE]", help="torch.compile the model (MODE: default, reduce-overhead, max-autotune, ...); compile time is reported apart.")
@click.option("--mode", type=click.Choice(["infer", "train", "both"]), default="infer", show_default=True,
              help="Inference, a training step (forward, backward, SGD step), or both.")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("--timm-compat", is_flag=True, help="timm benchmark.py protocol: batch 256, 10 warm-up + 40 timed steps, timm's precision flags.")
@click.option("--profile", "profile_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also record a short torch.profiler trace into DIR, with a per-operator summary (markdown).")
@click.option("--no-latency", is_flag=True, help="Skip the batch-1 latency measurement.")
@click.option("--threads", type=click.IntRange(1, 4096), help="CPU intra-op threads (default: torch's, one per core).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also record the results as DIR/SPEC.json for `archprof report` (e.g. reports/bench); specs only.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@PLUGIN
@user_errors
def bench(source: str, params: tuple[str, ...], input_: str | None, device: str, batch_size, precision: str, channels_last: bool,
          compile_mode: str | None, mode: str, fmt: str, timm_compat: bool, profile_dir: Path | None, no_latency: bool,
          threads: int | None, report_dir: Path | None, output: Path | None) -> None:
    """Throughput (images/s, median and p10-p90), batch-1 latency, peak memory and MFU.

    SOURCE is anything `archprof analyze` takes. Warm-up runs for every batch size, compile time
    is kept out of the timed steps, and every result carries a fingerprint (device, driver, CUDA,
    cuDNN, torch, TF32 flags, compile mode, batch, memory layout). MFU uses 2 x MACs per image
    from the analyser (x3 for training) against the device's datasheet peak; a matmul probe
    measured in the same run is reported beside it (and is the peak on the CPU).
    """
    from archprof.bench.options import BenchOptions
    from archprof.cli.common import emit, parse_params, parse_shape, spec_or_source
    from archprof.errors import ArchprofError

    opts = BenchOptions(device=device, batch_size=batch_size, precision=precision, channels_last=channels_last,
                        compile=compile_mode, mode=mode, timm_compat=timm_compat, input_shape=parse_shape(input_),
                        profile_dir=profile_dir, latency=not no_latency)
    target = spec_or_source(source, parse_params(params))
    from archprof.bench import run_bench, write_report_record  # torch, once the arguments hold
    from archprof.bench.render import render
    spec = None
    if report_dir is not None:
        from archprof.analysis.sources import open_source

        spec = open_source(target).spec
        if spec is None:
            raise ArchprofError(f"--report-dir records specs only; '{source}' is not a spec")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    result = run_bench(target, opts)
    _say_cpu_threads(result, threads)
    emit(render(result, fmt), output)
    if spec is not None:
        command = _command(source, params, input_, device, batch_size, precision, channels_last, compile_mode, mode, timm_compat, threads)
        click.echo(f"wrote {write_report_record(report_dir, result, spec, command)}", err=True)
    if result.profile:
        text = result.profile["markdown"]
        click.echo(text, err=fmt in ("csv", "json") or output is not None)
        click.echo(f"wrote {result.profile['trace']} and {result.profile['summary']}", err=True)


def _say_cpu_threads(result, threads: int | None) -> None:
    """On a CPU, says how many threads ran and why: torch's default of one per core is slower than
    one thread when other work shares the cores."""
    import os

    fingerprint = result.fingerprint
    if fingerprint["device_type"] != "cpu":
        return
    why = "--threads" if threads is not None else f"torch's default, one per core of {os.cpu_count()}; --threads N to change"
    click.echo(f"archprof: measured on the CPU with {fingerprint['threads']} intra-op thread(s) ({why}); "
               "on a machine shared with other work, fewer threads are often faster", err=True)


def _command(source, params, input_, device, batch_size, precision, channels_last, compile_mode, mode, timm_compat, threads) -> str:
    """The measuring part of the command line, for the record."""
    import shlex

    parts = ["archprof", "bench", source, *[f"--param={p}" for p in params]]
    parts += [f"--input={input_}"] if input_ else []
    parts += [f"--device={device}", f"--precision={precision}", f"--mode={mode}"]
    parts += [f"--batch-size={batch_size}"] if batch_size is not None else []
    parts += ["--channels-last"] if channels_last else []
    parts += [f"--compile={compile_mode}"] if compile_mode else []
    parts += ["--timm-compat"] if timm_compat else []
    parts += [f"--threads={threads}"] if threads else []
    return " ".join(shlex.quote(p) for p in parts)


COMMANDS = [bench]
