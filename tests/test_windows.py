"""Sliding windows and overlap-add for inputs longer than a model's window (audiojax.windows)."""

import numpy as np
import pytest

from audiojax import windows


@pytest.mark.parametrize("length,window,hop", [(100, 30, 10), (100, 30, 30), (101, 30, 7),
                                               (30, 30, 5), (12, 30, 5), (1, 30, 30)])
def test_windows_cover_every_sample_and_stay_inside(length, window, hop):
    offsets = windows.window_offsets(length, window, hop)
    covered = np.zeros(length, bool)
    for start in offsets:
        covered[start:start + window] = True
        assert start >= 0 and (start + window <= length or length <= window)
    assert covered.all() and offsets[0] == 0
    assert np.all(np.diff(offsets) <= hop) and np.all(np.diff(offsets) > 0)


def test_cut_then_overlap_add_gives_the_signal_back():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((1000, 2)).astype(np.float32)
    offsets = windows.window_offsets(len(y), 256, 100)
    chunks, lengths = windows.cut(y, offsets, 256)
    assert chunks.shape == (len(offsets), 256, 2) and lengths.tolist() == [256] * len(offsets)
    np.testing.assert_allclose(windows.overlap_add(chunks, offsets, len(y)), y, rtol=1e-5, atol=1e-6)
    # Each sample is the taper-weighted mean of the windows covering it, written out.
    doubled = chunks * (1 + np.arange(len(offsets)))[:, None, None]
    got = windows.overlap_add(doubled, offsets, len(y))
    w = windows.taper(256)
    t = 500
    covering = [(i, t - s) for i, s in enumerate(offsets) if s <= t < s + 256]
    want = sum(w[k] * doubled[i, k] for i, k in covering) / sum(w[k] for _, k in covering)
    np.testing.assert_allclose(got[t], want, rtol=1e-5)


def test_a_short_input_is_one_zero_padded_window():
    chunks, lengths = windows.cut(np.ones(5, np.float32), windows.window_offsets(5, 8, 4), 8)
    assert chunks.tolist() == [[1, 1, 1, 1, 1, 0, 0, 0]] and lengths.tolist() == [5]
    with pytest.raises(ValueError, match="must be positive"):
        windows.window_offsets(10, 0, 1)
