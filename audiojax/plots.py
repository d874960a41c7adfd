"""Matplotlib figures written as PNG files (headless: the Agg backend, no display needed)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.special import ndtri  # noqa: E402  # the normal quantile function (norm.ppf)


def features_png(
    path: str | os.PathLike,
    y: np.ndarray,
    sr: int,
    log_mel: np.ndarray,
    mfcc: np.ndarray,
    hop_length: int,
    title: str = "",
) -> None:
    """Waveform, log-mel spectrogram and MFCCs of one clip, stacked on a shared time axis.

    Args:
      y: samples, shape ``(samples,)``.
      sr: sample rate in Hz.
      log_mel: ``(n_mels, frames)`` in dB.
      mfcc: ``(n_mfcc, frames)``.
      hop_length: samples between frames, to put frames on the seconds axis.
    """
    seconds = len(y) / sr
    frame_end = log_mel.shape[-1] * hop_length / sr
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True, constrained_layout=True)
    axes[0].plot(np.arange(len(y)) / sr, y, lw=0.5)
    axes[0].set(ylabel="amplitude", xlim=(0, max(seconds, frame_end)), title=title)
    im = axes[1].imshow(log_mel, origin="lower", aspect="auto", cmap="magma",
                        extent=(0, frame_end, 0, log_mel.shape[0]))
    axes[1].set(ylabel="mel band")
    fig.colorbar(im, ax=axes[1], label="dB")
    im = axes[2].imshow(mfcc, origin="lower", aspect="auto", cmap="coolwarm",
                        extent=(0, frame_end, 0, mfcc.shape[0]))
    axes[2].set(ylabel="MFCC", xlabel="time (s)")
    fig.colorbar(im, ax=axes[2])
    fig.savefig(path, dpi=110)
    plt.close(fig)


_COUNTS = ("step", "time", "split", "count", "samples", "tokens")


def learning_curves_png(path: str | os.PathLike, records: list[dict], title: str = "") -> None:
    """Every scalar metric the evaluators report (loss, accuracy, CER, bits per sample, ...)
    against step, one panel each, a line per split that has it (training included); the
    trainer's own diagnostics (learning rate, norms) are left to TensorBoard.

    ``records``: ``metrics.jsonl`` rows ``{"step", "split", name: value, ...}``.
    """
    splits = sorted({r["split"] for r in records})
    evaluated = {k for r in records if r["split"] != "train" for k in r} - set(_COUNTS)
    names = sorted(evaluated, key=lambda n: (n != "loss", n))
    if not names:
        return
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.6), constrained_layout=True,
                             squeeze=False)
    for ax, name in zip(axes[0], names):
        for split in splits:
            pts = [(r["step"], r[name]) for r in records if r["split"] == split and name in r]
            if pts:
                steps, values = zip(*pts)
                ax.plot(steps, values, marker="o" if len(pts) < 30 else None, ms=3, label=split)
        ax.set(xlabel="step", ylabel=name)
        if name == "loss" and all(v > 0 for r in records if name in r for v in [r[name]]):
            ax.set_yscale("log")  # not for a loss that goes negative (minus the SI-SDR)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def confusion_matrix_png(path: str | os.PathLike, confusion: np.ndarray, labels: list[str],
                         title: str = "") -> None:
    """Row-normalized confusion matrix (rows: true label, columns: prediction), counts annotated
    where the matrix is small enough to read."""
    confusion = np.asarray(confusion, float)
    rows = confusion.sum(1, keepdims=True)
    normalized = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    n = len(labels)
    size = max(4.0, 0.28 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size), constrained_layout=True)
    im = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=90, fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    if n <= 40:
        for i in range(n):
            for j in range(n):
                if confusion[i, j]:
                    ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=6,
                            color="white" if normalized[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true label")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def detection_curve_png(path: str | os.PathLike, false_alarms_per_hour, miss_rate,
                        marks: dict[str, tuple[float, float]] | None = None,
                        title: str = "") -> None:
    """A keyword detector's DET-style curve: miss rate (%) against false alarms per hour (log
    axis), one point per threshold; ``marks``: ``{name: (false alarms per hour, miss rate)}``
    operating points (the per-keyword thresholds tuned for a rate)."""
    fa = np.maximum(np.asarray(false_alarms_per_hour, np.float64), 1e-2)  # 0 on a log axis
    fig, ax = plt.subplots(figsize=(5.5, 4.5), constrained_layout=True)
    ax.plot(fa, 100 * np.asarray(miss_rate, np.float64), "-o", ms=2.5, lw=1.5,
            label="one threshold for all keywords")
    for k, (name, (x, y)) in enumerate((marks or {}).items()):
        ax.plot(max(x, 1e-2), 100 * y, "s", color=f"C{k + 1}", label=name)
    ax.set_xscale("log")
    ax.set(xlabel="false alarms per hour", ylabel="miss rate (%)", ylim=(0, 100), title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def waveform_spectrogram_png(path: str | os.PathLike, y: np.ndarray, sr: int, title: str = "") -> None:
    """Waveform ``(samples,)`` above its spectrogram (dB, 32 ms Hann frames, 8 ms hop)."""
    y = np.asarray(y, np.float32)
    fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, constrained_layout=True)
    axes[0].plot(np.arange(len(y)) / sr, y, lw=0.5)
    axes[0].set(ylabel="amplitude", ylim=(-1.05, 1.05), xlim=(0, len(y) / sr), title=title)
    n_fft = int(0.032 * sr)
    if len(y) >= n_fft:
        _, _, _, im = axes[1].specgram(y, NFFT=n_fft, Fs=sr, noverlap=n_fft - n_fft // 4,
                                       window=np.hanning(n_fft), cmap="magma", vmin=-140)
        fig.colorbar(im, ax=axes[1], label="dB")
    axes[1].set(ylabel="frequency (Hz)", xlabel="time (s)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def alignment_png(path: str | os.PathLike, alignment: np.ndarray, text: str, title: str = "") -> None:
    """Attention weights of one decoded utterance: ``alignment (tokens, encoder frames)``, one row
    per emitted character of ``text`` (the last row is the end of sentence)."""
    labels = [c if c != " " else "_" for c in text] + ["<eos>"]
    steps, frames = alignment.shape
    fig, ax = plt.subplots(figsize=(min(14, 3 + frames / 12), min(14, 2 + steps / 5)),
                           constrained_layout=True)
    ax.imshow(alignment, origin="upper", aspect="auto", cmap="viridis", interpolation="nearest",
              vmin=0.0)
    ax.set_yticks(range(steps), labels[:steps], fontsize=7)
    ax.set(xlabel="encoder frame", ylabel="decoded character", title=title)
    ax.title.set_fontsize(8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# DET axes: rates on the normal-deviate (probit) scale, labelled in percent.
_DET_TICKS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)
_DET_LIMITS = (0.0005, 0.6)


def det_png(path: str | os.PathLike, p_fa: np.ndarray, p_miss: np.ndarray, title: str = "",
            eer: float | None = None) -> None:
    """Detection error trade-off curve of a verification system: miss rate against false-alarm
    rate, both ``(points,)`` (:func:`audiojax.tasks.speaker.metrics.det_curve`), on probit
    axes from 0.05 % to 60 %, with the EER marked on the diagonal when given."""
    # Rates of exactly 0 or 1 sit at -inf/+inf on these axes: clip just past the limits, so
    # the curve runs to the frame instead of breaking off.
    clip = lambda p: ndtri(np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4))  # noqa: E731
    fig, ax = plt.subplots(figsize=(5, 5), constrained_layout=True)
    ax.plot(clip(p_fa), clip(p_miss), lw=1.5, label="DET")
    limits = ndtri(np.asarray(_DET_LIMITS))
    ax.plot(limits, limits, color="0.6", lw=0.8, ls="--")
    if eer is not None:
        ax.plot(clip(eer), clip(eer), "o", color="C3", label=f"EER {100 * eer:.2f} %")
        ax.legend(loc="upper right")
    ticks, tick_labels = ndtri(np.asarray(_DET_TICKS)), [f"{100 * t:g}" for t in _DET_TICKS]
    ax.set_xticks(ticks, tick_labels)
    ax.set_yticks(ticks, tick_labels)
    ax.set(xlim=limits, ylim=limits, xlabel="false-alarm rate (%)", ylabel="miss rate (%)",
           title=title)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def score_histogram_png(path: str | os.PathLike, edges: np.ndarray, target: np.ndarray,
                        nontarget: np.ndarray, title: str = "",
                        threshold: float | None = None) -> None:
    """Target and non-target score distributions overlaid, from their counts ``target (bins,)``
    and ``nontarget (bins,)`` on shared bin ``edges (bins + 1,)`` (``np.histogram``'s), drawn as
    densities (non-targets usually far outnumber targets); the decision threshold as a
    vertical line when given."""
    edges = np.asarray(edges, np.float64)
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    for counts, name, color in ((nontarget, "non-target", "C0"), (target, "target", "C1")):
        counts = np.asarray(counts, np.float64)
        if counts.sum():
            ax.stairs(counts / (counts.sum() * np.diff(edges)), edges, fill=True, alpha=0.5,
                      color=color, label=f"{name} ({int(counts.sum())})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, label=f"threshold {threshold:.3g}")
    ax.set(xlabel="score", ylabel="density", title=title)
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def spectrograms_png(path: str | os.PathLike, signals: dict[str, np.ndarray], sr: int,
                     title: str = "") -> None:
    """Spectrograms (dB, 32 ms Hann frames, 8 ms hop) of ``signals`` (name -> ``(samples,)``,
    e.g. mixture, estimate, reference), one above the other on the first one's colour scale."""
    fig, axes = plt.subplots(len(signals), 1, figsize=(9, 2.2 * len(signals)), sharex=True,
                             constrained_layout=True, squeeze=False)
    n_fft = int(0.032 * sr)
    images = []
    for ax, (name, y) in zip(axes[:, 0], signals.items()):
        y = np.asarray(y, np.float32)
        if len(y) >= n_fft:
            with np.errstate(divide="ignore"):  # digital silence is -inf dB: the scale's floor
                images.append(ax.specgram(y, NFFT=n_fft, Fs=sr, noverlap=n_fft - n_fft // 4,
                                          window=np.hanning(n_fft), cmap="magma")[3])
        ax.set(ylabel=f"{name}\nHz", xlim=(0, len(y) / sr))
    if images:
        low, high = images[0].get_clim()
        for im in images:
            im.set_clim(max(low, high - 100), high)
        fig.colorbar(images[0], ax=axes[:, 0], label="dB")
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("time (s)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def events_png(path: str | os.PathLike, scenes: list[dict], labels: list[str], sr: int,
               title: str = "") -> None:
    """Per scene (``{"audio" (samples,), "reference", "estimate": [(onset_s, offset_s,
    label)], "name"}``) its spectrogram (dB, 32 ms Hann frames) above its true (grey) and
    detected (orange) events, one row per class that either holds."""
    fig, axes = plt.subplots(2 * len(scenes), 1, figsize=(9, 3.6 * len(scenes)),
                             constrained_layout=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1.4] * len(scenes)})
    n_fft = int(0.032 * sr)
    for k, scene in enumerate(scenes):
        top, bottom = axes[2 * k, 0], axes[2 * k + 1, 0]
        y = np.asarray(scene["audio"], np.float32)
        seconds = len(y) / sr
        if len(y) >= n_fft:
            with np.errstate(divide="ignore"):
                im = top.specgram(y, NFFT=n_fft, Fs=sr, noverlap=n_fft - n_fft // 4,
                                  window=np.hanning(n_fft), cmap="magma")[3]
            low, high = im.get_clim()
            im.set_clim(max(low, high - 90), high)
        top.set(ylabel="Hz", xlim=(0, seconds), title=f"{title} {scene['name']}".strip())
        shown = sorted({x for _, _, x in scene["reference"] + scene["estimate"]},
                       key=labels.index)
        for row, label in enumerate(shown):
            for events, colour, dy in ((scene["reference"], "0.55", 0.0),
                                       (scene["estimate"], "tab:orange", 0.4)):
                spans = [(a, b - a) for a, b, x in events if x == label]
                bottom.broken_barh(spans, (row + dy, 0.38), color=colour)
        bottom.set(xlim=(0, seconds), ylim=(0, max(len(shown), 1)), xlabel="time (s)",
                   yticks=np.arange(len(shown)) + 0.4, yticklabels=shown)
    axes[1, 0].legend(handles=[matplotlib.patches.Patch(color="0.55", label="true"),
                               matplotlib.patches.Patch(color="tab:orange", label="detected")],
                      loc="upper right", fontsize=7)
    fig.savefig(path, dpi=100)
    plt.close(fig)
