"""`xstilts hub-schemas`: compare each hub repo's real schema with ``xstilts.hub_schemas``.

On a hub-connected machine, for every repo the registry reads (or those named with
``--repos``), at every revision the registry pins it to, the hub's published features and split
names of each config we list are read through ``datasets`` (the card's ``dataset_info`` where
there is one, else the first Parquet file's schema; loading-script repos: their Parquet
export) and printed next to ours. Any difference (a column, a type, a ClassLabel order, a split
name, a config that is gone) is listed and the command exits 1: update ``hub_schemas.py`` (its
``source`` says where each schema was read) and the loader that reads it, then rerun the hub
emulator tests (``pytest tests/hub``). Reads metadata and at most one example per split.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass


@dataclass
class Difference:
    repo: str
    revision: str | None
    config: str
    what: str

    def __str__(self) -> str:
        return f"{self.repo}@{self.revision or 'main'} {self.config}: {self.what}"


def registry_sources() -> dict[str, list[tuple[str | None, str | None]]]:
    """repo -> [(revision, parquet_revision)] of every hub source the task registry reads
    (each task's own repo and the SQuAD / COPA training repos of the QA targets and XCOPA)."""
    from xstilts.tasks import core, xtreme

    sources = [t.hub for t in core.REGISTRY.values() if t.hub is not None]
    sources += [xtreme.SQUAD_HUB, xtreme.COPA_HUB]
    pins: dict[str, list] = {}
    for src in sources:
        pair = (src.revision, src.parquet_revision)
        if pair not in pins.setdefault(src.path, []):
            pins[src.path].append(pair)
    return pins


def published(repo: str, config: str, revision: str | None, parquet_revision: str | None,
              script: bool):
    """(features, split names) the hub publishes for `config` of `repo` at `revision`."""
    import datasets

    from xstilts.tasks.xtreme import PARQUET_EXPORT

    if script:
        builder = datasets.load_dataset_builder(
            repo, data_dir=None if config == "default" else config,
            revision=parquet_revision or PARQUET_EXPORT)
    else:
        builder = datasets.load_dataset_builder(repo, None if config == "default" else config,
                                                revision=revision)
    splits = sorted(str(s) for s in builder.config.data_files or {})
    features = builder.info.features
    if features is None and splits:  # no dataset_info in the card: the Parquet schema
        kwargs = ({"data_dir": builder.config.data_dir,
                   "revision": parquet_revision or PARQUET_EXPORT} if script
                  else {"name": None if config == "default" else config, "revision": revision})
        stream = datasets.load_dataset(repo, split=splits[0], streaming=True, **kwargs)
        features = stream.features or stream._resolve_features().features
    return features, splits


def compare(repos: list[str] | None = None, out=sys.stdout) -> list[Difference]:
    """Our schema vs the hub's for `repos` (default: every repo the registry reads)."""
    from xstilts.hub_schemas import SCHEMAS, schema_of

    pins = registry_sources()
    names = repos or sorted(pins)
    differences: list[Difference] = []
    for repo in names:
        schema = schema_of(repo)
        for revision, parquet_revision in pins.get(repo, [(None, None)]):
            for config, ours in schema.configs.items():
                try:
                    theirs, splits = published(repo, config, revision, parquet_revision,
                                               schema.loading_script)
                except Exception as e:  # the repo, revision or config is gone: a difference
                    differences.append(Difference(repo, revision, config,
                                                  f"cannot be read: {type(e).__name__}: {e}"))
                    continue
                print(f"{repo}@{revision or 'main'} {config}\n  ours:   {dict(ours.features)}"
                      f"  splits {list(ours.splits)}\n  theirs: "
                      f"{dict(theirs) if theirs is not None else None}  splits {splits}",
                      file=out)
                if theirs is None or dict(theirs) != dict(ours.features):
                    differences.append(Difference(repo, revision, config, _feature_diff(
                        ours.features, theirs)))
                if sorted(ours.splits) != splits:
                    differences.append(Difference(
                        repo, revision, config,
                        f"splits: ours {sorted(ours.splits)}, hub {splits}"))
    unknown = sorted(set(names) - set(SCHEMAS))
    for repo in unknown:
        differences.append(Difference(repo, None, "-", "no schema in xstilts.hub_schemas"))
    return differences


def _feature_diff(ours, theirs) -> str:
    if theirs is None:
        return "the hub gives no features"
    parts = []
    for col in sorted(set(ours) | set(theirs)):
        a, b = ours.get(col), theirs.get(col)
        if a != b:
            parts.append(f"column {col!r}: ours {a!r}, hub {b!r}")
    return "; ".join(parts) or "column order differs"


def add_parser(sub) -> None:
    """The `xstilts hub-schemas` subcommand (called by xstilts.cli)."""
    t = sub.add_parser("hub-schemas", help="compare the hub's dataset schemas with ours",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--repos", default=None, metavar="A,B",
                   help="only these hub dataset ids (comma-separated)")
    t.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    repos = [r.strip() for r in args.repos.split(",") if r.strip()] if args.repos else None
    try:
        differences = compare(repos)
    except KeyError as e:
        print(f"[hub-schemas] error: {e.args[0]}", file=sys.stderr)
        return 2
    if differences:
        print("[hub-schemas] the hub differs from xstilts.hub_schemas:\n  " +
              "\n  ".join(map(str, differences)), file=sys.stderr)
        return 1
    print("[hub-schemas] every schema matches the hub")
    return 0
