"""audiojax.audio: round trips, resampling against librosa, and every bad-file message."""

import librosa
import numpy as np
import pytest
import soundfile as sf

import audiojax
from audiojax import audio


@pytest.fixture
def tone():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("suffix,tol", [(".wav", 2 / 2**15), (".flac", 2 / 2**15), (".ogg", 0.05)])
def test_round_trip(tmp_path, tone, suffix, tol):
    path = tmp_path / f"a{suffix}"
    audiojax.save(path, tone, 16000)
    y, sr = audiojax.load(path)
    assert sr == 16000 and y.dtype == np.float32 and y.shape == tone.shape
    assert np.max(np.abs(y - tone)) < tol


def test_resample_matches_librosa(tmp_path, tone):
    path = tmp_path / "a.wav"
    audiojax.save(path, tone, 16000)
    y, sr = audiojax.load(path, sr=22050)
    ref, _ = librosa.load(path, sr=22050)  # librosa's default resampler is soxr_hq too
    assert sr == 22050 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, atol=1e-6)


def test_stereo_mono_and_channels(tmp_path, tone):
    stereo = np.stack([tone, -0.5 * tone])
    path = tmp_path / "s.wav"
    audiojax.save(path, stereo, 16000, subtype="FLOAT")
    mono, _ = audiojax.load(path)
    np.testing.assert_allclose(mono, 0.25 * tone, atol=1e-7)
    both, _ = audiojax.load(path, mono=False)
    assert both.shape == (2, tone.size)
    np.testing.assert_allclose(both, stereo, atol=1e-7)
    # librosa's layout for multichannel resampling: (channels, samples)
    both_8k, _ = audiojax.load(path, sr=8000, mono=False)
    ref, _ = librosa.load(path, sr=8000, mono=False)
    np.testing.assert_allclose(both_8k, ref, atol=1e-6)


def _bad_files(tmp_path, tone):
    audiojax.save(tmp_path / "good.wav", tone, 16000)
    audiojax.save(tmp_path / "good.flac", tone, 16000)
    whole_wav = (tmp_path / "good.wav").read_bytes()
    whole_flac = (tmp_path / "good.flac").read_bytes()
    (tmp_path / "truncated.wav").write_bytes(whole_wav[: len(whole_wav) // 2])
    (tmp_path / "truncated.flac").write_bytes(whole_flac[: len(whole_flac) // 2])
    (tmp_path / "zero_bytes.wav").write_bytes(b"")
    (tmp_path / "garbage.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 4)
    (tmp_path / "notes.txt").write_text("this is text, not audio\n" * 20)
    sf.write(tmp_path / "no_samples.wav", np.zeros(0, np.float32), 16000)
    nan = tone.copy()
    nan[100] = np.nan
    nan[200] = np.inf
    sf.write(tmp_path / "nan.wav", nan, 16000, subtype="FLOAT")
    (tmp_path / "folder.wav").mkdir()
    return {
        "missing.wav": "file not found",
        "zero_bytes.wav": "empty file (0 bytes)",
        "no_samples.wav": "empty audio (0 samples)",
        "truncated.wav": "truncated: data chunk announces 32000 bytes",
        "truncated.flac": "cannot decode audio",
        "garbage.wav": "cannot decode audio",
        "notes.txt": "cannot decode audio",
        "nan.wav": "2 non-finite (NaN/Inf) samples",
        "folder.wav": "is a directory",
    }


def test_bad_files_raise_one_error_naming_the_file(tmp_path, tone):
    for name, problem in _bad_files(tmp_path, tone).items():
        with pytest.raises(audiojax.AudioError) as err:
            audiojax.load(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / name) + ": "), str(err.value)
        assert problem in str(err.value), (name, str(err.value))
        assert err.value.path == str(tmp_path / name)


def test_save_rejects_bad_arguments(tmp_path, tone):
    with pytest.raises(ValueError, match="unsupported format '.mp4'"):
        audiojax.save(tmp_path / "a.mp4", tone, 16000)
    with pytest.raises(ValueError, match="non-finite"):
        audiojax.save(tmp_path / "a.wav", np.full(10, np.nan, np.float32), 16000)
    with pytest.raises(ValueError, match="sample rate must be positive"):
        audiojax.save(tmp_path / "a.wav", tone, 0)


def test_resample_shapes():
    y = np.random.default_rng(1).standard_normal((3, 2, 1600)).astype(np.float32)
    out = audio.resample(y, 16000, 8000)
    assert out.shape == (3, 2, 800)
    np.testing.assert_allclose(out[1, 0], audio.resample(y[1, 0], 16000, 8000), atol=1e-6)
