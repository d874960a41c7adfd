"""Word placement: where the speech is in a clip, and windows centred on it in the pipeline and
in predict."""

from __future__ import annotations

import numpy as np
import pytest

from audiojax.data.corpora import acoustics, voices
from audiojax.data.placement import place, speech_centre, speech_span

SR = 16000
WORDS = ("six", "stop", "forward", "yes", "off", "visual")


def _word(text: str, accent: str) -> np.ndarray:
    y = acoustics.trim_silence(voices.synthesize(voices.Voice("espeak", accent, "g"), text, sr=SR), SR)
    return y / np.abs(y).max()


def _centroid(y: np.ndarray) -> float:
    """The energy centroid (samples) of a clean word: sum t y[t]^2 / sum y[t]^2."""
    power = y.astype(np.float64) ** 2
    return float((power * np.arange(len(y))).sum() / power.sum())


@pytest.fixture(scope="module")
def placed():
    """Words of two accents at known offsets in 2 s of silence: (buffer, start, end, centroid)."""
    rng = np.random.default_rng(0)
    out = []
    for accent in ("en-us", "en-gb-scotland"):
        for text in WORDS:
            y = _word(text, accent)
            start = int(rng.uniform(0.05, 1.2) * SR)
            buf = np.zeros(2 * SR, np.float32)
            buf[start:start + len(y)] = y
            out.append((buf, start, start + len(y), start + _centroid(y)))
    return out


def test_the_word_is_found_within_20_ms_in_silence(placed):
    for buf, start, end, centroid in placed:
        s, e = speech_span(buf, SR)
        assert abs(s - start) <= 0.02 * SR and abs(e - end) <= 0.02 * SR, (s, e, start, end)
        assert abs(speech_centre(buf, SR) - centroid) <= 0.02 * SR


@pytest.mark.parametrize("noise,snr_db", [("white", 5.0), ("pink", 10.0), ("brown", 0.0)])
def test_the_word_is_found_within_20_ms_in_noise(placed, noise, snr_db):
    rng = np.random.default_rng(1)
    beta = {"white": 0.0, "pink": 1.0, "brown": 2.0}[noise]
    for buf, _, _, centroid in placed:
        noisy = acoustics.mix_at_snr(buf, acoustics.coloured_noise(rng, len(buf), beta), snr_db, SR)
        assert abs(speech_centre(noisy, SR) - centroid) <= 0.02 * SR


def test_silence_and_constants_give_the_whole_clip():
    assert speech_span(np.zeros(8000), SR) == (0, 8000)
    assert speech_span(np.full(8000, 0.3), SR) == (0, 8000)
    assert speech_centre(np.zeros(8000), SR) == 4000


def test_place_pads_with_zeros_outside_the_clip():
    x = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(place(x, -3, 6), [0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(place(x, 7, 6), [8, 9, 10, 0, 0, 0])
    np.testing.assert_array_equal(place(x, -2, 14), np.r_[0, 0, x, 0, 0])
    np.testing.assert_array_equal(place(x, 12, 3), [0, 0, 0])
    frames = np.arange(12, dtype=np.float32).reshape(6, 2)  # a frame-rate signal
    np.testing.assert_array_equal(place(frames, -1, 3), [[0, 0], [0, 1], [2, 3]])


def test_the_pipeline_centres_every_window_on_its_word(placed, tmp_path):
    import audiojax
    from audiojax.data.pipeline import make_loader
    from audiojax.data.sources import ManifestSource

    rows = []
    for i, (buf, start, end, centroid) in enumerate(placed):
        # 1 s clips with the word near an edge, as real recordings often have it.
        lo = max(0, end - SR + int(0.02 * SR)) if i % 2 else start - int(0.02 * SR)
        audiojax.save(tmp_path / f"{i}.wav", buf[lo:lo + SR], SR)
        rows.append((f"{i}.wav", centroid - lo))
    (tmp_path / "m.tsv").write_text("".join(f"{p}\tw\n" for p, _ in rows))
    source = ManifestSource(tmp_path / "m.tsv")
    for train in (True, False):
        loader = make_loader(source, sample_rate=SR, batch_size=len(rows), train=train,
                             max_length=SR, label_to_id=None, center=True, shard_index=0,
                             shard_count=1, num_epochs=1, shuffle=False, worker_count=0)
        batch = next(iter(loader))
        for x, length, (_, centroid_in_clip) in zip(batch["audio"], batch["length"], rows):
            # The word's energy centroid, measured on the window itself, is at its middle.
            assert abs(_centroid(x) - SR / 2) <= 0.02 * SR
            offset = SR // 2 - centroid_in_clip
            # From the window's start to the clip's end.
            assert abs(length - min(SR, SR + offset)) <= 0.02 * SR
    plain = make_loader(source, sample_rate=SR, batch_size=len(rows), train=False, max_length=SR,
                        label_to_id=None, shard_index=0, shard_count=1)
    far = [abs(_centroid(x) - SR / 2) for x in next(iter(plain))["audio"]]
    assert max(far) > 0.2 * SR  # without centring, the words stay near the edges


class _MiddleRun:
    """A stand-in classifier of ``data.center = "energy"`` runs: ``loud`` by the energy of the
    middle 0.2 s of its window only, so a word off-centre is ``quiet`` unless it is centred."""

    labels = ["quiet", "loud"]
    variables = {}

    class config:
        class data:
            sample_rate, max_seconds, center = SR, 1.0, "energy"

    class task:
        @staticmethod
        def logits(variables, batch):
            import jax.numpy as jnp

            middle = jnp.asarray(batch["audio"])[:, int(0.4 * SR):int(0.6 * SR)]
            energy = (middle ** 2).sum(-1)
            return jnp.stack([jnp.full_like(energy, 1.0), energy], -1)

        @staticmethod
        def log_probabilities(variables, batch):  # what predict scores windows by
            import jax

            return jax.nn.log_softmax(_MiddleRun.task.logits(variables, batch))


def test_predict_centres_the_window_as_training_did(placed, tmp_path):
    import audiojax
    from audiojax.tasks.classification.predict import predict

    buf, start, end, centroid = placed[0]
    clip = buf[max(0, start - 800):max(0, start - 800) + SR]       # the word near the start
    audiojax.save(tmp_path / "edge.wav", clip, SR)
    long = np.zeros(4 * SR, np.float32)
    long[int(2.3 * SR):int(2.3 * SR) + end - start] = buf[start:end]  # in a longer file
    audiojax.save(tmp_path / "long.wav", long, SR)
    (edge, far) = predict(_MiddleRun(), [str(tmp_path / "edge.wav"), str(tmp_path / "long.wav")])
    assert edge.top[0][0] == "loud" and far.top[0][0] == "loud"
    expected = (centroid - max(0, start - 800) - SR / 2) / SR
    assert edge.start_seconds == pytest.approx(expected, abs=0.02)
    assert far.start_seconds == pytest.approx(2.3 + (centroid - start - SR / 2) / SR, abs=0.02)
