"""Tasks: what turns a batch into a loss and evaluation metrics; the trainer knows only this.

A task has ``model``, ``label_to_id`` (how the loader turns a record's label into arrays: a
dict of class ids, or a picklable callable such as a tokenizer), ``init(rng, batch)``, ``loss(params, batch_stats, batch, rng, axis_name)``,
``eval_step(variables, batch, axis_name)`` returning sums over the batch, and
``summarize(sums)`` turning accumulated sums into metrics; for ``audiojax evaluate`` also
``check_source(source, where)`` (refuse data the model cannot score), ``headline(metrics)``
(one line) and ``write_plots(output_json_path, metrics, title)`` (returns the files written).
"""

from __future__ import annotations


def get_task(config, labels):
    """The task named by ``config.task``, for a corpus with these ``labels``."""
    if config.task == "classification":
        from audiojax.tasks.classification import Classification

        return Classification(config, labels)
    if config.task == "generation":
        from audiojax.tasks.generation import Generation

        return Generation(config, labels)
    raise ValueError(f"config.task: unknown {config.task!r}; known: classification, generation")
