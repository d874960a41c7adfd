"""`audiojax <subcommand>`: a thin shell over library functions (tests call the same code)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from audiojax import demo

    demo.run(Path(args.out), text=args.text, voice=args.voice)
    return 0


def _data_build(args: argparse.Namespace) -> int:
    from audiojax.data import corpora

    summary = corpora.build(args.name, data_dir=args.data_dir, size=args.size, seed=args.seed)
    print(summary)
    return 0


def _data_check(args: argparse.Namespace) -> int:
    from audiojax.data import check

    labels = None
    if args.labels:
        path = Path(args.labels)
        labels = (path.read_text().split() if path.is_file()
                  else [x for x in args.labels.split(",") if x])
    return check.run_check(args.manifest, labels=labels, expect_channels=args.channels)


def _data_transcode(args: argparse.Namespace) -> int:
    from audiojax.data.transcode import transcode_corpus

    counts = transcode_corpus(args.source, args.target, args.splits,
                              compression_level=args.level, seed=args.seed)
    print(f"wrote {args.target}: " + ", ".join(f"{k} {v} clips" for k, v in counts.items()))
    return 0


def _data_sample(args: argparse.Namespace) -> int:
    from audiojax.data.corpora import sample_clips
    from audiojax.data.manifest import write_manifest

    rows = sample_clips(args.corpus, args.split, args.count, seed=args.seed, noise=args.noise,
                        snr_db=tuple(args.snr) if args.snr else None)
    write_manifest(args.output, rows)
    print(f"wrote {args.output}: {len(rows)} clips of {args.split}")
    return 0


def _data_cross(args: argparse.Namespace) -> int:
    from audiojax.data.corpora.builder import write_crossed

    out = Path(args.output)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"--output {out}: not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    n = write_crossed(args.size, args.seed, out, args.voices, args.texts, args.count)
    print(f"wrote {out / 'manifest.tsv'}: {n} {args.texts} sentences read by {args.voices} voices")
    return 0


def _exit_on_sigterm() -> None:
    """SIGTERM (``kill``, a scheduler's preemption) raises SystemExit(143) instead of ending the
    process on the spot, so ``finally`` blocks run: the trainer finishes its pending checkpoint
    save and stops its grain worker processes, which would otherwise outlive it."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _train(args: argparse.Namespace) -> int:
    from audiojax.train.config import load_config
    from audiojax.train.loop import train_and_evaluate

    _exit_on_sigterm()
    config = load_config(args.config, args.overrides)
    metrics = train_and_evaluate(config, args.workdir)
    if metrics:
        print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}))
    return 0


def _add_decode_options(p: argparse.ArgumentParser) -> None:
    """Speech recognition: overrides of the run's ``config.decode``."""
    p.add_argument("--beam-width", type=int, default=None,
                   help="ASR: beam search width (default: the run's config.decode.beam_width)")
    p.add_argument("--ctc-weight", type=float, default=None,
                   help="ASR: weight in [0, 1] of the CTC head's score in beam search (joint "
                        "CTC-attention decoding; 1: the CTC head alone; default: the run's "
                        "config.decode.ctc_weight)")
    p.add_argument("--lm-weight", type=float, default=None,
                   help="ASR: weight of a character n-gram language model in beam search "
                        "(shallow fusion; default: the run's config.decode.lm_weight)")
    p.add_argument("--lm", default=None,
                   help="ASR: the language model file (default: WORKDIR/lm.npz, made by "
                        "`audiojax lm --workdir WORKDIR`)")


def _decode_options(args: argparse.Namespace) -> dict:
    return {"beam_width": args.beam_width, "ctc_weight": args.ctc_weight,
            "lm_weight": args.lm_weight, "lm": args.lm}


def _lm(args: argparse.Namespace) -> int:
    from audiojax.tasks.asr import build_language_model

    path, lm = build_language_model(args.output, args.order, workdir=args.workdir,
                                    text_files=args.text)
    sizes = ", ".join(str(len(k)) for k in lm.keys)
    print(f"wrote {path}: order {lm.order}, contexts seen per length 1..{lm.order - 1}: {sizes}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from audiojax.evaluate import condition_table, evaluate, evaluate_folder, speaker_table

    if not (Path(args.workdir) / "config.json").exists() and Path(args.workdir).is_dir():
        if args.output:
            raise ValueError("--output: not with a sweep folder (each run writes its own)")
        done, skipped = evaluate_folder(args.workdir, checkpoint=args.checkpoint, split=args.split,
                                        manifest=args.manifest, decode=_decode_options(args))
        for metrics in done:
            print(f"{Path(metrics['workdir']).name}: {metrics['headline']}")
        for why in skipped:
            print(f"skipped {why}")
        print(f"then: audiojax report {args.workdir}")
        return 0
    metrics = evaluate(args.workdir, checkpoint=args.checkpoint, split=args.split,
                       manifest=args.manifest, output=args.output, decode=_decode_options(args))
    print(metrics["headline"])
    if metrics.get("per_speaker"):
        print(speaker_table(metrics["per_speaker"]))
    if metrics.get("per_condition"):
        print(condition_table(metrics["per_condition"]))
    print(f"wrote {', '.join(metrics['files'])}")
    curves = Path(args.workdir) / "learning_curves.png"
    if curves.exists():
        print(f"learning curves: {curves}; TensorBoard: tensorboard --logdir {Path(args.workdir) / 'tensorboard'}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from audiojax.evaluate import predict

    for path, top in zip(args.files, predict(args.workdir, args.files, args.checkpoint, args.top_k)):
        print(path + "\t" + "  ".join(f"{label} {p:.3f}" for label, p in top))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from audiojax.sweep import sweep

    # A terminated sweep stops its runs (they resume from their checkpoints next time).
    _exit_on_sigterm()
    result = sweep(args.sweep, args.workdir, executor=args.executor, parallel=args.parallel,
                   dry_run=args.dry_run, processes=args.processes)
    return 1 if result["failed"] else 0


def _report(args: argparse.Namespace) -> int:
    from audiojax.report import report

    for path in report(args.dir, metric=args.metric):
        print(f"wrote {path}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from audiojax.generate import generate

    files = generate(args.workdir, args.seconds, args.num, args.out, condition=args.condition,
                     mel_from=args.mel_from, temperature=args.temperature,
                     checkpoint=args.checkpoint, seed=args.seed)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


def _transcribe(args: argparse.Namespace) -> int:
    from audiojax.evaluate import transcribe

    for path, text in zip(args.files, transcribe(args.workdir, args.files, args.checkpoint,
                                                 _decode_options(args))):
        print(f"{path}\t{text}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiojax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="synthesize a word, compute log-mel and MFCC, write a PNG")
    p.add_argument("--out", default="out/demo", help="output folder (default: out/demo)")
    p.add_argument("--text", default="audio signal processing", help="what espeak-ng says")
    p.add_argument("--voice", default="en-us", help="espeak-ng voice[+variant] (default: en-us)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("train", help="train an experiment config (resumes an existing workdir)")
    p.add_argument("--config", required=True, help="experiments/NAME.py[:VARIANT]")
    p.add_argument("--workdir", required=True, help="run folder: config, checkpoints, metrics, plots")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="metrics of a run's checkpoint on a split or a manifest")
    p.add_argument("--workdir", required=True,
                   help="a run's workdir, or a sweep folder: then every run in it is evaluated")
    p.add_argument("--checkpoint", default="best", help="best, latest or a step (default: best)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--split", default="test", help="split of the run's corpus (default: test)")
    where.add_argument("--manifest", default=None,
                       help="any TSV: path<TAB>label (or transcript, for ASR runs) per line")
    p.add_argument("--output", default=None, help="metrics JSON (default: WORKDIR/eval_NAME.json)")
    _add_decode_options(p)
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("predict", help="top classes of audio files under a run's checkpoint")
    p.add_argument("--workdir", required=True)
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_predict)

    p = sub.add_parser("sweep", help="train every run of a launch/ sweep file (skips finished ones)")
    p.add_argument("sweep", help="launch/FILE.py[:VARIANT]")
    p.add_argument("--workdir", required=True, help="sweep folder: one workdir per run")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local subprocesses, or Slurm job arrays through submitit (default: local)")
    p.add_argument("--parallel", type=int, default=1,
                   help="runs at a time (local: each on its share of cores/GPUs; default: 1)")
    p.add_argument("--processes", type=int, default=1,
                   help="JAX processes (hosts) per run, for multi-host launches (default: 1)")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("report", help="table and plots of a sweep's (or any folder's) runs")
    p.add_argument("dir", help="a sweep folder or any folder of run workdirs")
    p.add_argument("--metric", default=None, help="metric to compare (default: the runs' best_metric)")
    p.set_defaults(func=_report)

    p = sub.add_parser("generate", help="sample waveforms from a generation run (WAV + PNG each)")
    p.add_argument("--workdir", required=True)
    p.add_argument("--checkpoint", default="best")
    p.add_argument("--seconds", type=float, default=None,
                   help="length of each output (default for --mel-from: the file's length)")
    p.add_argument("--num", type=int, default=1, help="number of outputs (streams sampled together)")
    p.add_argument("--out", required=True, help="output folder")
    given = p.add_mutually_exclusive_group()
    given.add_argument("--condition", default=None, help="word label, for a word-conditioned model")
    given.add_argument("--mel-from", default=None, help="WAV whose log-mel a vocoder renders")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_generate)

    p = sub.add_parser("transcribe", help="text of audio files under a speech-recognition run")
    p.add_argument("--workdir", required=True)
    p.add_argument("--checkpoint", default="best")
    _add_decode_options(p)
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_transcribe)

    p = sub.add_parser("lm", help="a character n-gram language model for ASR beam search")
    p.add_argument("--workdir", default=None,
                   help="a speech-recognition run: its training transcripts (output default: "
                        "WORKDIR/lm.npz)")
    p.add_argument("--text", nargs="*", default=(),
                   help="more text: .tsv manifests (their transcripts) or plain text, a sentence "
                        "per line")
    p.add_argument("--order", type=int, default=6, help="n-gram order (default 6)")
    p.add_argument("--output", default=None, help="the .npz to write")
    p.set_defaults(func=_lm)

    data = sub.add_parser("data", help="build, check, sample, cross and transcode corpora")
    data = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    p = data.add_parser("build", help="synthesize a local corpus (WAV + manifests + TFDS)")
    p.add_argument("name", choices=("commands", "sentences"))
    p.add_argument("--data-dir", default=None,
                   help="default: $AUDIOJAX_DATA or ~/.cache/audiojax")
    p.add_argument("--size", choices=("tiny", "small", "full", "large"), default="small",
                   help="large: sentences only, the full corpus with 4x the training clips")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_build)

    p = data.add_parser("check", help="decode every line of a manifest and report each problem")
    p.add_argument("manifest", help="TSV file: path<TAB>label[<TAB>speaker] per line")
    p.add_argument("--labels", default=None,
                   help="allowed labels: comma-separated, or a file with one label per line "
                        "(default: the corpus's info.json beside the manifest, if any)")
    p.add_argument("--channels", type=int, default=1, help="expected channel count (default: 1)")
    p.set_defaults(func=_data_check)

    p = data.add_parser("transcode", help="a small Ogg/Opus copy of a corpus (for a remote box)")
    p.add_argument("source", help="a built corpus folder, e.g. ~/.cache/audiojax/commands")
    p.add_argument("target", help="the copy's folder: DATA_DIR/NAME[_SIZE] to train on it")
    p.add_argument("--splits", nargs="+", default=["train", "validation", "test"],
                   help="SPLIT (every clip) or SPLIT:COUNT (COUNT clips drawn at random)")
    p.add_argument("--level", type=float, default=0.96,
                   help="Opus compression level in [0, 1] (default 0.96: about 22 kbit/s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the SPLIT:COUNT draws")
    p.set_defaults(func=_data_transcode)

    p = data.add_parser("sample", help="a manifest of clips drawn at random from one split and "
                                       "noise condition of a built corpus")
    p.add_argument("corpus", help="a built corpus folder, e.g. ~/.cache/audiojax/sentences")
    p.add_argument("--split", default="validation", choices=("train", "validation", "test"))
    p.add_argument("--count", type=int, required=True, help="clips to draw (without replacement)")
    p.add_argument("--noise", default=None, choices=("none", "colour", "babble", "babble+colour"),
                   help="only clips with this added noise (default: any)")
    p.add_argument("--snr", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="only clips mixed at LOW <= SNR < HIGH dB (needs a --noise other than none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help="the manifest to write (.tsv)")
    p.set_defaults(func=_data_sample)

    p = data.add_parser("cross", help="sentences of one split read by the voices of another "
                                      "(sentences corpus): unseen text vs unseen voices")
    p.add_argument("--size", choices=("tiny", "small", "full"), default="full",
                   help="the corpus whose voice splits to use (default: full)")
    p.add_argument("--seed", type=int, default=0, help="the corpus's build seed (default 0)")
    p.add_argument("--voices", default="train", choices=("train", "validation", "test"))
    p.add_argument("--texts", default="validation", choices=("train", "validation", "test"))
    p.add_argument("--count", type=int, default=300)
    p.add_argument("--output", required=True, help="a new folder: manifest.tsv, clips.jsonl, wav/")
    p.set_defaults(func=_data_cross)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    # --config.KEY=VALUE overrides, as in the flax examples, go to the experiment config.
    overrides = [a for a in argv if a.startswith("--config.")]
    args = build_parser().parse_args([a for a in argv if not a.startswith("--config.")])
    args.overrides = overrides
    from audiojax.data.corpora.voices import SynthesisError
    from audiojax.data.sources import CatalogError

    try:
        sys.exit(args.func(args))
    except (ValueError, FileNotFoundError, FloatingPointError, CatalogError, SynthesisError) as e:
        # Bad input, missing tools and diverged runs: one clear line, not a traceback
        # (AudioError, ManifestError, BadExampleError, NonFiniteLossError are among these).
        print(f"audiojax {args.command}: error: {e}", file=sys.stderr)
        sys.exit(2)
