"""The published schema of every Hugging Face hub dataset the task registry reads, in one place.

Each entry is what the hub serves for a dataset repo at the registry's pinned revision: its
configs, the split names of each config, and the column types (``datasets.Features``: column
names, nested types, ClassLabel names in their published order). ``source`` names the public
file each schema was taken from. The loaders (``xstilts.tasks.xtreme`` / ``xtreme_r``) map these
columns and label names to the canonical task schemas; the hub emulator of the test suite
(``tests/hub``) serves exactly these schemas, so a loader that reads a wrong column, split,
config or label order fails there. ``xstilts pin --schemas`` on a hub-connected machine compares
each repo's real features with these and fails on a difference (how to refresh them:
docs/operations.md).

``loading_script``: the repo's default branch is a loading script (refused by ``datasets`` >= 4);
the data is read from its automatic Parquet export (branch ``refs/convert/parquet``, one folder
per config, one sub-folder per split).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from datasets import ClassLabel, Features, List, Sequence, Value  # noqa: F401


@dataclass(frozen=True)
class HubConfig:
    """One config of a hub dataset: its split names and its column types."""

    splits: tuple[str, ...]
    features: Features


@dataclass(frozen=True)
class HubSchema:
    """A hub dataset repo as published: configs (name -> HubConfig) and where that was read."""

    repo: str
    source: str
    configs: Mapping[str, HubConfig]
    loading_script: bool = False


SCHEMAS: dict[str, HubSchema] = {}


def _add(schema: HubSchema) -> None:
    if schema.repo in SCHEMAS:
        raise ValueError(f"hub schema {schema.repo!r} written twice")
    SCHEMAS[schema.repo] = schema


def schema_of(repo: str) -> HubSchema:
    """The published schema of hub dataset `repo`; a clear error names the known repos."""
    try:
        return SCHEMAS[repo]
    except KeyError:
        raise KeyError(f"no hub schema for {repo!r}; known: {sorted(SCHEMAS)}") from None


# --------------------------------------------------------------------------- schemas
# (one _add(HubSchema(...)) per repo; configs that share columns share one Features object)
