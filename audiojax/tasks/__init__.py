"""Tasks: what turns a batch into a loss and evaluation metrics; the trainer knows only this.

A task has ``model``, ``label_to_id`` (how the loader turns a record's label into arrays: a
dict of class ids, or a picklable callable such as a tokenizer), ``init(rng, batch)``, ``loss(params, batch_stats, batch, rng, axis_name)``,
``eval_step(variables, batch, axis_name)`` returning sums over the batch, and
``summarize(sums)`` turning accumulated sums into metrics; for ``audiojax evaluate`` also
``check_source(source, where)`` (refuse data the model cannot score), ``headline(metrics)``
(one line) and ``write_plots(output_json_path, metrics, title)`` (returns the files written).
Optional: ``fixed_labels(config)`` (a static method: labels that do not come from the corpus,
e.g. a character vocabulary) and ``combine(sums, out)`` (how evaluation accumulates
``eval_step`` outputs that are not sums, e.g. decoded text; default: added) and
``per_group(sums, groups)`` (metrics per group of the evaluated rows, named in order: per
speaker, per recording condition).
"""

from __future__ import annotations


def task_class(name: str) -> type:
    """The class of task ``name`` (``config.task``)."""
    if name == "classification":
        from audiojax.tasks.classification import Classification

        return Classification
    if name == "asr":
        from audiojax.tasks.asr import SpeechRecognition

        return SpeechRecognition
    if name == "generation":
        from audiojax.tasks.generation import Generation

        return Generation
    raise ValueError(f"config.task: unknown {name!r}; known: classification, asr, generation")


def get_task(config, labels):
    """The task named by ``config.task``, for a corpus with these ``labels``."""
    return task_class(config.task)(config, labels)
