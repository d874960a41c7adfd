"""Streaming layers and the streaming keyword model: the whole-sequence mode against librosa and
NumPy transcriptions, and the step mode (chunk by chunk, carried state) against the whole."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import orbax.checkpoint as ocp
import pytest
import scipy.signal

from audiojax.frontends.streaming import StreamingLogMel, pcen_coefficient
from audiojax.models import get_model
from audiojax.models.streaming import CausalConv1D, StreamingGRU, WindowPool, pool_frames
from test_rnn import numpy_gru, numpy_weights

SR, HOP, N_FFT = 16000, 160, 400


@pytest.fixture(scope="module")
def signal():
    """Two seconds of noise whose level rises 30x (PCEN's smoother has to follow it)."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.01, 0.3, 2 * SR)
    return (rng.standard_normal((2, 2 * SR)) * ramp).astype(np.float32)


def librosa_features(y, compression):
    """The causal framing as librosa's center=False on the signal with n_fft - hop zeros first."""
    y = np.pad(y.astype(np.float64), (N_FFT - HOP, 0))
    kw = dict(sr=SR, n_fft=N_FFT, hop_length=HOP, center=False, n_mels=40, fmin=20, fmax=7600)
    if compression == "db":
        return librosa.power_to_db(librosa.feature.melspectrogram(y=y, power=2, **kw),
                                   top_db=None).T / 20
    S = librosa.feature.melspectrogram(y=y * 2 ** 31, power=1, **kw)
    b = pcen_coefficient(0.4, SR, HOP)
    zi = scipy.signal.lfilter_zi([b], [1, b - 1])[None, :] * S[:, :1]  # started at frame 0
    return librosa.pcen(S, sr=SR, hop_length=HOP, zi=zi).T


def run_steps(step, state, x, chunk):
    """``step(chunk, state) -> (out, n, state)`` over ``x (B, T, ...)`` in chunks along axis 1;
    the valid slots of each output, concatenated."""
    outs = []
    for i in range(0, x.shape[1] - x.shape[1] % chunk, chunk):
        out, n, state = step(x[:, i:i + chunk], state)
        outs.append(np.asarray(out[:, :int(n)]))
    return np.concatenate(outs, 1), state


@pytest.mark.parametrize("compression", ["pcen", "db"])
def test_frontend_matches_librosa_and_its_steps_match_the_whole(signal, compression):
    fe = StreamingLogMel(compression=compression)
    whole, frames = fe.apply({}, jnp.asarray(signal), jnp.array([2 * SR, 12345]))
    assert whole.shape == (2, 2 * SR // HOP, 40) and frames.tolist() == [200, 12345 // HOP]
    for i in range(2):
        np.testing.assert_allclose(whole[i], librosa_features(signal[i], compression),
                                   atol=2e-5, rtol=1e-5)
    step = jax.jit(lambda c, s: fe.apply({}, c, s, method=fe.step))
    for chunk in (37, 160, 250, 1000):       # chunks smaller than, equal to, not dividing the hop
        out, state = run_steps(step, fe.initial_state(2), signal, chunk)
        assert out.shape[1] == (2 * SR - 2 * SR % chunk) // HOP
        np.testing.assert_allclose(out, whole[:, :out.shape[1]], atol=1e-5)
        assert int(state["phase"]) == (2 * SR - 2 * SR % chunk) % HOP


def blocks_of(x, sizes):
    """``x (B, T, C)`` cut into blocks of ``sizes`` real frames, each padded to the largest."""
    slots, start = max(sizes), 0
    for n in sizes:
        block = np.zeros((x.shape[0], slots, x.shape[2]), np.float32)
        block[:, :n] = x[:, start:start + n]
        start += n
        yield block, n


@pytest.mark.parametrize("layer,in_features", [(CausalConv1D(5, 3, dilation=4), 3),
                                              (StreamingGRU(6), 3), (WindowPool(7, 1), 3)])
def test_layers_match_their_equations_and_step_over_uneven_blocks(layer, in_features):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 40, in_features)).astype(np.float32)
    variables = layer.init(jax.random.PRNGKey(0), jnp.asarray(x))
    whole = np.asarray(layer.apply(variables, jnp.asarray(x)))
    if isinstance(layer, WindowPool):  # max over the last 7 frames, min for channel 1
        ref = np.stack([x[:, max(0, t - 6):t + 1].max(1) for t in range(40)], 1)
        ref[..., 1] = np.stack([x[:, max(0, t - 6):t + 1, 1].min(1) for t in range(40)], 1)
    elif isinstance(layer, CausalConv1D):
        kernel = np.asarray(variables["params"]["conv"]["kernel"])    # (taps, in, out)
        bias = np.asarray(variables["params"]["conv"]["bias"])
        padded = np.pad(x, ((0, 0), (8, 0), (0, 0)))
        ref = bias + sum(padded[:, 8 - 4 * i:48 - 4 * i] @ kernel[2 - i] for i in range(3))
    else:
        p = numpy_weights(variables["params"]["cell"], 6)
        ref = np.stack([numpy_gru(x[b].astype(np.float64), p, 6) for b in range(2)])
    np.testing.assert_allclose(whole, ref, atol=1e-5)

    sizes = [3, 0, 1, 5, 2, 5, 4, 3, 5, 5, 1, 0, 5, 1]   # slots per block 5; 40 frames in all
    assert sum(sizes) == 40
    step = jax.jit(lambda x, n, s: layer.apply(variables, x, n, s, method=layer.step))
    state, outs = layer.initial_state(2, in_features), []
    for block, n in blocks_of(x, sizes):
        y, state = step(jnp.asarray(block), jnp.int32(n), state)
        outs.append(np.asarray(y[:, :n]))
    np.testing.assert_allclose(np.concatenate(outs, 1), whole, atol=1e-5)


def test_pooling_over_the_valid_frames():
    x = np.random.default_rng(2).standard_normal((3, 7, 4)).astype(np.float32)
    frames = np.array([7, 3, 1])
    for how, ref in (("max", lambda v: v.max(0)), ("mean", lambda v: v.mean(0)),
                     ("last", lambda v: v[-1])):
        got = pool_frames(jnp.asarray(x), jnp.asarray(frames), how)
        np.testing.assert_allclose(got, [ref(x[i, :n]) for i, n in enumerate(frames)], rtol=1e-6)
    with pytest.raises(ValueError, match="pooling: unknown 'median'"):
        pool_frames(jnp.asarray(x), jnp.asarray(frames), "median")


@pytest.mark.parametrize("gru_units,window", [(0, 0), (8, 0), (0, 30)])
def test_streaming_model_steps_equal_the_whole_through_jit_and_a_checkpoint(signal, gru_units,
                                                                            window, tmp_path):
    model = get_model("streaming_kws", num_classes=4, channels=8, dilations=(1, 2, 4),
                      gru_units=gru_units, window=window, background_class=3)
    audio, lengths = jnp.asarray(signal), jnp.array([2 * SR, 2 * SR])
    variables = model.init(jax.random.PRNGKey(0), audio, lengths)
    frame_scores, _ = model.apply(variables, audio, lengths, method=model.frames)
    scores, frames = model.apply(variables, audio, lengths, method=model.stream_scores)
    if window:  # a stream's frame t is scored as the clip of the window frames ending there
        ref = np.asarray(frame_scores[:, 70 - window:70]).max(1)
        ref[:, 3] = np.asarray(frame_scores[:, 70 - window:70, 3]).min(1)
        np.testing.assert_allclose(scores[:, 69], ref, rtol=1e-6)
    else:
        np.testing.assert_allclose(scores, frame_scores)
    logits = model.apply(variables, audio, jnp.array([2 * SR, SR]))
    pooled = np.asarray(frame_scores[1, :SR // HOP]).max(0)
    pooled[3] = np.asarray(frame_scores[1, :SR // HOP, 3]).min()
    np.testing.assert_allclose(logits[1], pooled, rtol=1e-6)

    step = jax.jit(lambda c, s: model.apply(variables, c, s, method=model.step))
    for chunk in (250, 320, 1000):
        out, _ = run_steps(step, model.initial_state(2), signal, chunk)
        np.testing.assert_allclose(out, scores[:, :out.shape[1]], atol=1e-5)

    # Half the stream, the state saved and restored by orbax, then the rest.
    half, chunk = SR, 250
    first, state = run_steps(step, model.initial_state(2), signal[:, :half], chunk)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "state", state)
    checkpointer.wait_until_finished()
    restored = checkpointer.restore(tmp_path / "state", state)
    rest, _ = run_steps(step, restored, signal[:, half:], chunk)
    np.testing.assert_allclose(np.concatenate([first, rest], 1), scores, atol=1e-5)


def test_the_model_hears_only_the_past(signal):
    """Changing the audio after a time changes no score before it (a causal model)."""
    model = get_model("streaming_kws", num_classes=3, channels=8, dilations=(1, 2))
    audio, lengths = jnp.asarray(signal[:1]), jnp.array([2 * SR])
    variables = model.init(jax.random.PRNGKey(0), audio, lengths)
    changed = audio.at[:, SR:].set(0.5)
    a, _ = model.apply(variables, audio, lengths, method=model.frames)
    b, _ = model.apply(variables, changed, lengths, method=model.frames)
    np.testing.assert_allclose(a[:, :SR // HOP], b[:, :SR // HOP], atol=1e-6)
    assert np.abs(np.asarray(a[:, SR // HOP:] - b[:, SR // HOP:])).max() > 1e-3


def test_training_noise_is_per_example_and_off_in_evaluation(signal):
    """Dropout and SpecAugment draw from each example's own key: an example's training
    output does not depend on the rest of its batch; without keys nothing is dropped."""
    model = get_model("streaming_kws", num_classes=3, channels=8, dilations=(1, 2), dropout=0.3,
                      time_masks=1, time_mask_width=5)
    audio, lengths = jnp.asarray(signal), jnp.array([2 * SR, SR])
    variables = model.init(jax.random.PRNGKey(0), audio, lengths)
    keys = jax.random.split(jax.random.PRNGKey(5), 2)
    both = model.apply(variables, audio, lengths, train=True, augment_keys=keys)
    alone = model.apply(variables, audio[1:], lengths[1:], train=True, augment_keys=keys[1:])
    np.testing.assert_allclose(both[1:], alone, rtol=1e-5, atol=1e-6)
    clean = model.apply(variables, audio, lengths, train=True)
    np.testing.assert_allclose(clean, model.apply(variables, audio, lengths), atol=1e-6)
    assert np.abs(np.asarray(both - clean)).max() > 1e-3


def test_a_background_class_is_pooled_by_its_least_frame(signal):
    """With ``background_class`` its clip logit is the minimum over the valid frames (a clip
    of nothing must hold it everywhere), every other class's the maximum."""
    model = get_model("streaming_kws", num_classes=4, channels=8, dilations=(1, 2),
                      background_class=2)
    audio, lengths = jnp.asarray(signal), jnp.array([2 * SR, SR // 2])
    variables = model.init(jax.random.PRNGKey(0), audio, lengths)
    scores, frames = model.apply(variables, audio, lengths, method=model.frames)
    logits = np.asarray(model.apply(variables, audio, lengths))
    for i, n in enumerate(np.asarray(frames)):
        valid = np.asarray(scores[i, :n])
        np.testing.assert_allclose(logits[i], [valid[:, 0].max(), valid[:, 1].max(),
                                               valid[:, 2].min(), valid[:, 3].max()], rtol=1e-6)
