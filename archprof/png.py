"""Plots written as deterministic PNG files (Agg backend, no timestamps in the metadata)."""
from __future__ import annotations

import io
from pathlib import Path

from archprof.files import write_bytes_atomic


def figure(width: float = 7.0, height: float = 4.0):
    """A matplotlib figure and axes on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "archprof"
    return plt.subplots(figsize=(width, height), dpi=100)


def save_png(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
