"""Speaker recognition: embeddings trained as classification over the training speakers with an
additive angular margin (AAM, ArcFace) softmax, scored on trial lists by cosine similarity.

An embedder is a linen module called as ``model(audio (B, samples), lengths (B,), *, train,
augment_keys=None) -> (B, embedding_dim)`` (:mod:`audiojax.models.speaker`). The task puts a
cosine head over it (:class:`SpeakerNet`): one weight vector per training speaker, logits
``scale * cos(theta + margin)`` for the true speaker and ``scale * cos(theta)`` for the others
(Deng et al. 2019; ``speaker.loss = "softmax"``: plain softmax over a dense layer, the
ablation). The margin can grow linearly from 0 over ``speaker.margin_warmup_steps``.
``speaker.speed_speakers``, factors such as ``(0.9, 1.1)``, makes each training speaker played
that much faster a speaker of its own (Kaldi's and wespeaker's speed perturbation): in
training an example is kept or sped up by one of the factors with equal chance, and its label
moves to that factor's copy of the speakers, so the head has ``(1 + len(factors)) *
speakers`` classes.

Two evaluations: ``trials`` (:mod:`audiojax.evaluators.trials`: EER, minDCF over a trial list,
optionally AS-norm against the head's speaker vectors) on held-out voices, and ``clips`` on
held-out utterances of training speakers (closed-set identification accuracy).
"""

from __future__ import annotations

from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from audiojax import plots
from audiojax.data.augment import change_speed, example_index
from audiojax.data.pipeline import numeric
from audiojax.data.sources import FilesSource
from audiojax.data.splits import loader_for
from audiojax.masking import masked_mean
from audiojax.tasks.augment import augment_batch, augment_defaults, check_augment
from audiojax.tasks.base import (Task, accuracy_per_group, bootstrap_interval, combine_hits,
                                 gather_outputs)
from audiojax.tasks.speaker import metrics as M

LOSSES = ("aam", "softmax")
# Length buckets of the embedding loader, in seconds (each one a compiled shape).
BUCKET_SECONDS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """``x`` scaled to unit L2 norm along ``axis`` (zero vectors stay zero)."""
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), eps)


def aam_logits(cosine: jax.Array, labels: jax.Array, margin, scale: float) -> jax.Array:
    """Additive angular margin logits: ``cosine (B, C)`` of embeddings and class vectors,
    ``labels (B,)`` -> ``scale * cos(theta_y + margin)`` at the true class, ``scale * cos
    theta`` elsewhere. Where ``theta_y + margin`` would pass pi (so the logit would rise again),
    ``cos theta_y - margin * sin(margin)`` instead, as wespeaker's and insightface's
    ``easy_margin=False``."""
    cos_m, sin_m = jnp.cos(margin), jnp.sin(margin)
    sine = jnp.sqrt(jnp.clip(1.0 - cosine ** 2, 0.0, 1.0))
    phi = cosine * cos_m - sine * sin_m
    phi = jnp.where(cosine > jnp.cos(jnp.pi - margin), phi, cosine - jnp.sin(jnp.pi - margin) * margin)
    onehot = jax.nn.one_hot(labels, cosine.shape[-1], dtype=bool)
    return scale * jnp.where(onehot, phi, cosine)


class SpeakerNet(nn.Module):
    """An embedder with a head over the ``num_classes`` training speakers: ``__call__`` gives
    ``(embeddings (B, D), head (B, C))``, the head being cosines to unit class vectors (``aam``)
    or dense logits (``softmax``)."""

    embedder: nn.Module
    num_classes: int
    cosine_head: bool = True

    @nn.compact
    def __call__(self, audio, lengths, *, train: bool, augment_keys=None):
        embeddings = self.embedder(audio, lengths, train=train, augment_keys=augment_keys)
        kernel = self.param("head", nn.initializers.lecun_normal(),
                            (embeddings.shape[-1], self.num_classes))
        if self.cosine_head:
            return embeddings, normalize(embeddings) @ normalize(kernel, axis=0)
        return embeddings, embeddings @ kernel


class SpeakerRecognition(Task):
    """Batches as for classification: ``label (B,)`` the training speaker's id."""

    loss_takes_step = True  # the margin's warm-up
    inference_keys = Task.inference_keys + ("speaker.as_norm", "speaker.cohort_top_k",
                                            "speaker.eval_seconds")

    @classmethod
    def config_defaults(cls) -> ml_collections.ConfigDict:
        c = ml_collections.ConfigDict()
        c.augment = augment_defaults()
        c.speaker = ml_collections.ConfigDict()
        c.speaker.loss = "aam"               # aam | softmax
        c.speaker.margin = 0.2               # radians (aam)
        c.speaker.scale = 30.0               # logit scale (aam)
        c.speaker.margin_warmup_steps = 0    # margin from 0 to `margin` over these steps
        c.speaker.speed_speakers = ()        # speed factors whose sped-up copies are new speakers
        c.speaker.as_norm = False            # trials: adaptive score normalization ...
        c.speaker.cohort_top_k = 100         # ... over this many closest training speakers
        c.speaker.eval_seconds = 12.0        # trials: the centre of each utterance, at most
        return c

    @classmethod
    def check_config(cls, config: ml_collections.ConfigDict) -> None:
        check_augment(config)
        s = config.speaker
        if s.loss not in LOSSES:
            raise ValueError(f"config.speaker.loss={s.loss!r}: one of {', '.join(LOSSES)}")
        if s.margin < 0 or s.scale <= 0 or s.margin_warmup_steps < 0 or s.cohort_top_k < 1:
            raise ValueError("config.speaker: margin and margin_warmup_steps >= 0, scale > 0, "
                             "cohort_top_k >= 1")
        if s.eval_seconds <= 0:
            raise ValueError(f"config.speaker.eval_seconds={s.eval_seconds}: must be positive")
        factors = tuple(s.speed_speakers)
        if any(not 0.5 <= f <= 2.0 or f == 1.0 for f in factors) or len(set(factors)) < len(factors):
            raise ValueError(f"config.speaker.speed_speakers={factors}: distinct factors in "
                             "[0.5, 2], none of them 1")

    def __init__(self, config: ml_collections.ConfigDict, labels: list[str]):
        super().__init__(config, labels)
        self.label_to_id = {name: i for i, name in enumerate(self.labels)}
        self.model = SpeakerNet(self.build_model(),
                                len(self.labels) * (1 + len(config.speaker.speed_speakers)),
                                cosine_head=config.speaker.loss == "aam")

    def evaluator_kind(self, data: str) -> str:
        """Held-out utterances of training speakers (a manifest, the identification split) are
        scored as clips; other splits by their trial lists."""
        return "clips" if data == "identification" or data.endswith(".tsv") else "trials"

    def example_spec(self, batch_size: int) -> dict[str, jax.ShapeDtypeStruct]:
        return {**self.audio_spec(batch_size),
                "label": jax.ShapeDtypeStruct((batch_size,), jnp.int32)}

    def _model(self):
        # Outside pmap there is no device axis for BatchNorm to average over.
        embedder = self.model.embedder
        if getattr(embedder, "axis_name", None) is not None:
            return self.model.clone(embedder=embedder.clone(axis_name=None))
        return self.model

    def init(self, rng: jax.Array, batch: dict) -> dict:
        return self._model().init(rng, batch["audio"], batch["length"], train=False)

    def margin_at(self, step) -> jax.Array:
        """The AAM margin at training ``step``: linear from 0 over ``margin_warmup_steps``."""
        s = self.config.speaker
        if not s.margin_warmup_steps:
            return jnp.float32(s.margin)
        return s.margin * jnp.minimum(1.0, jnp.asarray(step, jnp.float32) / s.margin_warmup_steps)

    def head_logits(self, head: jax.Array, labels: jax.Array, margin) -> jax.Array:
        if self.config.speaker.loss == "aam":
            return aam_logits(head, labels, margin, self.config.speaker.scale)
        return head

    def speed_speakers(self, rng, audio, lengths, labels, axis_name):
        """``(audio, lengths, labels)`` with each example kept or sped up by one of
        ``speaker.speed_speakers`` (equal chances, keyed per global example index), its label
        moved to that factor's copy of the speakers: ``label + k * len(labels)`` for factor
        ``k`` (1-based; 0 kept). ``audio (B, samples)``, ``lengths (B,)``, ``labels (B,)``."""
        factors = tuple(self.config.speaker.speed_speakers)
        if not factors:
            return audio, lengths, labels
        rng = jax.random.fold_in(rng, len(factors))
        index = example_index(audio.shape[0], axis_name)
        choice = jax.vmap(lambda i: jax.random.randint(jax.random.fold_in(rng, i), (), 0,
                                                       len(factors) + 1))(index)
        audio, lengths = change_speed(audio, lengths, jnp.asarray((1.0, *factors))[choice])
        return audio, lengths, labels + choice * len(self.labels)

    def loss(self, params, batch_stats, batch, rng, axis_name, step=0):
        rng, speed_rng = jax.random.split(rng)
        audio, lengths, labels = self.speed_speakers(speed_rng, batch["audio"], batch["length"],
                                                     batch["label"], axis_name)
        audio, lengths, keys = augment_batch(self.config, rng, audio, lengths, axis_name)
        (_, head), updates = self.model.apply(
            {"params": params, "batch_stats": batch_stats}, audio, lengths, train=True,
            mutable=["batch_stats"], augment_keys=keys)
        logits = self.head_logits(head, labels, self.margin_at(step))
        mask = batch["mask"]
        loss = masked_mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels),
                           mask, axis_name=axis_name)
        hits = (head.argmax(-1) == labels).astype(jnp.float32)
        return loss, (updates.get("batch_stats", {}),
                      {"loss": loss, "accuracy": masked_mean(hits, mask, axis_name=axis_name)})

    def embed(self, variables, batch) -> jax.Array:
        """``(B, D)`` unit-norm embeddings of a batch in evaluation mode."""
        embeddings, _ = self.model.apply(variables, batch["audio"], batch["length"], train=False)
        return normalize(embeddings)

    def embed_step(self, variables, batch, axis_name):
        """Per-row embeddings with their ``mask`` (all rows of the global batch under pmap)."""
        return gather_outputs({}, {"embedding": self.embed(variables, batch),
                                   "mask": batch["mask"]}, axis_name)

    def embed_files(self, embed_batch, files: list[str], origin: str,
                    batch_size: int) -> dict[str, np.ndarray]:
        """``{file: embedding (D,)}`` of every file: ``embed_batch(numeric batch) -> {"embedding"
        (B, D), "mask" (B,)}`` (a compiled :meth:`embed_step`) over batches of ``batch_size`` in
        order of length (:data:`BUCKET_SECONDS`), each file's centre up to
        ``speaker.eval_seconds``. A file that cannot be read raises (``data.on_bad='error'``)
        naming it and ``origin``; a non-finite embedding raises FloatingPointError naming it."""
        config = ml_collections.ConfigDict(self.config.to_dict())
        seconds = config.speaker.eval_seconds
        config.data.max_seconds = seconds
        config.data.bucket_seconds = tuple(s for s in BUCKET_SECONDS if s < seconds)
        config.data.center = "none"
        config.data.cache = "none"  # files met once: nothing to keep a decoded copy of
        loader = loader_for(config, FilesSource(files, origin), None, train=False,
                            batch_size=batch_size)
        out: dict[str, np.ndarray] = {}
        for batch in loader:
            rows = jax.device_get(embed_batch(numeric(batch)))
            valid = np.asarray(rows["mask"]).reshape(-1)
            embeddings = np.asarray(rows["embedding"]).reshape(valid.size, -1)
            for path, embedding in zip(batch["id"][valid], embeddings[valid]):
                if not np.isfinite(embedding).all():
                    raise FloatingPointError(f"{path}: its embedding is not finite (NaN/Inf)")
                out[str(path)] = embedding
        return out

    def cohort(self, variables) -> np.ndarray:
        """``(C, D)`` unit vectors standing for the training speakers in AS-norm: the head's
        class vectors (for ``aam``, what each speaker's embeddings are pulled towards), the
        sped-up copies among them."""
        return np.asarray(normalize(variables["params"]["head"], axis=0)).T

    def eval_step(self, variables, batch, axis_name):
        """Identification of training speakers: loss (softmax of the head without margin), hits.
        Over the speakers as recorded (not their sped-up copies)."""
        _, head = self.model.apply(variables, batch["audio"], batch["length"], train=False)
        head = head[:, :len(self.labels)]
        logits = self.head_logits(head, batch["label"], 0.0)
        valid = batch["mask"].astype(jnp.float32)
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"])
        sums = {"loss": (losses * valid).sum(), "count": valid.sum()}
        return gather_outputs(sums, {"hits": head.argmax(-1) == batch["label"],
                                     "mask": batch["mask"]}, axis_name)

    def combine(self, collected: dict | None, out: dict) -> dict:
        return combine_hits(collected, out)

    def per_group(self, collected: dict, groups: list[str]) -> dict:
        return accuracy_per_group(collected, groups)

    def summarize(self, collected: dict) -> dict:
        """Identification: loss, accuracy with its 95% bootstrap interval, count."""
        hits = np.concatenate(collected["hits"])
        count = float(collected["count"])
        return {"loss": float(collected["loss"]) / max(count, 1.0),
                "accuracy": float(hits.mean()) if hits.size else float("nan"),
                "accuracy_ci95": list(bootstrap_interval(hits)), "count": int(round(count))}

    def scores(self, variables, enroll: np.ndarray, test: np.ndarray) -> np.ndarray:
        """``(n,)`` scores of pairs of embeddings ``enroll (n, D)``, ``test (n, D)`` (host
        ``variables``): cosine, AS-normalized against :meth:`cohort` when ``speaker.as_norm``."""
        scores = M.cosine_scores(enroll, test)
        if not self.config.speaker.as_norm:
            return scores
        cohort = self.cohort(variables)
        k = min(self.config.speaker.cohort_top_k, len(cohort))
        return M.as_norm(scores, M.cohort_scores(enroll, cohort), M.cohort_scores(test, cohort), k)

    def score_trials(self, variables, embeddings: dict[str, np.ndarray], trials) -> dict:
        """Verification metrics of ``trials`` (:class:`~audiojax.data.trials.Trial`) from each
        file's embedding: cosine scores, AS-norm'ed when ``speaker.as_norm``; with the DET
        curve and score histograms the plots draw."""
        labels = np.array([t.target for t in trials])
        scores = self.scores(variables, np.stack([embeddings[t.enroll] for t in trials]),
                             np.stack([embeddings[t.test] for t in trials]))
        out = M.verification_metrics(scores, labels)
        p_fa, p_miss = M.det_curve(scores, labels)
        keep = np.unique(np.linspace(0, len(p_fa) - 1, min(len(p_fa), 400)).round().astype(int))
        edges = np.linspace(scores.min(), scores.max(), 41)
        return {**out, "count": len(trials), "scoring": "as-norm" if self.config.speaker.as_norm
                else "cosine",
                "det": {"p_fa": p_fa[keep].tolist(), "p_miss": p_miss[keep].tolist()},
                "histogram": {"edges": edges.tolist(),
                              "target": np.histogram(scores[labels], edges)[0].tolist(),
                              "nontarget": np.histogram(scores[~labels], edges)[0].tolist()}}

    def headline(self, metrics: dict) -> str:
        if "eer" in metrics:
            low, high = metrics["eer_ci95"]
            return (f"EER {metrics['eer']:.2%} (95% CI {low:.2%}-{high:.2%}), minDCF(0.01) "
                    f"{metrics['min_dcf_0.01']:.4f}, minDCF(0.05) {metrics['min_dcf_0.05']:.4f} "
                    f"({metrics['scoring']})")
        low, high = metrics["accuracy_ci95"]
        return (f"identification accuracy {metrics['accuracy']:.4f} (95% CI {low:.4f}-{high:.4f}),"
                f" loss {metrics['loss']:.4f}")

    def write_plots(self, output: Path, metrics: dict, title: str) -> list[Path]:
        """The DET curve and the score histograms of a trials evaluation beside ``output``."""
        if "det" not in metrics:
            return []
        det, hist = output.with_suffix(".det.png"), output.with_suffix(".scores.png")
        plots.det_png(det, np.array(metrics["det"]["p_fa"]), np.array(metrics["det"]["p_miss"]),
                      title=f"{title}: EER {metrics['eer']:.2%}", eer=metrics["eer"])
        h = metrics["histogram"]
        plots.score_histogram_png(hist, h["edges"], h["target"], h["nontarget"], title=title,
                                  threshold=metrics["eer_threshold"])
        return [det, hist]

