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


def _stage_axis(ax, stages: Sequence[tuple[int, str]], n: int, label: str) -> None:
    """Grey lines at the stage boundaries and the stage names, centred in their spans, as the x
    tick labels (every k-th when there are many, so they never overlap)."""
    if not stages:
        ax.set_xlabel(label)
        return
    for start, _ in stages[1:]:
        ax.axvline(start - 0.5, color="0.8", linewidth=0.6, zorder=0)
    ends = [s for s, _ in stages[1:]] + [n]
    every = max(1, -(-len(stages) // 24))
    chosen = [(s + e - 1) / 2 for (s, _), e in zip(stages, ends)][::every]
    names = [name for _, name in stages][::every]
    upright = len(names) <= 8 and max(len(t) for t in names) <= 10
    ax.set_xticks(chosen, names, fontsize=6, rotation=0 if upright else 90)
    ax.set_xlabel(label + (f" (every {every}th stage named)" if every > 1 else ""))


def layer_profile(names: Sequence[str], macs: Sequence[int], activations: Sequence[int], path: Path, title: str,
                  stages: Sequence[tuple[int, str]] = (), spikes: int = 3) -> None:
    """MACs and activation memory of every layer, in execution order, along the named stages;
    the ``spikes`` heaviest layers by MACs are numbered and named."""
    import matplotlib.pyplot as plt

    with _style():
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5.2), dpi=100, sharex=True)
        xs = list(range(len(macs)))
        mf, mu = _scale(macs, COUNT_UNITS)
        af, au = _scale(activations, BYTE_UNITS)
        edges = [x - 0.5 for x in xs] + [len(xs) - 0.5]  # one artist per axis: fast for ~1000 layers
        top.stairs([m / mf for m in macs], edges, fill=True, color="tab:blue")
        bottom.stairs([a / af for a in activations], edges, fill=True, color="tab:orange")
        for start, _ in stages[1:]:
            top.axvline(start - 0.5, color="0.8", linewidth=0.6, zorder=0)
        heaviest = sorted((i for i in xs if macs[i] > 0), key=lambda i: (-macs[i], i))[:spikes]
        for rank, i in enumerate(heaviest, 1):
            top.annotate(str(rank), (i, macs[i] / mf), xytext=(0, 2), textcoords="offset points", ha="center",
                         fontsize=7, color="tab:red")
        if heaviest:
            top.text(0.99, 0.97, "\n".join(f"{r}. {names[i]}" for r, i in enumerate(heaviest, 1)), transform=top.transAxes,
                     ha="right", va="top", fontsize=7, bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})
        top.set_ylabel(f"{mu}MACs" if mu else "MACs")
        bottom.set_ylabel(f"activations ({au})")
        _stage_axis(bottom, stages, len(xs), "stage (layers in execution order; grey lines: stage boundaries)")
        top.set_xlim(-0.5, max(len(xs), 1) - 0.5)
        top.margins(y=0.15)
        fig.suptitle(title, fontsize=10)
        save_png(fig, path)


def rf_growth(sizes: Sequence[float | None], jumps: Sequence[float | None], input_side: int, path: Path, title: str,
              global_at: int | None = None, unknown_at: int | None = None, stages: Sequence[tuple[int, str]] = ()) -> None:
    """Receptive-field size and jump (first image axis) through the layers, log scale."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(9, 4.0), dpi=100)
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
        if not known:
            ax.text(0.5, 0.5, "receptive field not tracked for these layers", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlim(-0.5, max(len(sizes), 1) - 0.5)
        _stage_axis(ax, stages, len(sizes), "stage (layers in execution order; grey lines: stage boundaries)")
        ax.set_ylabel("pixels")
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(title, fontsize=10)
        save_png(fig, path)


def family_styles(families: Sequence[str]) -> dict[str, tuple[str, tuple]]:
    """One marker and colour per family, from the sorted family names: every zoo plot passes the
    same families, so a family looks the same in each."""
    import matplotlib

    colors = matplotlib.colormaps["tab20"].colors
    names = sorted(set(families))
    return {f: (MARKERS[i % len(MARKERS)], colors[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20]) for i, f in enumerate(names)}


def _scatter(ax, points: Sequence[Point], x, y, styles: dict) -> None:
    for family, (marker, color) in styles.items():
        chosen = [p for p in points if p.family == family]
        solid = [p for p in chosen if not p.hollow]
        hollow = [p for p in chosen if p.hollow]
        if solid or hollow:
            ax.scatter([x(p) for p in solid], [y(p) for p in solid], marker=marker, color=color, s=36, label=family, zorder=3)
        if hollow:
            ax.scatter([x(p) for p in hollow], [y(p) for p in hollow], marker=marker, facecolors="none", edgecolors=color,
                       s=36, zorder=3, label=None if solid else family)


# Offsets (in points) tried for a label, nearest first: right, left, above, below, then diagonals
# further out. A greedy pass over the points is enough for a zoo of ~50 and keeps the picture a
# pure function of the data; adjustText would add a dependency for this one job.
_OFFSETS = [(dx * r, dy * r) for r in (1, 2, 3.5, 5, 7, 9) for dx, dy in
            ((5, -3), (-5, -3), (0, 6), (0, -12), (5, 6), (-5, 6), (5, -12), (-5, -12))]


def _place_labels(ax, points: Sequence[Point], x, y) -> None:
    """Label every point where the label overlaps no other label, marker or the axes' edge; a
    label pushed away from its point gets a thin leader line."""
    fig = ax.figure
    fig.tight_layout()  # the final layout (save_png's tight_layout keeps it): placement is measured in it
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    to_px = ax.transData.transform
    centres = [to_px((x(p), y(p))) for p in points]
    taken = [(cx - 4, cy - 4, cx + 4, cy + 4) for cx, cy in centres]
    if ax.get_legend() is not None:
        e = ax.get_legend().get_window_extent(renderer)
        taken.append((e.x0, e.y0, e.x1, e.y1))

    def clash(box) -> float:
        x0, y0, x1, y1 = box
        area = sum(max(0, min(x1, b[2]) - max(x0, b[0])) * max(0, min(y1, b[3]) - max(y0, b[1])) for b in taken)
        outside = x0 < frame.x0 or y0 < frame.y0 or x1 > frame.x1 or y1 > frame.y1
        return area + (1e9 if outside else 0)

    for p, (cx, cy) in sorted(zip(points, centres), key=lambda pc: (pc[1][0], pc[1][1])):
        best = None
        for dx, dy in _OFFSETS:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            text = ax.annotate(p.name, (x(p), y(p)), xytext=(dx, dy), textcoords="offset points", fontsize=6, ha=ha,
                               va="bottom")
            e = text.get_window_extent(renderer)
            box = (e.x0 - 1, e.y0 - 1, e.x1 + 1, e.y1 + 1)
            cost = clash(box)
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box, (dx, dy))
            else:
                text.remove()
            if cost == 0:
                break
        _, text, box, (dx, dy) = best
        if abs(dx) > 5 or abs(dy) > 12:
            scale = 72 / fig.dpi  # pixels to points: the leader moves with its point as the label does
            ax.annotate("", (x(p), y(p)), xytext=(((box[0] + box[2]) / 2 - cx) * scale, ((box[1] + box[3]) / 2 - cy) * scale),
                        textcoords="offset points",
                        arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5, "shrinkA": 4, "shrinkB": 3})
        taken.append(box)


def _log_labels(axis) -> None:
    """Plain numbers (0.1, 1, 10) on a log axis, no minor labels."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def accuracy_vs_macs(points: Sequence[Point], path: Path, styles: dict | None = None) -> None:
    """Paper top-1 against MACs (log x), one marker per family, every point labelled."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(11, 7.5), dpi=100)
        x, y = (lambda p: p.macs / 1e9), (lambda p: p.top1)
        _scatter(ax, points, x, y, styles or family_styles([p.family for p in points]))
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
        _place_labels(ax, points, x, y)
        save_png(fig, path)


def params_vs_macs(points: Sequence[Point], path: Path, styles: dict | None = None) -> None:
    """Parameters against MACs, log-log, one marker per family."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(11, 7.5), dpi=100)
        points = [Point(p.name, p.family, p.macs, p.params) for p in points]
        x, y = (lambda p: p.macs / 1e9), (lambda p: p.params / 1e6)
        _scatter(ax, points, x, y, styles or family_styles([p.family for p in points]))
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
        _place_labels(ax, points, x, y)
        save_png(fig, path)


def sweep_plot(rows: Sequence[dict], key: str, path: Path, title: str) -> None:
    """A sweep's variants: MACs against params (log-log), coloured by one grid key, the Pareto front joined."""
    import matplotlib.pyplot as plt

    with _style():
        fig, ax = plt.subplots(figsize=(9, 6), dpi=100)
        values = list(dict.fromkeys(_key_text(r[key]) for r in rows))
        numeric = all(isinstance(r[key], (int, float)) and not isinstance(r[key], bool) for r in rows)
        x = [r["macs"] / 1e9 for r in rows]
        y = [r["params"] / 1e6 for r in rows]
        if numeric and len(values) > 8:   # many numbers: a colour scale rather than a legend entry each
            points = ax.scatter(x, y, c=[r[key] for r in rows], cmap="viridis", s=18, zorder=3)
            fig.colorbar(points, ax=ax, label=key)
        else:
            colours = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
            for i, value in enumerate(values):
                chosen = [j for j, r in enumerate(rows) if _key_text(r[key]) == value]
                ax.scatter([x[j] for j in chosen], [y[j] for j in chosen], s=18, color=colours(i % colours.N), label=f"{key}={value}",
                           zorder=3)
            if values:
                ax.legend(fontsize=7, loc="upper left")
        front = sorted((r for r in rows if r.get("pareto")), key=lambda r: r["macs"])
        if front:
            ax.step([r["macs"] / 1e9 for r in front], [r["params"] / 1e6 for r in front], where="post", color="black", lw=1,
                    zorder=4, label="Pareto front")
            ax.scatter([r["macs"] / 1e9 for r in front], [r["params"] / 1e6 for r in front], s=60, facecolors="none",
                       edgecolors="black", zorder=5)
        if rows:
            from matplotlib.ticker import LogLocator

            ax.set_xscale("log")
            ax.set_yscale("log")
            for axis in (ax.xaxis, ax.yaxis):   # a sweep often spans less than a decade: label 1, 2 and 5 of each
                axis.set_major_locator(LogLocator(subs=(1, 2, 5)))
                _log_labels(axis)
        else:
            ax.text(0.5, 0.5, "no variant to plot", transform=ax.transAxes, ha="center", va="center")
        ax.set_xlabel("GMACs (log scale)")
        ax.set_ylabel("parameters, millions (log scale)")
        ax.grid(True, which="both", color="0.92", zorder=0)
        ax.set_title(f"{title}; circled: the Pareto front (no other variant has both fewer MACs and fewer params)", fontsize=10)
        save_png(fig, path)


def _key_text(value) -> str:
    return "[" + ",".join(map(str, value)) + "]" if isinstance(value, (list, tuple)) else str(value)
