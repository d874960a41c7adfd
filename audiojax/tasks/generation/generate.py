"""``audiojax generate``: waveforms sampled from a generation run, a WAV and a waveform /
spectrogram PNG each; and two measures of what a run generates (word recognition by a
classifier run, vocoder distortion).

A long ``--mel-from`` file needs no windowing: the cached sampler carries its state from chunk
to chunk (:func:`sample_run`), so any length is drawn in constant memory.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiojax.tasks.commands import add_run_arguments, overrides_from


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--seconds", type=float, default=None,
                        help="length of each output (default for --mel-from: the file's length)")
    parser.add_argument("--num", type=int, default=1,
                        help="number of outputs (streams sampled together)")
    parser.add_argument("--out", required=True, help="output folder")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--condition", default=None, help="word label, for a word-conditioned model")
    given.add_argument("--mel-from", default=None, help="WAV whose log-mel a vocoder renders")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, runs) -> int:
    trained = runs.restore(args.workdir, args.checkpoint, overrides_from(args, ()))
    files = generate(trained, args.seconds, args.num, args.out, condition=args.condition,
                     mel_from=args.mel_from, temperature=args.temperature, seed=args.seed)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _conditions(run, num: int, num_samples: int | None, condition: str | None,
                mel_from: str | None):
    """``(global_id or None, local frames (num, frames, n_mels) or None, num_samples, tag)``
    for :func:`generate`, refusing conditions the run's model does not take."""
    import jax.numpy as jnp  # noqa: PLC0415

    task = run.task
    kind = task.condition
    if condition is not None and kind != "label":
        raise ValueError(f"--condition: the model in {run.workdir} is not word-conditioned "
                         f"(its condition is {kind!r})")
    if mel_from is not None and kind != "mel":
        raise ValueError(f"--mel-from: the model in {run.workdir} is not a mel vocoder "
                         f"(its condition is {kind!r})")
    if kind == "label":
        if condition is None:
            raise ValueError(f"--condition: the model in {run.workdir} is word-conditioned; "
                             f"name one of {', '.join(task.labels)}")
        if condition not in task.label_to_id:
            raise ValueError(f"--condition: unknown label {condition!r}; known: {', '.join(task.labels)}")
        return jnp.full((num,), task.label_to_id[condition], jnp.int32), None, num_samples, condition
    if kind == "mel":
        if mel_from is None:
            raise ValueError(f"--mel-from: the model in {run.workdir} is a mel vocoder; give a WAV file")
        import audiojax  # noqa: PLC0415

        audio, _ = audiojax.load(mel_from, sr=run.config.data.sample_rate)
        if num_samples is not None:
            audio = audio[:num_samples]
        frames = task.mel.apply({}, jnp.asarray(audio)[None])
        return None, jnp.broadcast_to(frames, (num, *frames.shape[1:])), len(audio), Path(mel_from).stem
    return None, None, num_samples, "unconditional"


def sample_run(run, num: int, num_samples: int, *, global_id=None, local_frames=None,
               temperature: float = 1.0, seed: int = 0, chunk: int = 4000, progress: bool = True):
    """``(num, num_samples)`` float audio from a restored run with the cached sampler, drawn in
    chunks of ``chunk`` samples (one compiled scan, reused) under a progress bar."""
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from audiojax.progress import progress as progress_bar  # noqa: PLC0415
    from audiojax.tasks.generation.samplers import cached_sampler, initial_state  # noqa: PLC0415

    if temperature <= 0:
        raise ValueError(f"--temperature must be positive, got {temperature}")
    model = run.task.model
    variables = run.variables
    chunk = min(chunk, num_samples)
    padded = -(-num_samples // chunk) * chunk
    local = None
    if local_frames is not None:
        local = model.apply(variables, local_frames, padded, method=model.upsample_local)
    sampler = cached_sampler(model, chunk)
    state = initial_state(model, variables, num)
    key = jax.random.PRNGKey(seed)
    pieces = []
    for start in progress_bar(range(0, padded, chunk), desc="generate", unit="chunk",
                              disable=not progress):
        piece_local = None if local is None else local[:, start:start + chunk]
        state, samples = sampler(variables, key, state, global_id, piece_local, temperature)
        pieces.append(jax.block_until_ready(samples))  # so the bar shows real progress
    samples = jnp.concatenate(pieces, axis=1)[:, :num_samples]
    return np.asarray(model.dist.to_audio(samples), np.float32)


def generate(run, seconds: float | None, num: int, out: str | Path, *,
             condition: str | None = None, mel_from: str | None = None,
             temperature: float = 1.0, seed: int = 0) -> list[Path]:
    """Writes ``num`` WAV files of ``seconds`` at the run's rate (a vocoder: the length of
    ``mel_from`` unless ``seconds`` is shorter) and a waveform/spectrogram PNG of each into
    ``out``; returns the files written."""
    if num < 1:
        raise ValueError(f"--num must be at least 1, got {num}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {seconds}")
    wanted = None if seconds is None else int(round(seconds * run.config.data.sample_rate))
    global_id, local_frames, num_samples, tag = _conditions(run, num, wanted, condition, mel_from)
    if num_samples is None:
        raise ValueError("--seconds: required unless --mel-from gives the length")
    audio = sample_run(run, num, num_samples, global_id=global_id, local_frames=local_frames,
                       temperature=temperature, seed=seed)
    return _write(run, audio, Path(out), [f"{tag}_{i:02d}" for i in range(num)], temperature)


def _write(run, audio, out: Path, names: list[str], temperature: float) -> list[Path]:
    """``out/NAME.wav`` and ``out/NAME.png`` (waveform + spectrogram) per row of ``audio``."""
    from audiojax import plots, save  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, y in zip(names, audio):
        wav = out / f"{name}.wav"
        save(wav, y, run.config.data.sample_rate)
        png = wav.with_suffix(".png")
        plots.waveform_spectrogram_png(png, y, run.config.data.sample_rate,
                                       title=f"{run.workdir.name} step {run.step}: {name}, "
                                             f"temperature {temperature}")
        written += [wav, png]
    return written


def word_recognition(run, classifier_run, words: list[str], per_word: int, out: str | Path, *,
                     seconds: float = 1.0, temperature: float = 1.0, seed: int = 0) -> dict:
    """Share of clips generated by a word-conditioned ``run`` that a trained keyword classifier
    run labels as the word asked for; ``per_word`` clips per word, all drawn together as one
    batch of streams."""
    import jax.numpy as jnp  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    from audiojax.tasks.classification.predict import predict  # noqa: PLC0415

    asked = [w for w in words for _ in range(per_word)]
    ids = [_conditions(run, 1, 1, word, None)[0][0] for word in asked]  # checks each word
    num_samples = int(round(seconds * run.config.data.sample_rate))
    audio = sample_run(run, len(asked), num_samples, global_id=jnp.stack(ids),
                       temperature=temperature, seed=seed)
    names = [f"{w}_{i % per_word:02d}" for i, w in enumerate(asked)]
    files = [str(f) for f in _write(run, audio, Path(out), names, temperature) if f.suffix == ".wav"]
    top = [p.top[0][0] for p in predict(classifier_run, files, top_k=1)]
    hits = [a == p for a, p in zip(asked, top)]
    return {"share": float(np.mean(hits)), "clips": len(hits),
            "predicted": {Path(f).stem: p for f, p in zip(files, top)}}


def vocoder_distortion(run, files: list[str], out: str | Path, *, temperature: float = 1.0) -> dict:
    """Log-spectral distance and mel-cepstral distortion (dB) between each file and the
    vocoder's rendering of its own log-mel; means and per-file values."""
    import numpy as np  # noqa: PLC0415

    import audiojax  # noqa: PLC0415
    from audiojax.tasks.generation.distortion import (log_spectral_distance,  # noqa: PLC0415
                                                      mel_cepstral_distortion)

    rows = {}
    for path in files:
        wav = next(f for f in generate(run, None, 1, out, mel_from=path, temperature=temperature)
                   if f.suffix == ".wav")
        estimate, sr = audiojax.load(wav)
        reference = audiojax.load(path, sr=sr)[0][:len(estimate)]
        rows[str(path)] = {"lsd_db": float(log_spectral_distance(reference, estimate)),
                           "mcd_db": float(mel_cepstral_distortion(reference, estimate, sr=sr))}
    return {"lsd_db": float(np.mean([r["lsd_db"] for r in rows.values()])),
            "mcd_db": float(np.mean([r["mcd_db"] for r in rows.values()])), "files": rows}
