"""The streams corpus (long recordings with keywords at known times), events files, joined
sources, and the events evaluator on recordings whose detections follow from the rule."""

from __future__ import annotations

import json
import re

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import soundfile as sf

from audiojax.data.corpora import builder, streams
from audiojax.data.corpora.commands import WORDS
from audiojax.data.events import read_events
from audiojax.data.sources import ConcatSource, ManifestSource, open_source

SR = 16000


def test_tiny_corpus_recordings_events_and_clips(tiny_streams):
    root, spec = tiny_streams.path, streams.SIZES["tiny"]
    info = tiny_streams.info
    assert info["labels"] == [streams.BACKGROUND, streams.UNKNOWN]
    recordings = [json.loads(x) for x in (root / "recordings.jsonl").read_text().splitlines()]
    clips = [json.loads(x) for x in (root / "clips.jsonl").read_text().splitlines()]
    voices = {s: {c["voice"] for c in clips if c["split"] == s and c["voice"]}
              for s in ("train", "validation", "test")}
    for split in ("validation", "test"):
        events = read_events(root / f"events_{split}.tsv", labels=WORDS)
        n_background = round(spec.background_seconds[split] / spec.stream_seconds)
        assert len(events) == spec.streams[split] + n_background
        with_words = [f for f, e in events.items() if e]
        assert len(with_words) == spec.streams[split]
        assert all("/background/" in f for f, e in events.items() if not e)
        for file, spans in events.items():
            y, sr = sf.read(file)
            assert sr == SR and len(y) == spec.stream_seconds * SR and np.abs(y).max() > 0.05
            if spans:
                assert len(spans) == spec.keywords_per_stream
                starts = [on for on, _, _ in spans] + [spec.stream_seconds]
                ends = [0.0] + [off for _, off, _ in spans]
                assert min(np.subtract(starts, ends)) >= streams.MIN_GAP_S - 1e-3
        # The keywords' voices are the split's own, never heard in training.
        spoken = {r["voice"] for r in recordings if r["split"] == split and r["events"]}
        assert spoken <= voices[split] and not spoken & voices["train"]
    for split in ("train", "validation", "test"):
        rows = [line.split("\t") for line in (root / f"{split}.tsv").read_text().splitlines()]
        labels = [r[1] for r in rows]
        assert labels.count(streams.BACKGROUND) == spec.background_clips[split]
        assert labels.count(streams.UNKNOWN) == spec.unknown_clips[split]
        for path, label, _ in rows[:3] + rows[-3:]:
            y, sr = sf.read(root / path)
            assert sr == SR and len(y) == SR
    unknown = [c for c in clips if c["label"] == streams.UNKNOWN]
    assert {c["text"] for c in unknown} <= set(streams.UNKNOWN_WORDS)


def test_background_sentences_hold_no_keyword_nor_its_homophone():
    texts = builder._text_pools()["test"]
    kept = streams.keyword_free(texts)
    pattern = re.compile(r"\b(" + "|".join(WORDS + streams.HOMOPHONES) + r")\b")
    assert kept and not any(pattern.search(t) for t in kept)
    assert len(kept) + sum(bool(pattern.search(t)) for t in texts) == len(texts)
    assert streams.keyword_free(["turn on the light", "open the door", "i want to sing"]) \
        == ["open the door"]


def test_keyword_onsets_keep_their_gaps_and_refuse_what_does_not_fit():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = list(rng.integers(3000, 12000, rng.integers(1, 8)))
        n = sum(lengths) + int(streams.MIN_GAP_S * SR) * (len(lengths) + 1) + int(rng.integers(0, 10 * SR))
        starts = streams.onsets(rng, lengths, n, SR)
        ends = [s + l for s, l in zip(starts, lengths)]
        gaps = np.subtract(starts + [n], [0] + ends)
        assert gaps.min() >= int(streams.MIN_GAP_S * SR)
    with pytest.raises(ValueError, match="do not fit"):
        streams.onsets(rng, [SR] * 5, 6 * SR, SR)


@pytest.mark.parametrize("line,message", [
    ("a.wav\t1.0", "got 2 fields"),
    ("a.wav\t1.0\tx\tyes", "must be seconds"),
    ("a.wav\t2.0\t1.0\tyes", "0 <= onset <= offset"),
    ("a.wav\t1.0\t2.0\t", "empty label"),
    ("a.wav\t1.0\t2.0\tbanana", "'banana' is not a class"),
    ("missing.wav\t1.0\t2.0\tyes", "no such audio file 'missing.wav'"),
])
def test_events_files_name_the_bad_line(tmp_path, line, message, cli_main):
    sf.write(tmp_path / "a.wav", np.zeros(SR, np.float32), SR)
    path = tmp_path / "events.tsv"
    path.write_text(f"# a comment\na.wav\t0.1\t0.5\tyes\n\n{line}\n")
    with pytest.raises(ValueError, match=f"{re.escape(str(path))}:4: .*{re.escape(message)}"):
        read_events(path, labels=["yes", "no"])
    if "banana" not in line:  # the command refuses it before reading any run
        code, _, err = cli_main("evaluate", "--workdir", str(tmp_path / "run"), "--events", str(path))
        assert code == 2 and f"{path}:4:" in err and "Traceback" not in err


def test_events_files_read_back_with_recordings_of_nothing(tmp_path):
    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, np.zeros(SR, np.float32), SR)
    (tmp_path / "e.tsv").write_text(streams.events_lines(
        [("a.wav", [(0.5, 0.75, "yes"), (0.1, 0.2, "no")]), ("b.wav", [])]))
    assert read_events(tmp_path / "e.tsv") == {str(tmp_path / "a.wav"): [(0.1, 0.2, "no"), (0.5, 0.75, "yes")],
                                               str(tmp_path / "b.wav"): []}


def test_joined_sources_keep_the_first_ones_class_ids(tmp_path):
    for name, labels, rows in (("a", ["x", "y"], ["1.wav\ty", "2.wav\tx"]),
                               ("b", ["z", "x"], ["3.wav\tz"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.tsv").write_text("\n".join(rows) + "\n")
        (tmp_path / name / "info.json").write_text(json.dumps({"labels": labels}))
    joined = open_source(f"{tmp_path / 'a'}+{tmp_path / 'b'}", "train")
    assert isinstance(joined, ConcatSource) and len(joined) == 3
    assert joined.labels == ["x", "y", "z"]
    assert [joined[i]["label"] for i in range(3)] == ["y", "x", "z"]
    assert joined[2]["origin"].endswith("b/train.tsv:1")
    with pytest.raises(IndexError):
        joined[3]
    (tmp_path / "c").mkdir()  # no info.json: labels unknown
    (tmp_path / "c" / "train.tsv").write_text("4.wav\tw\n")
    no_info = ConcatSource([ManifestSource(tmp_path / "c" / "train.tsv"),
                            ManifestSource(tmp_path / "a" / "train.tsv")])
    assert no_info.labels is None and no_info.unique_labels() == ["w", "x", "y"]


def test_the_streaming_recipe_trains_on_keywords_and_the_nothing_classes(tiny_commands,
                                                                          tiny_streams):
    from audiojax.config import load_config

    config = load_config("experiments/kws_streaming.py:tiny")
    assert config.data.source == "commands/tiny+streams/tiny"
    source = open_source(config.data.source, "validation", tiny_commands.path.parent)
    assert source.labels == list(WORDS) + [streams.BACKGROUND, streams.UNKNOWN]
    assert len(source) == (len((tiny_commands.path / "validation.tsv").read_text().splitlines())
                           + len((tiny_streams.path / "validation.tsv").read_text().splitlines()))


class LevelOracle(nn.Module):
    """Per-frame scores from the level of each 10 ms frame (``hop_length`` samples, frame t
    ending at sample (t + 1) * hop): background 0, ``no`` -10, ``yes`` 40 (rms - 0.05)."""

    num_classes: int = 3
    hop_length: int = 160

    @nn.compact
    def stream_scores(self, audio, lengths):
        bias = self.param("bias", nn.initializers.zeros, ())
        t = audio.shape[1] // self.hop_length
        frames = audio[:, :t * self.hop_length].reshape(audio.shape[0], t, self.hop_length)
        rms = jnp.sqrt(jnp.mean(frames ** 2, -1))
        yes = 40.0 * (rms - 0.05) + bias
        return jnp.stack([jnp.zeros_like(yes), jnp.full_like(yes, -10.0), yes], -1), \
            lengths // self.hop_length


class _Task:
    labels = ["_background_", "no", "yes"]
    model = LevelOracle()


class _Parallel:
    @staticmethod
    def get_state(variables):
        return variables


def test_events_evaluator_finds_a_keyword_at_its_time_and_nothing_in_silence(tmp_path):
    """A 0.5-amplitude tone at 4.0-4.4 s is a ``yes`` frame by frame (p ~ 1), silence gives
    p(yes) = e^-2 / (1 + e^-10 + e^-2) = 0.1192. At threshold 0.5 the 10-frame moving average
    gets there at the 5th loud frame (frame 404, 4.05 s); tuned on these recordings for no
    false alarm, ``yes``'s threshold is the grid's first above 0.1192 (0.12), reached at the
    first loud frame (4.01 s)."""
    import jax

    from audiojax import evaluators
    from audiojax.evaluators.events import EventsEvaluator

    tone = np.zeros(10 * SR, np.float32)
    tone[4 * SR:int(4.4 * SR)] = 0.5 * np.sign(np.sin(np.arange(int(0.4 * SR)) * 0.3))
    sf.write(tmp_path / "keyword.wav", tone, SR, subtype="FLOAT")
    sf.write(tmp_path / "silence.wav", np.zeros(10 * SR, np.float32), SR)
    (tmp_path / "events.tsv").write_text("keyword.wav\t4.0\t4.4\tyes\nsilence.wav\n")
    config = ml_collections.ConfigDict({"data": {"sample_rate": SR, "source": "x"},
                                        "model": {"name": "oracle"}})
    spec = evaluators.evaluator(str(tmp_path / "events.tsv"), every_steps=0, kind="events",
                                tune="self")
    evaluator = EventsEvaluator("streams", spec, config, _Task(), _Parallel(), None)
    variables = _Task.model.init(jax.random.PRNGKey(0), jnp.zeros((1, SR)), jnp.array([SR]),
                                 method=LevelOracle.stream_scores)
    m = evaluator.run(variables)
    assert m["count"] == 1 and m["recordings"] == 2
    assert m["background_hours"] == pytest.approx((20.0 - 0.9) / 3600)
    assert m["miss_rate"] == 0.0 and m["false_alarms_per_hour"] == 0.0
    assert m["latency_median_s"] == pytest.approx(4.05 - 4.4, abs=1e-6)
    tuned = m["at_rate"]["1"]
    assert tuned["thresholds"]["yes"] == pytest.approx(0.12)
    assert tuned["miss_rate"] == 0.0 and tuned["false_alarms"] == 0
    assert tuned["latency_median_s"] == pytest.approx(4.01 - 4.4, abs=1e-6)
    curve = m["det_curve"]
    low = curve["thresholds"].index(0.05)
    assert curve["false_alarms_per_hour"][low] > 0 and curve["miss_rate"][low] == 0.0
    assert all(fa == 0 for t, fa in zip(curve["thresholds"], curve["false_alarms_per_hour"])
               if t > 0.1192)
