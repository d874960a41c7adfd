"""``audiojax listen``: chunk-by-chunk detections on a file and on raw PCM from stdin equal the
detector run over the model's whole-recording probabilities."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import audiojax


@pytest.fixture(scope="module")
def streaming_run(tiny_commands, tiny_streams, tiny_data_dir, tmp_path_factory, run_cli):
    workdir = tmp_path_factory.mktemp("streaming") / "run"
    run_cli(["train", "--config", "experiments/kws_streaming.py:tiny", "--workdir", workdir,
             "--config.num_train_steps=2"], tiny_data_dir)
    return workdir


@pytest.fixture(scope="module")
def recording(tiny_commands, tmp_path_factory):
    """Eight test clips of the tiny corpus one after another, with silence between: a 16-bit
    WAV and its samples as read back."""
    lines = (tiny_commands.path / "test.tsv").read_text().splitlines()[:8]
    parts = []
    for line in lines:
        y, sr = audiojax.load(tiny_commands.path / line.split("\t")[0], sr=16000)
        parts += [np.zeros(8000, np.float32), y]
    path = tmp_path_factory.mktemp("listen") / "stream.wav"
    audiojax.save(path, np.concatenate(parts), 16000)
    return path, audiojax.load(path)[0]


def offline_detections(workdir, y, threshold):
    """The model over the whole recording (padded to whole 20 ms chunks, as listen's last
    chunk is), softmax per frame, the detector over all frames at once."""
    import jax
    import jax.numpy as jnp

    from audiojax.runs import restore
    from audiojax.tasks.classification.detect import Detector

    run = restore(workdir, "latest")
    model = run.task.model
    y = np.pad(y, (0, -len(y) % 320))
    scores, _ = model.apply(run.variables, jnp.asarray(y[None]), jnp.array([len(y)]),
                            method=model.stream_scores)
    probs = np.asarray(jax.nn.softmax(scores[0], -1))
    if threshold is None:  # one that some frames reach: the detector has work to do
        threshold = float(np.quantile(probs.max(1), 0.7))
    detector = Detector(run.labels, threshold, 16000 / model.hop_length)
    return detector.feed(probs), threshold


def parse(stdout):
    return [(line.split("  ")[0], float(line.split("  ")[1]), line.split("  ")[2],
             float(line.split("  ")[3])) for line in stdout.splitlines()]


def test_listen_on_a_file_and_on_stdin_equals_the_whole_recording(streaming_run, recording,
                                                                  tiny_data_dir, run_cli,
                                                                  tmp_path):
    path, y = recording
    expected, threshold = offline_detections(streaming_run, y, None)
    assert len(expected) >= 2
    out = run_cli(["listen", "--workdir", streaming_run, "--checkpoint", "latest",
                   "--threshold", threshold, "--output", tmp_path / "found.tsv", path],
                  tiny_data_dir)
    got = parse(out.stdout)
    assert [(w, round(t, 2)) for _, t, w, _ in got] == [(w, round(t, 2)) for t, w, _ in expected]
    np.testing.assert_allclose([s for *_, s in got], [s for *_, s in expected], atol=2e-3)
    rows = [line.split("\t") for line in (tmp_path / "found.tsv").read_text().splitlines()]
    assert [(r[0], float(r[1]), r[2]) for r in rows] == \
        [(str(path), pytest.approx(t, abs=1e-3), w) for t, w, _ in expected]

    pcm = np.round(y * 32768).clip(-32768, 32767).astype("<i2").tobytes()
    piped = run_cli(["listen", "--workdir", streaming_run, "--checkpoint", "latest",
                     "--threshold", threshold, "-"], tiny_data_dir, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = piped.communicate(pcm, timeout=300)
    assert piped.returncode == 0, stderr.decode()[-2000:]
    assert [(w, t) for _, t, w, _ in parse(stdout.decode())] == [(w, t) for _, t, w, _ in got]


def test_evaluate_on_events_scores_what_listen_detects(streaming_run, tiny_streams,
                                                       tiny_data_dir, run_cli, tmp_path):
    """`evaluate --events` (whole recordings) at a threshold against `listen` (chunk by chunk)
    on the same recordings, its detections scored against the events file by the rule."""
    import json

    from audiojax.data.events import read_events
    from audiojax.tasks.classification.detect import keyword_seconds, score_stream

    events_file = tiny_streams.path / "events_test.tsv"
    events = read_events(events_file)
    files = list(events)
    _, threshold = offline_detections(streaming_run, audiojax.load(files[0])[0], None)
    run_cli(["listen", "--workdir", streaming_run, "--checkpoint", "latest", "--threshold",
             threshold, "--output", tmp_path / "found.tsv", *files], tiny_data_dir)
    found = {f: [] for f in files}
    for line in (tmp_path / "found.tsv").read_text().splitlines():
        name, time, word, _ = line.split("\t")
        found[name].append((float(time), word))
    scores = [score_stream(found[f], events[f]) for f in files]
    assert sum(s.false_alarms for s in scores) + sum(map(sum, (s.hits for s in scores))) > 0
    hours = sum(len(audiojax.load(f)[0]) / 16000 - keyword_seconds(events[f]) for f in files) / 3600
    run_cli(["evaluate", "--workdir", streaming_run, "--checkpoint", "latest", "--events",
             events_file, "--threshold", threshold, "--output", tmp_path / "m.json"], tiny_data_dir)
    m = json.loads((tmp_path / "m.json").read_text())
    hits = [h for s in scores for h in s.hits]
    assert m["count"] == len(hits) == sum(map(len, events.values()))
    assert m["miss_rate"] == pytest.approx(1 - np.mean(hits))
    assert m["false_alarms_per_hour"] == pytest.approx(sum(s.false_alarms for s in scores) / hours)
    assert m["tuned_on"] == str(tiny_streams.path / "events_validation.tsv")
    assert set(m["at_rate"]) == {"0.5", "1"} and (tmp_path / "m.det.png").stat().st_size > 0


def test_listen_names_a_bad_keyword_and_refuses_a_model_without_a_streaming_mode(
        streaming_run, recording, tiny_data_dir, run_cli):
    from audiojax.tasks.classification.listen import Listener

    out = run_cli(["listen", "--workdir", streaming_run, "--checkpoint", "latest",
                   "--keywords", "yes,maybe", recording[0]], tiny_data_dir, check=False)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--keywords: 'maybe' is not a class of the run" in out.stderr

    class ClipRun:  # a run whose model classifies clips only
        workdir, labels = "runs/clips", ["yes", "no"]

        class config:
            class model:
                name = "logmel_cnn"

        class task:
            model = object()

    with pytest.raises(ValueError, match="runs/clips: model 'logmel_cnn' has no streaming mode"):
        Listener(ClipRun, 0.5)


def test_exported_step_runs_without_audiojax_and_gives_the_models_probabilities(
        streaming_run, recording, tiny_data_dir, run_cli, tmp_path):
    import subprocess
    import sys

    import jax
    import jax.numpy as jnp

    from audiojax.runs import restore

    out = run_cli(["export", "--workdir", streaming_run, "--checkpoint", "latest", "--out",
                   tmp_path / "kws"], tiny_data_dir)
    assert "wrote" in out.stdout
    path, y = recording
    # The loader in a fresh interpreter: frame probabilities to a file, audiojax never imported.
    script = ("import runpy, sys, numpy as np\n"
              f"m = runpy.run_path({str(tmp_path / 'kws' / 'listen.py')!r})\n"
              f"probs = np.stack([p for _, p in m['frames']({str(path)!r})])\n"
              f"np.save({str(tmp_path / 'probs.npy')!r}, probs)\n"
              "assert not [k for k in sys.modules if k.startswith('audiojax')], 'audiojax used'\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    exported = np.load(tmp_path / "probs.npy")

    run = restore(streaming_run, "latest")
    model = run.task.model
    padded = np.pad(y, (0, -len(y) % 320))
    scores, _ = model.apply(run.variables, jnp.asarray(padded[None]), jnp.array([len(padded)]),
                            method=model.stream_scores)
    np.testing.assert_allclose(exported, jax.nn.softmax(scores[0], -1), atol=1e-5)
    printed = subprocess.run([sys.executable, str(tmp_path / "kws" / "listen.py"), str(path),
                              "0.0"], capture_output=True, text=True,
                             env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
    assert printed.returncode == 0, printed.stderr[-2000:]
