"""Sampling waveforms from autoregressive models, and ``audiojax generate``.

Two samplers over the same parameters, drawing sample ``t`` of every stream with the key
``fold_in(key, t)`` so that they give identical samples:

- :func:`cached_sampler`: the model's ``step`` with per-layer queues, one ``lax.scan`` over
  samples, batched over streams (any model with ``init_cache``/``step``: WaveNet, SampleRNN);
- :func:`naive_sampler`: recomputes WaveNet's parallel pass over the last ``receptive_field``
  inputs for every sample (the reference for tests and benchmarks).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm


def cached_sampler(model, num_samples: int):
    """A jitted ``run(variables, key, state, global_id, local, temperature) -> (state, samples)``.

    ``state`` is ``(cache, previous sample (batch,), t)`` from :func:`initial_state` or from the
    previous call, so long outputs can be drawn chunk by chunk; ``local`` is the upsampled
    condition of these ``num_samples`` samples ``(batch, num_samples, C)`` or None;
    ``samples`` are ``(batch, num_samples)`` (codes or floats, see ``model.dist``).
    """
    dist = model.dist

    def run(variables, key, state, global_id, local, temperature):
        def body(carry, i):
            cache, x, t = carry
            local_t = (None if local is None
                       else jax.lax.dynamic_index_in_dim(local, i, 1, keepdims=False))
            cache, params = model.apply(variables, cache, t, x, global_id, local_t, method=model.step)
            x = dist.sample(params, jax.random.fold_in(key, t), temperature)
            return (cache, x, t + 1), x

        state, samples = jax.lax.scan(body, state, jnp.arange(num_samples))
        return state, samples.T

    return jax.jit(run)


def initial_state(model, variables, batch_size: int):
    """``(cache, start input, t = 0)`` for :func:`cached_sampler`."""
    cache = model.apply(variables, batch_size, method=model.init_cache)
    return cache, model.start_input(batch_size), jnp.zeros((), jnp.int32)


def naive_sampler(model, num_samples: int, batch_size: int):
    """A jitted ``run(variables, key, global_id, local, temperature) -> samples (batch, num)``
    (arguments as in :func:`cached_sampler`) running ``model.forward`` on the last
    ``receptive_field`` inputs for every sample."""
    dist, width = model.dist, model.receptive_field

    def run(variables, key, global_id, local, temperature):
        start = model.start_input(batch_size)
        window = jnp.broadcast_to(start[:, None], (batch_size, width))
        if local is not None:
            local = jnp.pad(local, ((0, 0), (width - 1, 0), (0, 0)))

        def body(window, t):
            local_w = None if local is None else jax.lax.dynamic_slice_in_dim(local, t, width, 1)
            # Window position width-1 is time t: positions before time 0 are padding.
            params = model.apply(variables, window, global_id, local_w, valid_from=width - 1 - t,
                                 method=model.forward)[:, -1]
            x = dist.sample(params, jax.random.fold_in(key, t), temperature)
            return jnp.concatenate([window[:, 1:], x[:, None].astype(window.dtype)], axis=1), x

        _, samples = jax.lax.scan(body, window, jnp.arange(num_samples))
        return samples.T

    return jax.jit(run)


def _conditions(run, num: int, num_samples: int | None, condition: str | None,
                mel_from: str | None):
    """``(global_id or None, local frames (num, frames, n_mels) or None, num_samples, tag)``
    for ``generate``, refusing conditions the run's model does not take."""
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
        import audiojax

        audio, _ = audiojax.load(mel_from, sr=run.config.data.sample_rate)
        if num_samples is not None:
            audio = audio[:num_samples]
        frames = task.mel.apply({}, jnp.asarray(audio)[None])
        return None, jnp.broadcast_to(frames, (num, *frames.shape[1:])), len(audio), Path(mel_from).stem
    return None, None, num_samples, "unconditional"


def sample_run(run, num: int, num_samples: int, *, global_id=None, local_frames=None,
               temperature: float = 1.0, seed: int = 0, chunk: int = 4000,
               progress: bool = True) -> np.ndarray:
    """``(num, num_samples)`` float audio from a restored run with the cached sampler, drawn in
    chunks of ``chunk`` samples (one compiled scan, reused) under a progress bar."""
    if temperature <= 0:
        raise ValueError(f"--temperature must be positive, got {temperature}")
    model = run.task.model
    variables = run.parallel.get_state(run.variables)
    chunk = min(chunk, num_samples)
    padded = -(-num_samples // chunk) * chunk
    local = None
    if local_frames is not None:
        local = model.apply(variables, local_frames, padded, method=model.upsample_local)
    sampler = cached_sampler(model, chunk)
    state = initial_state(model, variables, num)
    key = jax.random.PRNGKey(seed)
    pieces = []
    for start in tqdm(range(0, padded, chunk), desc="generate", unit="chunk", disable=not progress):
        piece_local = None if local is None else local[:, start:start + chunk]
        state, samples = sampler(variables, key, state, global_id, piece_local, temperature)
        pieces.append(jax.block_until_ready(samples))  # so the bar shows real progress
    samples = jnp.concatenate(pieces, axis=1)[:, :num_samples]
    return np.asarray(model.dist.to_audio(samples), np.float32)


def generate(workdir: str | Path, seconds: float | None, num: int, out: str | Path, *,
             condition: str | None = None, mel_from: str | None = None,
             temperature: float = 1.0, checkpoint: str | int = "best", seed: int = 0) -> list[Path]:
    """Writes ``num`` WAV files of ``seconds`` at the run's rate (a vocoder: the length of
    ``mel_from`` unless ``seconds`` is shorter) and a waveform/spectrogram PNG of each into
    ``out``; returns the files written."""
    from audiojax.evaluate import restore_run

    if num < 1:
        raise ValueError(f"--num must be at least 1, got {num}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {seconds}")
    run = restore_run(workdir, checkpoint)
    wanted = None if seconds is None else int(round(seconds * run.config.data.sample_rate))
    global_id, local_frames, num_samples, tag = _conditions(run, num, wanted, condition, mel_from)
    if num_samples is None:
        raise ValueError("--seconds: required unless --mel-from gives the length")
    audio = sample_run(run, num, num_samples, global_id=global_id, local_frames=local_frames,
                       temperature=temperature, seed=seed)
    return _write(run, audio, Path(out), [f"{tag}_{i:02d}" for i in range(num)], temperature)


def _write(run, audio: np.ndarray, out: Path, names: list[str], temperature: float) -> list[Path]:
    """``out/NAME.wav`` and ``out/NAME.png`` (waveform + spectrogram) per row of ``audio``."""
    from audiojax import plots, save

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


def word_recognition(workdir: str | Path, classifier_workdir: str | Path, words: list[str],
                     per_word: int, out: str | Path, *, seconds: float = 1.0,
                     temperature: float = 1.0, checkpoint: str | int = "best", seed: int = 0) -> dict:
    """Share of clips generated by a word-conditioned run that a trained keyword classifier
    (``audiojax.evaluate.predict``) labels as the word asked for; ``per_word`` clips per word,
    all drawn together as one batch of streams."""
    from audiojax.evaluate import predict, restore_run

    run = restore_run(workdir, checkpoint)
    asked = [w for w in words for _ in range(per_word)]
    ids = [_conditions(run, 1, 1, word, None)[0][0] for word in asked]  # checks each word
    num_samples = int(round(seconds * run.config.data.sample_rate))
    audio = sample_run(run, len(asked), num_samples, global_id=jnp.stack(ids),
                       temperature=temperature, seed=seed)
    names = [f"{w}_{i % per_word:02d}" for i, w in enumerate(asked)]
    files = [str(f) for f in _write(run, audio, Path(out), names, temperature) if f.suffix == ".wav"]
    top = [labels[0][0] for labels in predict(classifier_workdir, files, top_k=1)]
    hits = [a == p for a, p in zip(asked, top)]
    return {"share": float(np.mean(hits)), "clips": len(hits),
            "predicted": {Path(f).stem: p for f, p in zip(files, top)}}


def vocoder_distortion(workdir: str | Path, files: list[str], out: str | Path, *,
                       temperature: float = 1.0, checkpoint: str | int = "best") -> dict:
    """Log-spectral distance and mel-cepstral distortion (dB) between each file and the
    vocoder's rendering of its own log-mel; means and per-file values."""
    import audiojax
    from audiojax.distortion import log_spectral_distance, mel_cepstral_distortion

    rows = {}
    for path in files:
        wav = next(f for f in generate(workdir, None, 1, out, mel_from=path, temperature=temperature,
                                       checkpoint=checkpoint) if f.suffix == ".wav")
        estimate, sr = audiojax.load(wav)
        reference = audiojax.load(path, sr=sr)[0][:len(estimate)]
        rows[str(path)] = {"lsd_db": float(log_spectral_distance(reference, estimate)),
                           "mcd_db": float(mel_cepstral_distortion(reference, estimate, sr=sr))}
    return {"lsd_db": float(np.mean([r["lsd_db"] for r in rows.values()])),
            "mcd_db": float(np.mean([r["mcd_db"] for r in rows.values()])), "files": rows}
