"""The training and evaluation core: what every training and evaluation stage runs (and
only that: a DVC training stage depends on `src/xstilts/core` and `src/xstilts/tasks`)."""
