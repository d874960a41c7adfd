"""Speech recognition with an attention recognizer: characters, label-smoothed teacher forcing,
CER/WER of decoded text (jiwer), attention-alignment plots.

Batches: ``audio (B, samples)``, ``length (B,)``, ``label (B, max_label_length)`` int32 (the
tokenized transcript: characters, EOS, then 0), ``mask (B,)``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import jiwer
import ml_collections
import numpy as np
import optax

from audiojax import plots
from audiojax.masking import masked_mean
from audiojax.tasks.asr.decode import make_decoder
from audiojax.tasks.asr.tokenizer import CharTokenizer
from audiojax.tasks.augment import augment_batch, augment_defaults, check_augment
from audiojax.tasks.base import Task, per_group_rows

ALIGNMENTS_KEPT = 3  # utterances whose decoding alignment summarize() keeps for the plots


def guided_attention_penalty(alignments: jax.Array, frames: jax.Array, tokens: jax.Array,
                             width: float) -> jax.Array:
    """Guided attention (Tachibana et al. 2018): how far each decoder step's attention lies from
    the diagonal. ``alignments (B, steps, F)``, ``frames (B,)`` valid encoder frames, ``tokens
    (B,)`` real decoder steps -> ``(B, steps)``: ``sum_j alpha_ij (1 - exp(-(j/T - i/N)^2 /
    (2 width^2)))`` with ``i, j`` taken at the centres of their steps.

    Why: a freshly initialised attention decoder learns the character language model long
    before it learns where to look (alignments stay flat or stuck on the first frames for
    thousands of steps); a soft push towards the diagonal, wide enough for changes of speaking
    rate, gets it looking at the right region from the start.
    """
    steps, width_frames = alignments.shape[1], alignments.shape[2]
    i = (jnp.arange(steps)[None, :, None] + 0.5) / jnp.maximum(tokens, 1)[:, None, None]
    j = (jnp.arange(width_frames)[None, None, :] + 0.5) / jnp.maximum(frames, 1)[:, None, None]
    return (alignments * (1.0 - jnp.exp(-((j - i) ** 2) / (2.0 * width ** 2)))).sum(-1)


class SpeechRecognition(Task):
    """Task ``asr``: a ``Recognizer`` trained by teacher forcing (optionally scheduled sampling,
    ``config.scheduled_sampling``) with an optional CTC head (``ctc_weight``) and guided
    attention, evaluated by decoding (``config.decode``: ``beam_width``, ``length_penalty``,
    ``max_ratio`` tokens per encoder frame, ``ctc_weight``, ``lm``, ``lm_weight``)."""

    provides = ("vocab_size", "sos_id")
    inference_keys = Task.inference_keys + ("decode",)

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.label_smoothing = 0.0
        c.augment = augment_defaults()
        c.max_label_length = 120       # characters + EOS; longer transcripts are refused
        c.ctc_weight = 0.0             # weight of the CTC head's loss against the decoder's
        c.guided_attention = 0.0       # weight of the diagonal-attention penalty ...
        c.guided_attention_width = 0.2  # ... and its width, as a share of the utterance
        c.scheduled_sampling = 0.0     # share of decoder inputs taken from the model's own argmax
        c.decode = ml_collections.ConfigDict(dict(beam_width=1, length_penalty=1.0, max_ratio=3.0,
                                                  ctc_weight=0.0, lm="", lm_weight=0.0))
        return c

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        check_augment(config)

    @classmethod
    def labels_for(cls, config: ml_collections.ConfigDict) -> list[str]:
        """Its output vocabulary (the run's ``labels.json``), whatever the corpus holds."""
        return list(CharTokenizer.vocabulary)

    @classmethod
    def inference_config(cls, config: ml_collections.ConfigDict, workdir: Path) -> None:
        """A language-model weight without a model file takes ``WORKDIR/lm.npz`` (where
        ``audiojax lm --workdir`` writes)."""
        if config.decode.lm_weight > 0 and not config.decode.lm:
            config.decode.lm = str(Path(workdir) / "lm.npz")

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        if list(labels) != list(CharTokenizer.vocabulary):
            raise ValueError(f"labels: an asr run's labels.json must be the character vocabulary "
                             f"{list(CharTokenizer.vocabulary)}, got {list(labels)[:8]}...")
        super().__init__(config, labels)
        self.tokenizer = CharTokenizer(config.max_label_length)
        self.label_to_id = self.tokenizer
        self.model = self.build_model(vocab_size=len(self.labels), sos_id=CharTokenizer.sos_id)
        self.decode = make_decoder(self.model, eos_id=CharTokenizer.eos_id,
                                   max_steps=config.max_label_length, **config.decode.to_dict())

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return {**self.audio_spec(batch_size), "label": jax.ShapeDtypeStruct(
            (batch_size, self.config.max_label_length), jnp.int32)}

    def init(self, rng: jax.Array, batch: dict) -> dict:
        return self.model.init(rng, batch["audio"], batch["length"], batch["label"], train=False)

    def _token_losses(self, logits, targets):
        """Label-smoothed cross-entropy per token ``(B, L)`` and the mask of real tokens."""
        smoothed = optax.smooth_labels(jax.nn.one_hot(targets, logits.shape[-1]),
                                       self.config.label_smoothing)
        return optax.softmax_cross_entropy(logits, smoothed), targets != CharTokenizer.pad_id

    def loss(self, params, batch_stats, batch, rng, axis_name):
        augment_rng, dropout_rng, sampling_rng = jax.random.split(rng, 3)
        audio, lengths, keys = augment_batch(self.config, augment_rng, batch["audio"],
                                             batch["length"], axis_name)
        targets = batch["label"]
        sampling = jax.random.uniform(sampling_rng, targets.shape) < self.config.scheduled_sampling
        ctc_weight = self.config.ctc_weight
        out = self.model.apply({"params": params}, audio, lengths, targets, train=True,
                               augment_keys=keys, sampling=sampling, with_ctc=ctc_weight > 0,
                               rngs={"dropout": dropout_rng})
        logits = out[0]
        losses, real = self._token_losses(logits, targets)
        real = real & batch["mask"][:, None]
        attention_loss = masked_mean(losses, real, axis_name=axis_name)
        accuracy = masked_mean((logits.argmax(-1) == targets).astype(jnp.float32), real,
                               axis_name=axis_name)
        metrics = {"token_accuracy": accuracy}
        loss = attention_loss
        guided = self.config.guided_attention
        if guided > 0:
            penalty = guided_attention_penalty(out[1], self.model.encoded_frames(lengths),
                                               real.sum(-1), self.config.guided_attention_width)
            guided_loss = masked_mean(penalty, real, axis_name=axis_name)
            loss = loss + guided * guided_loss
            metrics["guided_attention"] = guided_loss
        if ctc_weight > 0:
            ctc_losses, feasible = self.ctc_losses(*out[2], targets)
            ctc_loss = masked_mean(ctc_losses, batch["mask"] & feasible, axis_name=axis_name)
            loss = loss + ctc_weight * (ctc_loss - attention_loss)
            metrics.update(attention_loss=attention_loss, ctc_loss=ctc_loss)
        return loss, (batch_stats, {"loss": loss, **metrics})

    @staticmethod
    def ctc_losses(logits, frames, targets):
        """CTC loss per utterance ``(B,)``, per character: ``logits (B, T, vocab)`` over
        ``frames (B,)`` valid steps, blank = the padding id; ``targets`` without their EOS.

        Also returns ``feasible (B,)`` bool: an utterance spoken faster than the head's frame
        rate (fewer frames than characters plus repeated neighbours, which need a blank
        between them) has no alignment; its loss is huge and meaningless, so it is left out.
        """
        chars = jnp.where(targets == CharTokenizer.eos_id, CharTokenizer.pad_id, targets)
        label_paddings = (chars == CharTokenizer.pad_id).astype(jnp.float32)
        logit_paddings = (jnp.arange(logits.shape[1])[None, :] >= frames[:, None]).astype(jnp.float32)
        losses = optax.ctc_loss(logits.astype(jnp.float32), logit_paddings, chars, label_paddings,
                                blank_id=CharTokenizer.pad_id)
        count = (1 - label_paddings).sum(-1)
        repeats = ((chars[:, 1:] == chars[:, :-1]) & (chars[:, 1:] != CharTokenizer.pad_id)).sum(-1)
        feasible = frames >= count + repeats
        return jnp.where(feasible, losses / jnp.maximum(count, 1.0), 0.0), feasible

    def eval_step(self, variables, batch, axis_name):
        """Per batch: summed token loss and count (teacher forcing) and the decoded ids, with
        the references and alignments for :meth:`summarize` on the host."""
        targets = batch["label"]
        logits, _ = self.model.apply(variables, batch["audio"], batch["length"], targets)
        losses, real = self._token_losses(logits, targets)
        real = real & batch["mask"][:, None]
        sums = {"loss": (losses * real).sum(), "tokens": real.sum().astype(jnp.float32)}
        if axis_name is not None:
            sums = jax.lax.psum(sums, axis_name)
        decoded = self.decode(variables, batch["audio"], batch["length"])
        rows = {"hypotheses": decoded.tokens, "references": targets, "mask": batch["mask"],
                "alignments": decoded.alignments}
        if axis_name is not None:  # under pmap every device returns the whole batch's rows
            rows = jax.lax.all_gather(rows, axis_name, tiled=True)
        return {**sums, **rows}

    def combine(self, sums: dict | None, out: dict) -> dict:
        """Adds a batch's ``eval_step`` output to the running ``sums`` on the host: loss sums
        add, texts append (rows with ``mask == False`` left out)."""
        out = jax.device_get(out)
        sums = sums or {"loss": 0.0, "tokens": 0.0, "references": [], "hypotheses": [],
                        "alignments": []}
        keep = np.asarray(out["mask"]).reshape(-1)
        # References may be cut to their length bucket (audiojax.data.buckets), hypotheses not.
        refs = np.asarray(out["references"]).reshape(-1, out["references"].shape[-1])[keep]
        hyps = np.asarray(out["hypotheses"]).reshape(-1, out["hypotheses"].shape[-1])[keep]
        sums["loss"] += float(out["loss"])
        sums["tokens"] += float(out["tokens"])
        sums["references"] += [self.tokenizer.decode(r) for r in refs]
        sums["hypotheses"] += [self.tokenizer.decode(h) for h in hyps]
        if len(sums["alignments"]) < ALIGNMENTS_KEPT:
            alignments = np.asarray(out["alignments"])
            alignments = alignments.reshape((-1,) + alignments.shape[-2:])[keep]
            for h, a in zip(hyps, alignments[:ALIGNMENTS_KEPT - len(sums["alignments"])]):
                # Rows of the plotted characters and the token that ended them (EOS, or a
                # padding id an untrained decoder may emit: decode() stops there too).
                steps = len(self.tokenizer.decode(h)) + 1
                frames = int((a.sum(0) > 0).nonzero()[0].max(initial=0)) + 1
                sums["alignments"].append(np.round(a[:steps, :frames], 4).tolist())
        return sums

    def summarize(self, sums: dict) -> dict:
        """Loss per token, CER and WER (jiwer, over all utterances), and examples."""
        refs, hyps = sums["references"], sums["hypotheses"]
        return {
            "loss": sums["loss"] / max(sums["tokens"], 1.0),
            "cer": float(jiwer.cer(refs, hyps)),
            "wer": float(jiwer.wer(refs, hyps)),
            "count": len(refs),
            "examples": [{"reference": r, "hypothesis": h}
                         for r, h in zip(refs[:ALIGNMENTS_KEPT * 4], hyps)],
            "alignments": sums["alignments"],
            "decode": self.config.decode.to_dict(),
        }

    def per_group(self, sums: dict, groups: list[str]) -> dict:
        """``{group: {"cer", "wer", "count"}}``."""
        def score(idx):
            refs = [sums["references"][i] for i in idx]
            hyps = [sums["hypotheses"][i] for i in idx]
            return {"cer": float(jiwer.cer(refs, hyps)), "wer": float(jiwer.wer(refs, hyps))}

        return per_group_rows(groups, score)

    def check_source(self, source, where: str) -> None:
        """Refuses a manifest whose transcripts the tokenizer cannot encode (names the first)."""
        for text in source.unique_labels():
            try:
                self.tokenizer.encode(text)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None

    def headline(self, metrics: dict) -> str:
        return f"CER {metrics['cer']:.4f}, WER {metrics['wer']:.4f}, loss {metrics['loss']:.4f}"

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """One PNG per kept utterance: its decoding attention (characters x encoder frames)."""
        written = []
        for i, (alignment, example) in enumerate(zip(metrics["alignments"], metrics["examples"])):
            png = output.with_suffix(f".alignment{i}.png")
            text = f"ref: {example['reference']}\nhyp: {example['hypothesis']}"
            plots.alignment_png(png, np.array(alignment), example["hypothesis"],
                                title=f"{title}\n{text}")
            written.append(png)
        return written
