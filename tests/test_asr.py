"""Speech recognition: tokenizer, greedy vs beam decoding, a tiny recognizer overfitting a handful
of utterances to CER 0, and the tiny experiment end to end (train, evaluate, transcribe)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import jiwer
import numpy as np
import optax
import pytest

from audiojax.tasks.asr.lm import CharNgramLM
from audiojax.tasks.asr.fit_lm import build_language_model, fit_language_model
from audiojax.tasks.asr.tokenizer import CharTokenizer
from audiojax import load as load_audio
from audiojax.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_tokenizer_round_trip_and_errors():
    tok = CharTokenizer(max_length=12)
    ids = tok.encode("Don't  stop")
    assert ids.dtype == np.int32 and ids.shape == (12,)
    assert ids.tolist() == [6, 17, 16, 29, 22, 30, 21, 22, 17, 18, 2, 0]
    assert tok.decode(ids) == "don't stop"
    assert tok.decode([tok.sos_id, 3, 4, tok.eos_id, 5]) == "ab"
    with pytest.raises(ValueError, match=r"'caf\\xe9'.*'\\xe9'|café"):
        tok.encode("café")
    with pytest.raises(ValueError, match="max_label_length=12"):
        tok.encode("a much longer sentence")


def _ctc_by_enumeration(log_probs: np.ndarray, chars: list[int]) -> float:
    """-log p(chars) summed over every frame-level path (blank 0) that collapses to them."""
    import itertools

    total = 0.0
    for path in itertools.product(range(log_probs.shape[1]), repeat=log_probs.shape[0]):
        collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c)]
        if collapsed == chars:
            total += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -np.log(total)


def test_ctc_losses_against_enumerated_alignments():
    from audiojax.tasks.asr.task import SpeechRecognition

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 4)).astype(np.float32)  # vocab: blank(=pad), sos, eos, 'a'
    targets = np.array([[3, 3, 2, 0], [3, 2, 0, 0]], np.int32)  # "aa" + EOS, "a" + EOS
    frames = np.array([5, 3])
    got, feasible = SpeechRecognition.ctc_losses(logits, frames, targets)
    assert np.asarray(feasible).all()
    log_probs = jax.nn.log_softmax(logits, -1)
    want = [_ctc_by_enumeration(np.asarray(log_probs[0]), [3, 3]) / 2,  # per character
            _ctc_by_enumeration(np.asarray(log_probs[1, :3]), [3]) / 1]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # "aa" needs 3 frames (a blank between the repeats), "a" 1: with 2 and 1 frames the first
    # has no alignment and is flagged (its loss zeroed), the second still matches enumeration.
    got, feasible = SpeechRecognition.ctc_losses(logits, np.array([2, 1]), targets)
    np.testing.assert_array_equal(feasible, [False, True])
    with np.errstate(divide="ignore"):
        assert np.isinf(_ctc_by_enumeration(np.asarray(log_probs[0, :2]), [3, 3]))
    np.testing.assert_allclose(got, [0.0, _ctc_by_enumeration(np.asarray(log_probs[1, :1]), [3])],
                               rtol=1e-5)


@pytest.mark.parametrize("conv_channels", [(), (4,)])
def test_ctc_head_scores_every_frame_and_ignores_padding(conv_channels):
    from audiojax.models.seq2seq import Recognizer
    from audiojax.tasks.asr.task import SpeechRecognition

    model = Recognizer(vocab_size=31, n_mels=16, encoder_hidden=8, encoder_layers=2, reductions=1,
                       decoder_hidden=8, embed_dim=4, attention_units=4, ctc_layer=0,
                       conv_channels=conv_channels)
    rng = np.random.default_rng(1)
    audio = rng.normal(size=(2, 8000)).astype(np.float32) * 0.1
    lengths = np.array([8000, 5000])
    targets = np.stack([CharTokenizer(10).encode("ab c"), CharTokenizer(10).encode("de")])
    variables = model.init(jax.random.PRNGKey(0), audio, lengths, targets)
    assert "ctc_output" in variables["params"]
    assert "ctc_output" not in model.clone(ctc_layer=-1).init(
        jax.random.PRNGKey(0), audio, lengths, targets)["params"]

    def ctc(a):
        _, _, (logits, frames) = model.apply(variables, a, lengths, targets, with_ctc=True)
        return SpeechRecognition.ctc_losses(logits, frames, targets)[0], frames, logits.shape[1]

    losses, frames, width = ctc(audio)
    mel_frames = 1 + lengths // 160  # centred STFT, hop 160
    if conv_channels:
        mel_frames = -(-mel_frames // 2)  # one stride-2 convolution
    np.testing.assert_array_equal(frames, -(-mel_frames // 3))  # then input_stack 3
    padded, _, wider = ctc(np.pad(audio, ((0, 0), (0, 4000))))
    assert wider > width
    np.testing.assert_allclose(padded, losses, rtol=1e-5)
    with pytest.raises(ValueError, match="ctc_layer: 2 must be below encoder_layers"):
        model.clone(ctc_layer=2).init(jax.random.PRNGKey(0), audio, lengths, targets)


@pytest.fixture(scope="module")
def overfit(tiny_data_dir, tiny_sentences):
    """A tiny recognizer trained (300 clipped Adam steps, no augmentation) on the 6 training utterances
    of the tiny `sentences` corpus: ``(task, variables, batch)``."""
    from audiojax.data.splits import loader_for, open_split
    from audiojax.tasks import get_task
    from audiojax.train.state import TrainState
    from audiojax.train.step import make_train_step

    config = load_config(str(ROOT / "experiments/asr_attention.py:tiny"), [
        f"data.data_dir={tiny_data_dir}", "augment.speed=(1.0, 1.0)", "augment.gain_db=0.0",
        "augment.noise_prob=0.0", "model.dropout=0.0", "label_smoothing=0.0",
        "model.time_masks=0", "model.freq_masks=0", "data.max_seconds=4.0",
        "max_label_length=64", "model.encoder_hidden=32", "model.decoder_hidden=32",
        "model.attention_units=16", "model.embed_dim=16"])
    task = get_task(config, list(CharTokenizer.vocabulary))
    loader = loader_for(config, open_split(config, "train"), task.label_to_id, train=False,
                        batch_size=6)
    batch = {k: v for k, v in next(iter(loader)).items() if k in ("audio", "length", "label", "mask")}
    assert batch["mask"].all() and batch["length"].max() < 4 * 16000  # nothing cropped
    # Clipped as in the recipe: without it, Adam at 3e-3 can spike late in the run, and whether
    # it does hangs on float rounding (the order of a sum), not on the model.
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(3e-3))
    state = TrainState.create(jax.jit(task.init)(jax.random.PRNGKey(0), batch), tx,
                              jax.random.PRNGKey(1))
    step = jax.jit(lambda s, b: make_train_step(task, tx, optax.constant_schedule(3e-3))(s, b, None))
    for _ in range(300):
        state, metrics = step(state, batch)
    assert float(metrics["attention_loss"]) < 0.1  # the tiny variant trains with CTC too
    return task, state.variables, batch


@pytest.fixture(scope="module")
def greedy_and_width_one(overfit):
    """Greedy decoding and beam search of width 1, compiled for the overfit model."""
    from audiojax.tasks.asr.decode import beam_search, greedy_decode

    model = overfit[0].model
    kw = dict(eos_id=CharTokenizer.eos_id, max_steps=64, max_ratio=3.0)
    return (jax.jit(lambda v, a, n: greedy_decode(model, v, a, n, **kw)),
            jax.jit(lambda v, a, n: beam_search(model, v, a, n, beam_width=1, **kw)))


def test_tiny_recognizer_overfits_to_cer_zero(overfit, greedy_and_width_one):
    task, variables, batch = overfit
    refs = [task.tokenizer.decode(t) for t in batch["label"]]
    assert task.config.decode.beam_width == 2
    for decode in (greedy_and_width_one[0], task.decode):
        out = decode(variables, batch["audio"], batch["length"])
        hyps = [task.tokenizer.decode(t) for t in np.asarray(out.tokens)]
        assert jiwer.cer(refs, hyps) == 0.0, hyps
        np.testing.assert_array_equal(out.lengths, [len(r) + 1 for r in refs])
    # The alignment of each emitted character sums to 1 over the encoder frames; after EOS, 0.
    alignments = np.asarray(out.alignments)
    for row, n in zip(alignments, np.asarray(out.lengths)):
        np.testing.assert_allclose(row[:n].sum(-1), 1.0, atol=1e-5)
        assert np.all(row[n:] == 0.0)


@pytest.mark.parametrize("trained", [False, True])
def test_beam_width_one_is_greedy(overfit, greedy_and_width_one, trained):
    task, variables, batch = overfit
    if not trained:  # random weights: long rambling hypotheses, ended by the length limit
        variables = jax.jit(task.init)(jax.random.PRNGKey(5), batch)
    greedy, beam = greedy_and_width_one
    g = greedy(variables, batch["audio"], batch["length"])
    b = beam(variables, batch["audio"], batch["length"])
    np.testing.assert_array_equal(g.tokens, b.tokens)
    np.testing.assert_array_equal(g.lengths, b.lengths)
    np.testing.assert_allclose(g.scores, b.scores, rtol=1e-6)
    np.testing.assert_allclose(g.alignments, b.alignments, atol=1e-6)


@pytest.mark.parametrize("ctc_weight", [0.3, 0.7, 1.0])
def test_joint_ctc_attention_beam_search_scores(overfit, ctc_weight):
    """Joint decoding still transcribes the overfit utterances exactly (at w = 1, the CTC head
    alone, nearly), and each returned score is (1 - w) * the teacher-forced attention log-probability
    of the returned text (EOS included) + w * its CTC log-likelihood (optax), computed
    independently."""
    from audiojax.tasks.asr.decode import make_decoder

    task, variables, batch = overfit
    decode = make_decoder(task.model, eos_id=CharTokenizer.eos_id, max_steps=64, beam_width=2,
                          ctc_weight=ctc_weight)
    out = decode(variables, batch["audio"], batch["length"])
    refs = [task.tokenizer.decode(t) for t in batch["label"]]
    hyps = [task.tokenizer.decode(t) for t in np.asarray(out.tokens)]
    if ctc_weight < 1:
        assert hyps == refs
    else:  # the tiny CTC head alone misses a doubled letter ("asembler")
        assert jiwer.cer(refs, hyps) < 0.05, hyps
    tokens = out.tokens
    logits, _, (ctc_logits, frames) = task.model.apply(variables, batch["audio"], batch["length"],
                                                       tokens, with_ctc=True)
    emitted = tokens != 0
    attention = (jnp.take_along_axis(jax.nn.log_softmax(logits), tokens[..., None], -1)[..., 0]
                 * emitted).sum(-1)
    chars = jnp.where(tokens == CharTokenizer.eos_id, 0, tokens)
    paddings = (jnp.arange(ctc_logits.shape[1])[None] >= frames[:, None]).astype(jnp.float32)
    ctc = -optax.ctc_loss(ctc_logits, paddings, chars, (chars == 0).astype(jnp.float32))
    np.testing.assert_allclose(out.scores, (1 - ctc_weight) * attention + ctc_weight * ctc,
                               rtol=1e-4)
    with pytest.raises(ValueError, match="ctc_weight: must be in"):
        make_decoder(task.model, eos_id=2, max_steps=8, beam_width=2, ctc_weight=1.5)


def test_language_model_fusion_scores(overfit, tmp_path):
    """Fusing a character n-gram model (weight 0.5, with the CTC head at 0.3) keeps the overfit
    transcripts, and each score gains exactly 0.5 x the model's log-probability of the returned
    text (EOS included), computed one symbol at a time."""
    from audiojax.tasks.asr.decode import make_decoder
    from audiojax.tasks.asr.fit_lm import fit_language_model

    task, variables, batch = overfit
    refs = [task.tokenizer.decode(t) for t in batch["label"]]
    lm = fit_language_model(refs + ["an unrelated sentence about other things"], order=4)
    lm.save(tmp_path / "lm.npz")
    kw = dict(eos_id=CharTokenizer.eos_id, max_steps=64, beam_width=2, ctc_weight=0.3)
    plain = make_decoder(task.model, **kw)(variables, batch["audio"], batch["length"])
    fused = make_decoder(task.model, lm=str(tmp_path / "lm.npz"), lm_weight=0.5, **kw)(
        variables, batch["audio"], batch["length"])
    for out in (plain, fused):
        assert [task.tokenizer.decode(t) for t in np.asarray(out.tokens)] == refs
    lm_scores = [lm.sentence_logp(task.tokenizer.ids(r)) for r in refs]
    np.testing.assert_allclose(np.asarray(fused.scores) - np.asarray(plain.scores),
                               0.5 * np.array(lm_scores), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="needs a language model file"):
        make_decoder(task.model, lm_weight=0.5, **kw)
    CharNgramLM.fit([[3, 4]], order=2, vocab_size=40).save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="40 symbols, the recognizer has 31"):
        make_decoder(task.model, lm=str(tmp_path / "other.npz"), lm_weight=0.5, **kw)


def _edit_distance(a, b) -> int:
    """Levenshtein distance between two sequences (unit costs), by dynamic programming."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def _error_rate(refs, hyps, split=list) -> float:
    """Edits over reference length, summed over utterances: CER (characters of the texts
    stripped of leading and trailing spaces, as jiwer's CER takes them) or WER (split=str.split)."""
    pairs = [(split(r.strip()), split(h.strip())) for r, h in zip(refs, hyps)]
    return sum(_edit_distance(r, h) for r, h in pairs) / sum(len(r) for r, _ in pairs)


def test_error_rates_against_an_edit_distance_of_our_own():
    refs = ["the cat sat", "on the mat", "a"]
    hyps = ["the bat sat down ", " on mat", ""]
    assert jiwer.cer(refs, hyps) == pytest.approx(_error_rate(refs, hyps))
    assert jiwer.wer(refs, hyps) == pytest.approx(_error_rate(refs, hyps, str.split))
    assert _edit_distance("kitten", "sitting") == 3


def test_tiny_experiment_end_to_end(tiny_sentences, tiny_data_dir, tmp_path, fast_compilation):
    from audiojax.data.corpora import CONDITIONS, clip_conditions, read_clips
    from audiojax.evaluate import evaluate
    from audiojax.runs import read_config, restore
    from audiojax.tasks.asr.transcribe import transcribe
    from audiojax.train.loop import train_and_evaluate

    config = load_config(str(ROOT / "experiments/asr_attention.py:tiny"),
                         [f"data.data_dir={tiny_data_dir}", "num_train_steps=2",
                          "evals.validation.every_steps=2", "checkpoint_every_steps=2"])
    workdir = tmp_path / "run"
    val = train_and_evaluate(config, workdir)
    validation = (tiny_sentences.path / "validation.tsv").read_text().splitlines()
    assert np.isfinite(val["loss"]) and val["count"] == len(validation)
    assert json.loads((workdir / "labels.json").read_text()) == list(CharTokenizer.vocabulary)

    lines = [line.split("\t") for line in (tiny_sentences.path / "test.tsv").read_text().splitlines()]
    metrics = evaluate(workdir, checkpoint="latest", split="test")
    assert 4 <= len(lines) <= 12                 # every utterance among the examples kept
    assert metrics["count"] == len(lines) == len(metrics["examples"])
    refs = [e["reference"] for e in metrics["examples"]]  # in order of length (bucketed)
    texts = [text for _, text, *_ in lines]
    assert sorted(refs) == sorted(texts) and len(set(texts)) == len(texts)
    hyps = [e["hypothesis"] for e in metrics["examples"]]
    assert metrics["cer"] == pytest.approx(_error_rate(refs, hyps))  # recomputed from the examples
    assert metrics["wer"] == pytest.approx(_error_rate(refs, hyps, str.split))
    speaker_of = {text: speaker for _, text, speaker in lines}
    for speaker, m in metrics["per_speaker"].items():
        mine = [(r, h) for r, h in zip(refs, hyps) if speaker_of[r] == speaker]
        assert m["count"] == len(mine)
        assert m["cer"] == pytest.approx(_error_rate([r for r, _ in mine], [h for _, h in mine]))
    assert sum(m["count"] for m in metrics["per_speaker"].values()) == len(lines)
    # Per recording condition: each utterance in the bin its clips.jsonl record gives it.
    condition_of = {c["label"]: clip_conditions(c) for c in read_clips(tiny_sentences.path)
                    if c["split"] == "test"}
    assert set(metrics["per_condition"]) == {"room", "noise", "noise kind", "channel", "dry"} < set(CONDITIONS)
    for name, bins in metrics["per_condition"].items():
        assert sum(m["count"] for m in bins.values()) == len(lines)
        for b, m in bins.items():
            mine = [(r, h) for r, h in zip(refs, hyps) if condition_of[r][name] == b]
            assert m["count"] == len(mine) > 0
            assert m["cer"] == pytest.approx(_error_rate([r for r, _ in mine], [h for _, h in mine]))
    pngs = [Path(f) for f in metrics["files"][1:]]
    assert len(pngs) == 3 and all(p.stat().st_size > 1000 for p in pngs)

    files = [str(tiny_sentences.path / lines[i][0]) for i in range(3)]
    hypothesis_of = dict(zip(refs, hyps))
    # Same decoder, same checkpoint: the same text as evaluate.
    assert transcribe(restore(workdir, "latest"), files) == [hypothesis_of[t] for t in texts[:3]]

    # Decoding options override the run's config, are recorded and change the decoding: greedy
    # decoding of the same checkpoint, computed here, gives the texts evaluate reports.
    # (On the split's manifest: its relative paths lead to the same clips.jsonl records.)
    greedy = evaluate(workdir, checkpoint="latest", manifest=tiny_sentences.path / "test.tsv",
                      output=tmp_path / "greedy.json",
                      overrides=["decode.beam_width=1", "decode.ctc_weight=0.0"])
    assert metrics["decode"]["ctc_weight"] == 0.3 and metrics["decode"]["beam_width"] == 2
    assert greedy["decode"]["ctc_weight"] == 0.0 and greedy["decode"]["beam_width"] == 1
    assert greedy["count"] == len(lines)
    from audiojax.tasks.asr.decode import greedy_decode

    run = restore(workdir, "latest")
    clips = [str(tiny_sentences.path / p) for p, *_ in lines]
    batch = [load_audio(c, sr=16000)[0] for c in clips]
    width = max(len(y) for y in batch)
    tokens = greedy_decode(run.task.model, run.variables,
                           np.stack([np.pad(y, (0, width - len(y))) for y in batch]),
                           np.array([len(y) for y in batch]), eos_id=CharTokenizer.eos_id,
                           max_steps=run.config.max_label_length).tokens
    by_text = {e["reference"]: e["hypothesis"] for e in greedy["examples"]}
    assert [by_text[t] for t in texts] == [run.task.tokenizer.decode(t) for t in np.asarray(tokens)]
    assert {n: {b: m["count"] for b, m in bins.items()} for n, bins in greedy["per_condition"].items()} \
        == {n: {b: m["count"] for b, m in bins.items()} for n, bins in metrics["per_condition"].items()}
    with pytest.raises(ValueError, match="override 'decode.beam=3': no key 'beam'"):
        evaluate(workdir, checkpoint="latest", split="test", overrides=["decode.beam=3"])

    # A language-model weight without a file takes WORKDIR/lm.npz, made from the run's
    # training transcripts by `audiojax lm --workdir`.
    with pytest.raises(FileNotFoundError, match="audiojax lm --workdir"):
        evaluate(workdir, checkpoint="latest", split="test", overrides=["decode.lm_weight=0.3"])
    path, lm = build_language_model(None, 3, config=read_config(workdir), workdir=workdir)
    assert path == workdir / "lm.npz"
    train_texts = [line.split("\t")[1] for line in
                   (tiny_sentences.path / "train.tsv").read_text().splitlines()]
    assert lm.sentence_logp(CharTokenizer(0).ids(train_texts[0])) == pytest.approx(
        fit_language_model(train_texts, 3).sentence_logp(CharTokenizer(0).ids(train_texts[0])))
    fused = evaluate(workdir, checkpoint="latest", split="test", output=tmp_path / "lm.json",
                     overrides=["decode.lm_weight=0.3"])
    assert fused["decode"]["lm"] == str(path) and fused["count"] == len(lines)


def test_scheduled_sampling_everywhere_follows_greedy(overfit, greedy_and_width_one):
    """Fed its own argmax at every step, the training forward pass emits the greedy hypothesis."""
    task, _, batch = overfit
    variables = jax.jit(task.init)(jax.random.PRNGKey(7), batch)  # untrained: long hypotheses
    targets = jax.numpy.asarray(batch["label"])
    own = jax.jit(lambda v, s: task.model.apply(v, batch["audio"], batch["length"], targets,
                                                sampling=s)[0].argmax(-1))
    fed_back = np.asarray(own(variables, np.ones(targets.shape, bool)))
    teacher = np.asarray(own(variables, np.zeros(targets.shape, bool)))
    greedy = greedy_and_width_one[0](variables, batch["audio"], batch["length"])
    for row, (tokens, n) in enumerate(zip(np.asarray(greedy.tokens), np.asarray(greedy.lengths))):
        # The last greedy token may be an EOS forced by the length limit; the batch's labels
        # are cut to their length bucket's width (audiojax.data.buckets).
        limit_free = min(n - 1, fed_back.shape[1])
        np.testing.assert_array_equal(fed_back[row, :limit_free], tokens[:limit_free])
    assert not np.array_equal(fed_back, teacher)  # the reference input does change the outputs


def test_guided_attention_penalty_against_numpy():
    from audiojax.tasks.asr.task import guided_attention_penalty

    rng = np.random.default_rng(3)
    alignments = rng.dirichlet(np.ones(7), size=(2, 5)).astype(np.float32)  # (B, steps, frames)
    frames, tokens, width = np.array([7, 4]), np.array([5, 3]), 0.2
    got = np.asarray(guided_attention_penalty(alignments, frames, tokens, width))
    want = np.zeros((2, 5))
    for b in range(2):
        for i in range(5):
            for j in range(7):
                d = (j + 0.5) / frames[b] - (i + 0.5) / tokens[b]
                want[b, i] += alignments[b, i, j] * (1 - np.exp(-d * d / (2 * width * width)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    # On the diagonal it is near 0; stuck on the first frame, near 1 for late characters.
    diagonal = np.eye(5, 5, dtype=np.float32)[None]
    assert float(guided_attention_penalty(diagonal, np.array([5]), np.array([5]), width).max()) < 1e-6
    stuck = np.zeros((1, 5, 5), np.float32)
    stuck[..., 0] = 1.0
    assert float(guided_attention_penalty(stuck, np.array([5]), np.array([5]), width)[0, -1]) > 0.99


@pytest.mark.parametrize("conv_channels,reductions", [((), 2), ((4, 4), 0), ((4,), 1)])
def test_encoded_frames_counts_the_encoder_mask(conv_channels, reductions):
    from audiojax.models.seq2seq import Recognizer

    model = Recognizer(vocab_size=31, n_mels=16, encoder_hidden=4, encoder_layers=3,
                       reductions=reductions, decoder_hidden=4, embed_dim=4, attention_units=4,
                       conv_channels=conv_channels)
    lengths = np.array([16000, 9000, 3201, 160])
    audio = np.random.default_rng(0).normal(size=(4, 16000)).astype(np.float32) * 0.1
    variables = model.init(jax.random.PRNGKey(0), audio, lengths, np.zeros((4, 3), np.int32))
    encoded = model.apply(variables, audio, lengths, method=Recognizer.encode)
    np.testing.assert_array_equal(model.encoded_frames(lengths), encoded.mask.sum(-1))


def test_guided_attention_enters_the_loss(overfit):
    """The task's loss with ``guided_attention=w`` is the loss without it plus ``w`` times the
    penalty of the teacher-forced alignments over the real tokens (same RNG, same batch)."""
    from audiojax.tasks import get_task
    from audiojax.tasks.asr.task import guided_attention_penalty

    task, variables, batch = overfit
    configs = [task.config.copy_and_resolve_references() for _ in range(2)]
    for config, weight in zip(configs, (0.0, 0.5)):
        with config.unlocked():
            config.guided_attention, config.guided_attention_width = weight, 0.2
    task, guided = (get_task(config, task.labels) for config in configs)
    rng = jax.random.PRNGKey(7)
    plain_loss, (_, plain) = task.loss(variables["params"], {}, batch, rng, None)
    loss, (_, metrics) = guided.loss(variables["params"], {}, batch, rng, None)
    _, alignments = task.model.apply(variables, batch["audio"], batch["length"], batch["label"])
    real = batch["label"] != CharTokenizer.pad_id
    penalty = guided_attention_penalty(alignments, task.model.encoded_frames(batch["length"]),
                                       real.sum(-1), 0.2)
    want = float((penalty * real).sum() / real.sum())
    np.testing.assert_allclose(float(metrics["guided_attention"]), want, rtol=1e-4)
    np.testing.assert_allclose(float(loss), float(plain_loss) + 0.5 * want, rtol=1e-5)
    assert "guided_attention" not in plain
