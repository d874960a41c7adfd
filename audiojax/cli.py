"""`audiojax <subcommand>`: a thin shell over library functions (tests call the same code)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from audiojax.data import CORPUS_SPLITS


def _demo(args: argparse.Namespace) -> int:
    from audiojax import demo

    demo.run(Path(args.out), text=args.text, voice=args.voice)
    return 0


def _data_build(args: argparse.Namespace) -> int:
    from audiojax.data import corpora

    summary = corpora.build(args.name, data_dir=args.data_dir, size=args.size, seed=args.seed)
    print(summary)
    return 0


def _data_import(args: argparse.Namespace) -> int:
    from audiojax.data.importers import IMPORTERS

    out, counts = IMPORTERS[args.name](args.folder, args.output)
    print(f"wrote {out}: " + ", ".join(f"{k} {v} clips" for k, v in counts.items()))
    return 0


def _data_check(args: argparse.Namespace) -> int:
    from audiojax.data import check

    labels = None
    if args.labels:
        path = Path(args.labels)
        if path.suffix == ".json":
            from audiojax.config import read_json

            labels = read_json(path, "JSON list of labels")
            if not (isinstance(labels, list) and all(isinstance(x, str) for x in labels)):
                raise ValueError(f"--labels {path}: expected a JSON list of strings")
        elif path.is_file():
            labels = path.read_text().split()
        else:
            labels = [x for x in args.labels.split(",") if x]
    columns = None
    if args.task:
        from audiojax.tasks import task_class

        columns = task_class(args.task).columns
    return check.run_check(args.manifest, labels=labels, expect_channels=args.channels,
                           columns=columns)


def _data_transcode(args: argparse.Namespace) -> int:
    from audiojax.data.transcode import transcode_corpus

    counts = transcode_corpus(args.source, args.target, args.splits,
                              compression_level=args.level, seed=args.seed)
    print(f"wrote {args.target}: " + ", ".join(f"{k} {v} clips" for k, v in counts.items()))
    return 0


def _data_cache(args: argparse.Namespace) -> int:
    from audiojax.data import decoded, default_data_dir
    from audiojax.data.manifest import CLIP_COLUMNS
    from audiojax.data.sources import open_source

    columns = CLIP_COLUMNS
    if args.task:
        from audiojax.tasks import task_class

        columns = task_class(args.task).columns
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
    for split in args.splits:
        source = open_source(args.source, split, data_dir, sample_rate=args.rate, columns=columns)
        folder = decoded.ensure(source, sample_rate=args.rate, data_dir=data_dir,
                                on_bad=args.on_bad)
        opened = decoded.Decoded(folder)
        print(f"{split}: {folder}: {len(opened.starts)} records, "
              f"{opened.meta['samples'] / args.rate / 3600:.2f} h, {opened.nbytes / 1e9:.2f} GB"
              + (f", {len(opened.errors)} that do not decode (skipped in training with "
                 f"data.on_bad=skip)" if opened.errors else ""))
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
    from audiojax.config import load_config
    from audiojax.train.loop import train_and_evaluate

    _exit_on_sigterm()
    config = load_config(args.config, args.overrides)
    metrics = train_and_evaluate(config, args.workdir)
    if metrics:
        print(json.dumps({k: v for k, v in metrics.items() if isinstance(v, (int, float))}))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from audiojax.evaluate import (class_table, condition_table, evaluate, evaluate_folder,
                                   speaker_table)
    from audiojax.runs import read_config
    from audiojax.tasks import all_options
    from audiojax.tasks.commands import overrides_from

    overrides = overrides_from(args, all_options())
    where = dict(split=args.split, manifest=args.manifest, evaluator=args.evaluator,
                 trials=args.trials, events=args.events)
    if args.tune_events is not None or args.threshold != 0.5:
        where.update(tune_events=args.tune_events, threshold=args.threshold)
    if not (Path(args.workdir) / "config.json").exists() and Path(args.workdir).is_dir():
        for given, flag in ((args.output, "--output"), (args.ensemble, "--ensemble"),
                            (args.last_checkpoints, "--last-checkpoints")):
            if given:
                raise ValueError(f"{flag}: not with a sweep folder (each of its runs is evaluated "
                                 f"alone and writes its own results)")
        done, skipped = evaluate_folder(args.workdir, checkpoint=args.checkpoint,
                                        overrides=overrides, **where)
        for metrics in done:
            print(f"{Path(metrics['workdir']).name}: {metrics['headline']}")
        for why in skipped:
            print(f"skipped {why}")
        print(f"then: audiojax report {args.workdir}")
        return 0
    metrics = evaluate(args.workdir, checkpoint=args.checkpoint, output=args.output,
                       overrides=overrides, ensemble=args.ensemble,
                       last_checkpoints=args.last_checkpoints, **where)
    print(metrics["headline"])
    if metrics.get("per_class_accuracy"):
        print(class_table(metrics["per_class_accuracy"]))
    for rate, m in metrics.get("at_rate", {}).items():
        print(f"detection rate (1 - miss rate) per keyword, thresholds tuned for {rate} FA/h:")
        print(class_table({w: 1.0 - miss for w, miss in m["miss_rate_per_word"].items()}))
    if metrics.get("per_speaker"):
        config = read_config(args.workdir)
        print(speaker_table(metrics["per_speaker"], config.best_metric.partition("/")[2],
                            config.best_mode))
    if metrics.get("per_condition"):
        print(condition_table(metrics["per_condition"]))
    print(f"wrote {', '.join(metrics['files'])}")
    curves = Path(args.workdir) / "learning_curves.png"
    if curves.exists():
        print(f"learning curves: {curves}; TensorBoard: tensorboard --logdir {Path(args.workdir) / 'tensorboard'}")
    return 0


def _task_command(args: argparse.Namespace) -> int:
    """A task's inference command, dispatched on the task of ``--workdir``'s run."""
    from audiojax.runs import OPENER, read_config
    from audiojax.tasks import all_commands, commands_of

    candidates = all_commands()[args.command]
    workdir = getattr(args, "workdir", None)
    if workdir is None and len(candidates) == 1:
        return candidates[0].run(args, OPENER)
    task = read_config(workdir).task
    for command in candidates:
        if command.task == task:
            _refuse_foreign_options(args, command, candidates)
            return command.run(args, OPENER)
    offered = ", ".join(c.name for c in commands_of(task)) or "none"
    raise ValueError(f"--workdir {workdir}: `audiojax {args.command}` is for "
                     f"{' or '.join(c.task for c in candidates)} runs, not a {task} run (its "
                     f"commands: {offered})")


def _refuse_foreign_options(args: argparse.Namespace, command, candidates) -> None:
    """A command name several tasks offer parses all their options: one given that the run's
    task's command does not take is an error, not ignored."""
    def parser_of(commands):
        p = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")
        for c in commands:
            c.add_arguments(p)
        return p

    own = {a.dest for a in parser_of([command])._actions}
    for action in parser_of(candidates)._actions:
        if action.dest not in own and getattr(args, action.dest, action.default) != action.default:
            raise ValueError(f"{action.option_strings[0]}: not an option of `audiojax "
                             f"{command.name}` for a {command.task} run")


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


def build_parser() -> argparse.ArgumentParser:
    from audiojax.data.importers import IMPORTERS
    from audiojax.tasks import all_commands, all_options
    from audiojax.tasks.commands import add_ensemble_arguments, add_options

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

    p = sub.add_parser("evaluate", help="metrics of a run's checkpoint on a split, a manifest "
                                         "or one of its evaluators")
    p.add_argument("--workdir", required=True,
                   help="a run's workdir, or a sweep folder: then every run in it is evaluated")
    p.add_argument("--checkpoint", default="best", help="best, latest or a step (default: best)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--split", default=None, help="split of the run's corpus (default: test)")
    where.add_argument("--manifest", default=None,
                       help="any TSV in the task's columns: path<TAB>label (or transcript, for "
                            "ASR runs) per line")
    where.add_argument("--trials", default=None,
                       help="a trial list, enroll<TAB>test<TAB>1|0 per line, paths relative to "
                            "it (runs that embed: speaker recognition)")
    where.add_argument("--events", default=None,
                       help="an events file of long recordings, file<TAB>onset_s<TAB>offset_s"
                            "<TAB>word per line (a file alone: a recording without a keyword), "
                            "paths relative to it (streaming keyword runs)")
    where.add_argument("--evaluator", default=None, help="one of the run's config.evals")
    p.add_argument("--tune-events", default=None,
                   help="with --events: the events file the thresholds are chosen on (default: "
                        "events_validation.tsv beside the events file)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="with --events: the one threshold of the fixed-threshold metrics")
    p.add_argument("--output", default=None, help="metrics JSON (default: WORKDIR/eval_NAME.json)")
    add_ensemble_arguments(p)
    add_options(p, all_options())
    p.set_defaults(func=_evaluate)

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

    # The tasks' inference commands (predict, transcribe, generate, ...), from the registry.
    for name, commands in sorted(all_commands().items()):
        p = sub.add_parser(name, help=commands[0].help, conflict_handler="resolve")
        for command in commands:  # a name several tasks offer takes all their options
            command.add_arguments(p)
        p.set_defaults(func=_task_command)

    data = sub.add_parser("data", help="build, import, check, cache, sample, cross and transcode corpora")
    data = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    p = data.add_parser("build", help="synthesize a local corpus (WAV + manifests + TFDS)")
    from audiojax.data.corpora import CORPORA

    p.add_argument("name", choices=tuple(CORPORA))
    p.add_argument("--data-dir", default=None,
                   help="default: $AUDIOJAX_DATA or ~/.cache/audiojax")
    p.add_argument("--size", choices=("tiny", "small", "full", "large"), default="small",
                   help="large: sentences only, the full corpus with 4x the training clips")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_build)

    p = data.add_parser("import", help="manifests for a public corpus on disk, in its official "
                                       "layout (the clips stay where they are)")
    p.add_argument("name", choices=sorted(IMPORTERS))
    p.add_argument("folder", help="the extracted release, e.g. speech_commands_v0.02/ (WORD/"
                                  "SPEAKER_nohash_N.wav, validation_list.txt, testing_list.txt)")
    p.add_argument("--output", default=None,
                   help="folder for train/validation/test.tsv and info.json (default: "
                        "$AUDIOJAX_DATA/speech_commands, ~/.cache/audiojax/speech_commands)")
    p.set_defaults(func=_data_import)

    p = data.add_parser("check", help="decode every line of a manifest and report each problem")
    p.add_argument("manifest", help="TSV file: path<TAB>label[<TAB>speaker] per line")
    p.add_argument("--labels", default=None,
                   help="allowed labels: comma-separated, or a file with one label per line "
                        "(default: the corpus's info.json beside the manifest, if any)")
    p.add_argument("--channels", type=int, default=1, help="expected channel count (default: 1)")
    p.add_argument("--task", default=None,
                   help="read the manifest with this task's columns (default: path<TAB>label"
                        "[<TAB>speaker])")
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

    p = data.add_parser("cache", help="decode a source's splits once into int16 records "
                                      "(what data.cache=decoded|device reads)")
    p.add_argument("source", help="a data source as config.data.source names it: commands/small, "
                                  "a folder of SPLIT.tsv, a manifest, ...")
    p.add_argument("--splits", nargs="+", default=["train", "validation"])
    p.add_argument("--rate", type=int, default=16000, help="the run's sample rate (Hz)")
    p.add_argument("--task", default=None, help="read the manifests with this task's columns")
    p.add_argument("--on-bad", default="error", choices=("error", "skip"),
                   help="a record that does not decode: stop (default), or keep it out")
    p.add_argument("--data-dir", default=None, help="default $AUDIOJAX_DATA or ~/.cache/audiojax")
    p.set_defaults(func=_data_cache)

    p = data.add_parser("sample", help="a manifest of clips drawn at random from one split and "
                                       "noise condition of a built corpus")
    p.add_argument("corpus", help="a built corpus folder, e.g. ~/.cache/audiojax/sentences")
    p.add_argument("--split", default="validation", choices=CORPUS_SPLITS)
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
    from audiojax.files import LockedError

    try:
        sys.exit(args.func(args))
    except (ValueError, OSError, FloatingPointError, CatalogError, SynthesisError, LockedError) as e:
        # Bad input, unwritable or missing files, missing tools, busy workdirs and diverged
        # runs: one clear line, not a traceback (AudioError, ManifestError, BadExampleError,
        # NonFiniteLossError are among these; OSError messages name their path).
        print(f"audiojax {args.command}: error: {e}", file=sys.stderr)
        sys.exit(2)
