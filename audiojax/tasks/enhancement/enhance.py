"""``audiojax enhance`` (and ``audiojax separate``, the separation task's): one enhanced WAV per
input file (one per source for separation), at the input's rate and length.

Inputs of any length, rate and channel count: mixed down and resampled to the run's rate, run
through the model, and resampled back. A causal model with a step mode (the causal
:class:`~audiojax.models.separation.MaskEstimator` and ``ConvTasNet``) streams the input in chunks of
:data:`STREAM_SECONDS` with its state carried, which gives exactly what the whole input at once
gives, at any length, in constant memory. Other models take the input whole up to
``enhance.segment_seconds`` and in half-overlapping segments beyond (cross-faded with a
periodic Hann window, whose overlapping halves sum to one). With several sources, each segment's are put in the order that best matches
the segment before over their overlap. A model trained on the scale-invariant SI-SDR has no
output level of its own: the estimates are given the gains whose sum comes closest to the
mixture (:func:`match_mixture`) before they are written as 16-bit WAVs, so that none is
clipped or lost in quantization. ``OUT/NAME.wav`` for one source, ``OUT/NAME_s1.wav``,
``OUT/NAME_s2.wav``, ... for several. Two inputs of one name would
write the same file: refused before anything is written.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

from audiojax.tasks.commands import add_run_arguments, overrides_from

# Lengths are padded up to a multiple of this (seconds), so that few shapes are compiled.
PAD_SECONDS = 1.0
# A streaming model's chunk (rounded to whole hops): one compiled shape for inputs of any length.
STREAM_SECONDS = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--out", required=True, help="the folder to write the WAVs into")
    parser.add_argument("files", nargs="+", help="audio files")


def output_names(files: list[str], sources: int) -> list[list[str]]:
    """The WAV names each input gets (``NAME.wav``, or ``NAME_s1.wav``... for several sources);
    ValueError naming two inputs that would write the same file."""
    seen: dict[str, str] = {}
    out = []
    for f in files:
        stem = Path(f).stem
        if stem in seen:
            raise ValueError(f"{f}: would overwrite the output of {seen[stem]} (same name); "
                             f"enhance them into different --out folders")
        seen[stem] = f
        out.append([f"{stem}.wav"] if sources == 1 else
                   [f"{stem}_s{k + 1}.wav" for k in range(sources)])
    return out


def run(args: argparse.Namespace, runs) -> int:
    from audiojax.progress import progress  # noqa: PLC0415

    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, ()))
    names = output_names(args.files, len(trained.task.targets))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    process = processor(trained)
    command = getattr(args, "command", "enhance")
    for path, files in zip(progress(args.files, desc=command, unit="file"), names):
        write_estimates(path, process, trained.config.data.sample_rate, [out / f for f in files],
                        command)
    print(f"wrote {sum(map(len, names))} files to {out}")
    return 0


def write_estimates(path, process, rate: int, outputs: list[Path], command: str = "enhance"):
    """Load ``path`` (mixed down), run ``process`` at ``rate`` (Hz), give the estimates the
    mixture's level (:func:`match_mixture`) and write each to its ``outputs`` file at the
    input's rate and length; a warning names a file whose estimate still had to be clipped."""
    from audiojax import audio  # noqa: PLC0415

    y, sr = audio.load(path, sr=None)
    x = audio.resample(y, sr, rate)
    for name, est in zip(outputs, match_mixture(x, process(x))):
        est = audio.resample(est, rate, sr)[:y.size]
        est = np.pad(est, (0, y.size - est.size))
        if (clipped := int(np.sum(np.abs(est) > 1))):
            print(f"audiojax {command}: warning: {name}: {clipped} samples clipped to [-1, 1]",
                  file=sys.stderr)
        audio.save(name, est.clip(-1, 1), sr)


def match_mixture(mixture, estimates) -> np.ndarray:
    """``estimates`` (num_sources, samples) scaled by the gains whose weighted sum comes
    closest to ``mixture`` (samples,) in least squares: one source's projection onto the
    mixture, several sources' share of it. Estimates that are silent, or that repeat another
    (singular values under 1e-3 of the largest), keep the minimum-norm solution's gains."""
    e = np.asarray(estimates, np.float64)
    gains, *_ = np.linalg.lstsq(e.T, np.asarray(mixture, np.float64), rcond=1e-3)
    return (e * gains[:, None]).astype(np.float32)


def processor(run):
    """``process(y (samples,)) -> (num_sources, samples)``: the run's model over a waveform at
    its rate: streamed (a causal model with a step mode), or whole or in cross-faded
    half-overlapping segments (``enhance.segment_seconds``)."""
    import jax  # noqa: PLC0415

    model = getattr(run.task, "model", None)
    if getattr(model, "streamable", False):
        return streamer(run, model)
    sr = run.config.data.sample_rate
    segment = int(run.config.enhance.segment_seconds * sr)
    pad = int(PAD_SECONDS * sr)
    step = jax.jit(lambda audio, length: run.task.estimate(run.variables, {"audio": audio,
                                                                           "length": length}))

    def whole(y):
        size = -(-y.size // pad) * pad
        x = np.zeros((1, size), np.float32)
        x[0, :y.size] = y
        return np.asarray(step(x, np.array([y.size], np.int32)))[0, :, :y.size]

    def process(y):
        y = np.asarray(y, np.float32)
        if y.size <= segment:
            return whole(y)
        hop = segment // 2
        window = np.sin(np.pi * np.arange(segment) / segment) ** 2  # periodic Hann
        starts = list(range(0, y.size - segment, hop)) + [y.size - segment]
        out = None
        weight = np.zeros(y.size)
        for k, start in enumerate(starts):
            w = window.copy()
            if k == 0:
                w[:hop] = 1.0  # nothing before the first segment to fade with
            if k == len(starts) - 1:
                w[segment - hop:] = 1.0
            est = whole(y[start:start + segment])
            if out is None:
                out = np.zeros((est.shape[0], y.size))
            else:
                est = est[best_order(out[:, start:starts[k - 1] + segment], est)]
            out[:, start:start + segment] += w * est
            weight[start:start + segment] += w
        return (out / weight).astype(np.float32)

    return process


def streamer(run, model):
    """``process(y (samples,)) -> (num_sources, samples)`` through ``model.step``, chunk by
    chunk, then ``model.stream_delay`` zeros to flush what the last samples need; the output
    stream, delayed by that much, trimmed back to the input."""
    import jax  # noqa: PLC0415

    hop = model.hop_length
    chunk = max(1, round(STREAM_SECONDS * run.config.data.sample_rate / hop)) * hop
    step = jax.jit(lambda variables, x, state: model.apply(variables, x, state,
                                                            method=type(model).step))

    def process(y):
        delay = model.stream_delay
        x = np.zeros(-(-(y.size + delay) // chunk) * chunk, np.float32)
        x[:y.size] = y
        state, out = model.initial_state(1), []
        for start in range(0, x.size, chunk):
            est, state = step(run.variables, x[None, start:start + chunk], state)
            out.append(np.asarray(est[0]))
        return np.concatenate(out, axis=-1)[:, delay:delay + y.size]

    return process


def best_order(before: np.ndarray, estimate: np.ndarray) -> list[int]:
    """The order of ``estimate``'s sources ``(S, samples)`` whose first samples correlate best
    with ``before (S, overlap)``, the output so far over the overlap."""
    n = before.shape[1]
    if estimate.shape[0] == 1:
        return [0]
    corr = before @ estimate[:, :n].T  # (S, S): output source i against estimate j
    return list(max(itertools.permutations(range(estimate.shape[0])),
                    key=lambda p: sum(corr[i, j] for i, j in enumerate(p))))
