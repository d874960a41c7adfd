"""Decoding speed of the attention recognizer on CPU: greedy, beam-4, beam-4 with joint CTC
prefix scoring and, given a character n-gram model, with shallow fusion too (compiled, batched, ``lax.while_loop``) against a reference that runs the same jitted decoder step from a Python loop.

A batch of 16 utterances from the `sentences` corpus's test split (held-out voices), padded to the
experiment's 9 s. Prints the compile time (first call), the median time per batch, the real-time
factor (audio seconds decoded per second) and the ratios. Without ``--workdir`` the parameters
are random: every hypothesis then runs to its length limit (3 characters per 120 ms encoder
frame, at most 120), the worst case; with a trained run's ``--workdir`` the lengths are real.

    python benchmarks/asr_decode.py [--workdir runs/asr_attention] [--repeats 5] [--batch 16] [--lm F]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audiojax.data.pipeline import make_loader  # noqa: E402
from audiojax.tasks.asr.decode import make_decoder  # noqa: E402
from audiojax.models.seq2seq import Recognizer  # noqa: E402
from audiojax.tasks import get_task  # noqa: E402
from audiojax.tasks.asr.tokenizer import CharTokenizer  # noqa: E402
from audiojax.data.splits import open_split, prepare  # noqa: E402
from audiojax.config import load_config  # noqa: E402

EXPERIMENT = Path(__file__).resolve().parents[1] / "experiments" / "asr_attention.py"


def python_loop_greedy(model, variables, audio, lengths, max_steps: int):
    """The reference: the same encoder and decoder step, jitted, driven token by token from
    Python (one dispatch and one host sync per step), stopping when every row has ended."""
    encode = jax.jit(lambda v, a, n: model.apply(v, a, n, method=Recognizer.encode))
    step = jax.jit(lambda v, c, y, e: model.apply(v, c, y, e, method=Recognizer.decode_step))
    encoded = encode(variables, audio, lengths)
    carry = model.apply(variables, encoded, method=Recognizer.initial_state)
    limits = np.clip(np.ceil(3.0 * np.asarray(encoded.mask.sum(-1))), 1, max_steps)
    previous = jnp.full((audio.shape[0],), model.sos_id, jnp.int32)
    done = np.zeros(audio.shape[0], bool)
    tokens = []
    for t in range(max_steps):
        carry, logits = step(variables, carry, previous, encoded)
        token = np.asarray(logits.argmax(-1))
        token = np.where(t + 1 >= limits, CharTokenizer.eos_id, token)
        token = np.where(done, 0, token)
        done |= token == CharTokenizer.eos_id
        tokens.append(token)
        previous = jnp.asarray(token, jnp.int32)
        if done.all():
            break
    return np.stack(tokens, 1)


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first call incl. compilation, median of ``repeats`` later calls), seconds."""
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=None, help="a trained asr run (default: random weights)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--data", default="sentences/small", help="local corpus for the audio")
    parser.add_argument("--lm", default=None, help="a character n-gram model to time shallow "
                        "fusion with (default: WORKDIR/lm.npz where it exists)")
    args = parser.parse_args()
    lm = args.lm or (str(Path(args.workdir) / "lm.npz") if args.workdir
                     and (Path(args.workdir) / "lm.npz").is_file() else "")

    if args.workdir:
        from audiojax.runs import restore

        run = restore(args.workdir, "best")
        config, task, variables = run.config, run.task, run.variables
    else:
        config = load_config(str(EXPERIMENT), [f"data.source={args.data}"])
        task = get_task(config, list(CharTokenizer.vocabulary))
        variables = None
    prepare(config)
    loader = make_loader(open_split(config, "test"), sample_rate=config.data.sample_rate,
                         batch_size=args.batch, train=False, label_to_id=task.label_to_id,
                         max_length=int(round(config.data.max_seconds * config.data.sample_rate)))
    batch = next(iter(loader))
    audio, lengths = jnp.asarray(batch["audio"]), jnp.asarray(batch["length"])
    if variables is None:
        variables = jax.jit(task.init)(jax.random.PRNGKey(0), {
            "audio": audio, "length": lengths,
            "label": jnp.zeros((len(lengths), config.max_label_length), jnp.int32)})
    seconds = float(np.sum(batch["length"])) / config.data.sample_rate
    print(f"{platform.processor() or platform.machine()}, {jax.devices()[0].platform}, "
          f"jax {jax.__version__}; batch {args.batch}, {seconds:.1f} s of audio "
          f"(padded to {config.data.max_seconds} s each); "
          f"{'trained: ' + args.workdir if args.workdir else 'random weights (worst case)'}")
    max_steps = config.max_label_length
    results = {}
    decoders = [("greedy", 1, 0.0, 0.0), ("beam-4", 4, 0.0, 0.0),
                ("beam-4, joint CTC 0.3", 4, 0.3, 0.0)]
    if lm:
        decoders.append(("beam-4, joint CTC + LM 0.2", 4, 0.3, 0.2))
    for name, width, ctc_weight, lm_weight in decoders:
        decode = make_decoder(task.model, eos_id=CharTokenizer.eos_id, max_steps=max_steps,
                              beam_width=width, max_ratio=config.decode.max_ratio,
                              length_penalty=config.decode.length_penalty, ctc_weight=ctc_weight,
                              lm=lm, lm_weight=lm_weight)
        first, median = timed(lambda: decode(variables, audio, lengths), args.repeats)
        steps = int(np.asarray(decode(variables, audio, lengths).lengths).max())
        results[name] = median
        print(f"{name:>26}: compile+first {first:6.2f} s, {median:6.3f} s/batch, "
              f"{seconds / median:6.1f}x real time, {steps} steps")
    first, median = timed(lambda: python_loop_greedy(task.model, variables, audio, lengths,
                                                     max_steps), max(1, args.repeats // 2))
    results["loop"] = median
    print(f"{'greedy, Python loop (ref)':>26}: compile+first {first:6.2f} s, {median:6.3f} s/batch, "
          f"{seconds / median:6.1f}x real time")
    reference = python_loop_greedy(task.model, variables, audio, lengths, max_steps)
    compiled = np.asarray(make_decoder(task.model, eos_id=CharTokenizer.eos_id, max_steps=max_steps,
                                       max_ratio=config.decode.max_ratio)(variables, audio, lengths).tokens)
    print(f"same tokens from both greedy decoders: "
          f"{np.array_equal(compiled[:, :reference.shape[1]], reference)}")
    print(f"compiled greedy vs Python-loop greedy: {results['loop'] / results['greedy']:.2f}x faster; "
          f"beam-4 costs {results['beam-4'] / results['greedy']:.2f}x greedy, joint CTC scoring "
          f"{results['beam-4, joint CTC 0.3'] / results['beam-4']:.2f}x beam-4" +
          (f", n-gram fusion {results['beam-4, joint CTC + LM 0.2'] / results['beam-4, joint CTC 0.3']:.2f}x "
           f"joint" if lm else ""))


if __name__ == "__main__":
    main()
