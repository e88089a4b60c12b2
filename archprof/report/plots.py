"""The PNG plots of ``archprof report``: per spec (cost per stage and per layer, receptive-field
growth) and zoo-wide (paper top-1 vs MACs, params vs MACs).

Every plot is drawn under matplotlib's built-in default style (a user's matplotlibrc cannot
change it) and saved by :func:`archprof.png.save_png` (Agg, no timestamp or software metadata,
atomic write), so the same data gives the same bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from archprof.png import save_png

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">", "p", "d", "H", "8"]


@dataclass(frozen=True)
class Point:
    """One spec in the zoo-wide plots."""

    name: str
    family: str
    macs: float
    params: float
    top1: float | None = None
    hollow: bool = False  # pre-trained on a larger dataset than the one it is evaluated on


def _style():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.style.context("default")


def _scale(values: Sequence[float], units: Sequence[tuple[float, str]]) -> tuple[float, str]:
    top = max([abs(v) for v in values] or [0])
    for factor, name in units:
        if top >= factor:
            return factor, name
    return units[-1]


COUNT_UNITS = [(1e9, "G"), (1e6, "M"), (1e3, "K"), (1, "")]
BYTE_UNITS = [(2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB"), (1, "B")]


def stage_bars(names: Sequence[str], macs: Sequence[int], activations: Sequence[int], path: Path, title: str) -> None:
    """Horizontal bars: MACs and activation memory written, per stage (top to bottom in order)."""
    import matplotlib.pyplot as plt

    with _style():
        height = max(2.6, 0.22 * len(names) + 1.2)
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, height), dpi=100, sharey=True)
        ys = list(range(len(names)))
        mf, mu = _scale(macs, COUNT_UNITS)
        af, au = _scale(activations, BYTE_UNITS)
        left.barh(ys, [m / mf for m in macs], color="tab:blue")
        right.barh(ys, [a / af for a in activations], color="tab:orange")
        left.set_yticks(ys, list(names), fontsize=7 if len(names) <= 30 else 5)
        left.invert_yaxis()
        left.set_xlabel(f"MACs ({mu}MACs)" if mu else "MACs")
        right.set_xlabel(f"activation memory written ({au})")
        left.set_title("MACs per stage", fontsize=9)
        right.set_title("activations per stage", fontsize=9)
        fig.suptitle(title, fontsize=10)
        save_png(fig, path)


def layer_profile(macs: Sequence[int], activations: Sequence[int], path: Path, title: str,
                  boundaries: Sequence[int] = ()) -> None:
    """MACs and activation memory of every layer, in execution order."""
    import matplotlib.pyplot as plt

    with _style():
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.6), dpi=100, sharex=True)
        xs = list(range(len(macs)))
        mf, mu = _scale(macs, COUNT_UNITS)
        af, au = _scale(activations, BYTE_UNITS)
        edges = [x - 0.5 for x in xs] + [len(xs) - 0.5]  # one artist per axis: fast for ~1000 layers
        top.stairs([m / mf for m in macs], edges, fill=True, color="tab:blue")
        bottom.stairs([a / af for a in activations], edges, fill=True, color="tab:orange")
        for ax in (top, bottom):
            for b in boundaries:
                ax.axvline(b - 0.5, color="0.8", linewidth=0.6, zorder=0)
        top.set_ylabel(f"{mu}MACs" if mu else "MACs")
        bottom.set_ylabel(f"activations ({au})")
        bottom.set_xlabel("layer (execution order; grey lines: stage boundaries)")
        top.set_xlim(-0.5, max(len(xs), 1) - 0.5)
        fig.suptitle(title, fontsize=10)
        save_png(fig, path)


def rf_growth(sizes: Sequence[float | None], jumps: Sequence[float | None], input_side: int, path: Path, title: str,
              global_at: int | None = None, unknown_at: int | None = None, boundaries: Sequence[int] = ()) -> None:
    """Receptive-field size and jump (first image axis) through the layers, log scale."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(9, 3.6), dpi=100)
        known = [(i, s, j) for i, (s, j) in enumerate(zip(sizes, jumps)) if s is not None]
        if known:
            xs = [k[0] for k in known]
            ax.step(xs, [k[1] for k in known], where="post", color="tab:blue", label="receptive field size (px)")
            ax.step(xs, [k[2] for k in known], where="post", color="tab:green", label="jump (px between positions)")
            ax.set_yscale("log", base=2)
        ax.axhline(input_side, color="tab:red", linestyle="--", linewidth=1, label=f"input side ({input_side} px)")
        if global_at is not None:
            ax.axvline(global_at, color="tab:purple", linestyle=":", linewidth=1.2, label="global from here")
        if unknown_at is not None:
            ax.axvline(unknown_at, color="tab:gray", linestyle="-.", linewidth=1.2, label="not tracked from here (op not modelled)")
        for b in boundaries:
            ax.axvline(b - 0.5, color="0.85", linewidth=0.6, zorder=0)
        if not known:
            ax.text(0.5, 0.5, "receptive field not tracked for these layers", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlim(-0.5, max(len(sizes), 1) - 0.5)
        ax.set_xlabel("layer (execution order; grey lines: stage boundaries)")
        ax.set_ylabel("pixels")
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(title, fontsize=10)
        save_png(fig, path)


def _families(points: Sequence[Point]) -> dict[str, tuple[str, str]]:
    import matplotlib

    colors = matplotlib.colormaps["tab20"].colors
    names = sorted({p.family for p in points})
    return {f: (MARKERS[i % len(MARKERS)], colors[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20]) for i, f in enumerate(names)}


def _scatter(ax, points: Sequence[Point], x, y) -> None:
    style = _families(points)
    for family, (marker, color) in style.items():
        chosen = [p for p in points if p.family == family]
        solid = [p for p in chosen if not p.hollow]
        hollow = [p for p in chosen if p.hollow]
        ax.scatter([x(p) for p in solid], [y(p) for p in solid], marker=marker, color=color, s=36, label=family, zorder=3)
        if hollow:
            ax.scatter([x(p) for p in hollow], [y(p) for p in hollow], marker=marker, facecolors="none", edgecolors=color,
                       s=36, zorder=3, label=None if solid else family)
    for p in points:
        ax.annotate(p.name, (x(p), y(p)), xytext=(4, 2), textcoords="offset points", fontsize=6)


def _log_labels(axis) -> None:
    """Plain numbers (0.1, 1, 10) on a log axis, no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def accuracy_vs_macs(points: Sequence[Point], path: Path) -> None:
    """Paper top-1 against MACs (log x), one marker per family, every point labelled."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(10, 6.5), dpi=100)
        _scatter(ax, points, lambda p: p.macs / 1e9, lambda p: p.top1)
        ax.set_xscale("log")
        _log_labels(ax.xaxis)
        ax.set_xlabel("GMACs (multiply-accumulates, measured by archprof; log scale)")
        ax.set_ylabel("ImageNet top-1 accuracy (%), as published")
        ax.grid(True, which="both", color="0.92", zorder=0)
        if points:
            ax.legend(fontsize=7, loc="lower right", ncol=2)
        else:
            ax.text(0.5, 0.5, "no ImageNet top-1 figures", transform=ax.transAxes, ha="center", va="center")
        ax.set_title("Top-1 accuracy vs MACs (hollow markers: pre-trained on ImageNet-22k)", fontsize=10)
        save_png(fig, path)


def params_vs_macs(points: Sequence[Point], path: Path) -> None:
    """Parameters against MACs, log-log, one marker per family."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(10, 6.5), dpi=100)
        _scatter(ax, [Point(p.name, p.family, p.macs, p.params) for p in points], lambda p: p.macs / 1e9, lambda p: p.params / 1e6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_labels(ax.xaxis)
        _log_labels(ax.yaxis)
        ax.set_xlabel("GMACs (log scale)")
        ax.set_ylabel("parameters, millions (log scale)")
        ax.grid(True, which="both", color="0.92", zorder=0)
        if points:
            ax.legend(fontsize=7, loc="lower right", ncol=2)
        ax.set_title("Parameters vs MACs (measured by archprof)", fontsize=10)
        save_png(fig, path)
