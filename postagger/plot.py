"""Pictures, with matplotlib (the optional extra `postagger[plot]`): the row-normalised confusion
matrix as a heatmap, and learning curves by epoch."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import MissingExtra, UsageError, reason

INSTALL = "matplotlib is not installed; install it with: pip install 'postagger[plot]' (or pip install matplotlib)"


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra(INSTALL) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def confusion_heatmap(confusion: dict, path: str | Path, title: str = "", max_tags: int = 30) -> Path:
    """Rows are gold tags, columns predicted tags, both in the order of confusion["labels"]
    (gold frequency); each row is divided by its total, so a cell is P(predicted | gold).
    Returns the file written (see _save)."""
    plt = _pyplot()
    labels, rates = row_normalised(confusion, max_tags)
    size = 3 + 0.32 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted tag")
    ax.set_ylabel("gold tag")
    for g in range(len(labels)):
        for p in range(len(labels)):
            if rates[g, p] >= 0.01:
                ax.text(p, g, f"{100 * rates[g, p]:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if rates[g, p] > 0.6 else "black")
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="% of the gold tag's tokens")
    bar.set_ticks(np.linspace(0, 1, 6), labels=[f"{100 * v:.0f}" for v in np.linspace(0, 1, 6)])  # percent, as the cells
    ax.set_title(title or "confusion matrix, rows normalised (numbers in %)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, plt)


def row_normalised(confusion: dict, max_tags: int = 30) -> tuple[list[str], np.ndarray]:
    """The first max_tags labels and their block of the confusion matrix, each row divided by
    the gold tag's total over all predicted tags (those beyond max_tags included)."""
    labels = confusion["labels"][:max_tags]
    counts = np.array(confusion["matrix"], dtype=float)[: len(labels)]
    totals = counts.sum(axis=1, keepdims=True)
    block = counts[:, : len(labels)]
    return labels, np.divide(block, totals, out=np.zeros_like(block), where=totals > 0)


def learning_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Training loss and dev accuracy by epoch. Returns the file written (see _save)."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, loss_ax = plt.subplots(figsize=(6.4, 4))
    loss_ax.plot(epochs, [r["loss"] for r in history], "o-", color="tab:red", label="training loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss (cross-entropy)", color="tab:red")
    dev = [(r["epoch"], 100 * r["dev_accuracy"]) for r in history if r.get("dev_accuracy") is not None]
    if dev:
        acc_ax = loss_ax.twinx()
        acc_ax.plot(*zip(*dev), "s-", color="tab:blue", label="dev accuracy")
        acc_ax.set_ylabel("dev accuracy (%)", color="tab:blue")
    loss_ax.set_xticks(epochs)
    loss_ax.set_title(title or "learning curves", fontsize=10)
    fig.tight_layout()
    return _save(fig, path, plt)


def check_available(path: str | Path | None = None, option: str = "--out") -> None:
    """A MissingExtra error now, before any long work whose result is to be drawn, and a
    UsageError when matplotlib cannot write path's format."""
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(path).suffix.lstrip(".").lower() if path is not None else ""
    supported = FigureCanvasBase.get_supported_filetypes()
    if suffix and suffix not in supported:
        raise UsageError(f"{path}: matplotlib cannot write .{suffix} files; use one of {', '.join(sorted(supported))} "
                         f"(choose another {option})")


def _save(fig, path, plt) -> Path:
    """Write fig to path, as PNG when path has no extension (which then gets .png, as
    matplotlib names it, unless it is a device or pipe, /dev/null say); returns the path written."""
    path = Path(path)
    special = path.exists() and not path.is_file() and not path.is_dir()
    if not path.suffix and not special:
        path = path.with_name(path.name + ".png")
    try:
        if special:  # PNG writers seek back, which a pipe cannot
            image = io.BytesIO()
            fig.savefig(image, dpi=120, format=path.suffix.lstrip(".").lower() or "png")
            path.write_bytes(image.getvalue())
        else:
            fig.savefig(path, dpi=120)
    except OSError as err:
        raise UsageError(f"{path}: cannot write ({reason(err)})") from None
    except ValueError as err:  # an extension matplotlib cannot write
        raise UsageError(f"{path}: {err}") from None
    finally:
        plt.close(fig)
    return path
