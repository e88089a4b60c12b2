"""Whole-process time and peak memory of `archprof analyze` against the tools people use today.

Each tool runs in a fresh Python process, as a user would run it: import torch (+ the tool),
build the model (the peers need real weights: torchvision/timm builders where the spec has a
reference, the compiled spec otherwise), analyse it. archprof runs `archprof analyze SPEC
--format json` — which also computes receptive fields, activation and training memory and input
constraints — on the meta device. A bare `import torch` process is measured as the baseline.

    python benchmarks/peers.py resnet50 vgg16 convnext_large      # or --all
    python benchmarks/peers.py --all --repeat 3 -o reports/peers.md

Wall time is the median of --repeat runs, after one untimed run of each command that fills the
bytecode and file caches, as on an installed system (children run with bytecode caching on, even
where the parent's environment turns it off); peak RSS is the child's ru_maxrss. Run it on a quiet
machine: other load on the cores inflates every column.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

def build_code(name: str) -> str:
    """What a peer's user runs to get the model with real weights: the reference library's
    builder where the spec has one (without importing archprof), the compiled spec otherwise."""
    import archprof

    spec = archprof.load_spec(name)
    shape = tuple(archprof.resolve(spec).input_shape)
    ref = spec.reference
    if ref is not None and ref.library == "torchvision":
        build = f"import torchvision\nmodel = torchvision.models.get_model({ref.model!r}, weights=None, **{ref.kwargs!r})"
    elif ref is not None:
        build = f"import timm\nmodel = timm.create_model({ref.model!r}, pretrained=False, **{ref.kwargs!r})"
    else:
        build = f"import archprof\nmodel = archprof.build({name!r})"
    return f"import torch\n{build}\nmodel.eval()\nshape = {shape!r}\nx = torch.randn(1, *shape)\n"


PEERS = {
    "torchinfo": "import torchinfo\ntorchinfo.summary(model, input_data=x, verbose=0)",
    "fvcore": "from fvcore.nn import FlopCountAnalysis, parameter_count\nf = FlopCountAnalysis(model, x)\nf.unsupported_ops_warnings(False)\nf.uncalled_modules_warnings(False)\nf.total(); parameter_count(model)",
    "ptflops": "from ptflops import get_model_complexity_info\nget_model_complexity_info(model, shape, as_strings=False, print_per_layer_stat=False, verbose=False)",
    "thop": "from thop import profile\nprofile(model, inputs=(x,), verbose=False)",
    "torchscan": "import torchscan, io, contextlib\nwith contextlib.redirect_stdout(io.StringIO()):\n    torchscan.summary(model, shape)",
    "calflops": "from calflops import calculate_flops\ncalculate_flops(model=model, input_shape=(1, *shape), print_results=False, output_as_string=False)",
}


CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str]) -> tuple[float, float, bool]:
    """Wall seconds, peak RSS in MiB, success of one child process."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - began, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status) == 0


def interleaved(commands: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float, bool]]:
    """Median wall seconds, peak RSS and success of each command. One untimed run of each fills
    the bytecode and file caches; then the commands take turns, so a change in the machine's
    load over time falls on all of them alike."""
    for argv in commands.values():
        measure(argv)
    runs = {key: [] for key in commands}
    for _ in range(repeat):
        for key, argv in commands.items():
            runs[key].append(measure(argv))
    return {key: (statistics.median(r[0] for r in rs), max(r[1] for r in rs), all(r[2] for r in rs))
            for key, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    import archprof

    names = archprof.zoo_names() if args.all else args.specs
    peers = [p for p in args.peers.split(",") if p]
    py = sys.executable
    lines = ["Seconds are medians over the runs; `import torch` is a bare `python -c 'import torch'` "
             "measured in the same rounds.", "",
             "| spec | params | import torch s | archprof s | archprof RSS / torch | " + " | ".join(f"{p} s" for p in peers)
             + " | fastest peer / archprof | peak RSS of peers (MiB) |",
             "|---|---:|---:|---:|---:|" + "---:|" * len(peers) + "---:|---|"]
    for name in names:
        params = archprof.analysis.analyze(name).totals["params"]
        commands = {"torch": [py, "-c", "import torch"],
                    "archprof": [py, "-m", "archprof", "analyze", name, "--format", "json"],
                    **{peer: [py, "-c", build_code(name) + PEERS[peer]] for peer in peers}}
        result = interleaved(commands, args.repeat)
        base_t, base_rss, _ = result["torch"]
        ours_t, ours_rss, ok = result["archprof"]
        times = [result[p][0] if result[p][2] else float("nan") for p in peers]
        rsses = [f"{p} {result[p][1]:.0f}" if result[p][2] else f"{p} failed" for p in peers]
        valid = [t for t in times if t == t]
        ratio = min(valid) / ours_t if valid else float("nan")
        cells = " | ".join("failed" if t != t else f"{t:.2f}" for t in times)
        lines.append(f"| {name} | {params / 1e6:.1f} M | {base_t:.2f} | {ours_t:.2f}{'' if ok else ' (failed)'} | "
                     f"{ours_rss / base_rss:.2f} | {cells} | {ratio:.2f}x | {', '.join(rsses)} |")
        print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if args.output:
        from archprof.files import write_text_atomic

        write_text_atomic(args.output, text)
    print(text)


if __name__ == "__main__":
    import archprof.analysis  # noqa: F401  (params column)

    main()
