"""The one trainer: state, optimizer, step, data parallelism, checkpoints, the loop."""
