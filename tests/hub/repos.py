"""The emulated hub's repos: every dataset of ``xstilts.hub_schemas`` at the registry's pinned
revision(s), holding the test rows of ``rows_*.py`` as Parquet in the published schema, plus a
tiny base-model repo. Layouts are the hub's own:

* a Parquet dataset: ``README.md`` (YAML ``configs`` with ``data_files`` and ``dataset_info``
  features) + ``<config>/<split>-00000-of-00001.parquet``, at each pinned commit, ``main`` = the
  first pin;
* a loading-script dataset (``HubSchema.loading_script``): ``<name>.py`` + README at the pinned
  commit(s), and its automatic export on ``refs/convert/parquet`` (at ``parquet_revision`` where
  the registry pins one): ``<config>/<split>/0000.parquet``, no README (as on the hub).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pkgutil
from collections.abc import Iterable

from datasets import Dataset, DatasetInfo, Features
from datasets.info import DatasetInfosDict
from datasets.utils import logging as hf_logging
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData

import tests.hub
from tests.hub.emulator import Repo
from xstilts.hub_schemas import SCHEMAS, HubSchema
from xstilts.schema_check import registry_sources as registry_pins

# every tests/hub/rows_*.py: the rows, loads and checks of one group of hub repos
ROW_MODULES = tuple(importlib.import_module(f"tests.hub.{m.name}")
                    for m in pkgutil.iter_modules(tests.hub.__path__)
                    if m.name.startswith("rows_"))


def merged(attr: str) -> dict:
    """ROWS / LOADS / CHECKS of every rows module, merged (ROWS deep by repo -> config)."""
    out: dict = {}
    for module in ROW_MODULES:
        for key, value in getattr(module, attr).items():
            if attr == "ROWS":
                for config, splits in value.items():
                    out.setdefault(key, {}).setdefault(config, {}).update(splits)
            elif attr == "CHECKS":  # a task's checks may come from several modules
                out.setdefault(key, []).extend(value)
            else:
                if key in out:
                    raise ValueError(f"{attr}[{key!r}] is written in two rows modules")
                out[key] = value
    return out


def fake_sha(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()


def _parquet(rows: list[dict], features: Features) -> bytes:
    """Parquet bytes with the `datasets` features in the file's schema metadata (as the hub's
    Parquet files carry them)."""
    buf = io.BytesIO()
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        data = Dataset.from_list(rows, features=features) if rows else \
            Dataset.from_dict({k: [] for k in features}, features=features)
        data.to_parquet(buf)
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
    return buf.getvalue()


def _readme(schema: HubSchema, served: Iterable[tuple[str, str, Features]]) -> bytes:
    card = DatasetCardData()
    configs, features = {}, {}
    for config, split, split_features in served:
        configs.setdefault(config, {"data_files": []})["data_files"].append(
            {"split": split, "path": f"{config}/{split}-*"})
        features[config] = split_features
    infos = {c: DatasetInfo(features=features[c], config_name=c) for c in configs}
    DatasetInfosDict(infos).to_dataset_card_data(card)
    MetadataConfigs(configs).to_dataset_card_data(card)
    return f"---\n{card.to_yaml()}\n---\n# {schema.repo} (hub emulator)\n".encode()


def dataset_repo(schema: HubSchema, rows: dict, pins: list[tuple[str | None, str | None]],
                 mutate=None) -> Repo:
    """The emulated repo of `schema` serving `rows` ({config: {split: [row]}}) at `pins`.
    `mutate(config, split, features, rows) -> (features, rows)` alters what is served (tests
    that prove a broken mapping is caught)."""
    served = []
    for config, splits in rows.items():
        if config not in schema.configs:
            raise ValueError(f"{schema.repo}: rows for config {config!r}, not in its schema")
        unknown = sorted(set(splits) - set(schema.configs[config].splits))
        if unknown:
            raise ValueError(f"{schema.repo} {config}: rows for split(s) {unknown}, published "
                             f"splits are {schema.configs[config].splits}")
        for split in schema.configs[config].splits:  # every published split (empty: no rows)
            split_rows = splits.get(split, [])
            features = schema.configs[config].features
            if mutate is not None:
                features, split_rows = mutate(config, split, features, split_rows)
            served.append((config, split, features, _parquet(split_rows, features)))
    repo = Repo(schema.repo, "dataset")
    name = schema.repo.split("/")[-1]
    for i, (revision, parquet_revision) in enumerate(pins):
        sha = revision or fake_sha(schema.repo, "main")
        refs = ("main",) if i == 0 else ()
        if schema.loading_script:
            repo.add_commit(sha, {f"{name}.py": b"# a datasets loading script\n",
                                  "README.md": f"# {schema.repo}\n".encode()}, *refs)
            export = {f"{c}/{s}/0000.parquet": data for c, s, _, data in served}
            repo.add_commit(parquet_revision or fake_sha(schema.repo, "parquet"), export,
                            *(("refs/convert/parquet",) if i == 0 else ()))
        else:
            files = {f"{c}/{s}-00000-of-00001.parquet": data for c, s, _, data in served}
            files["README.md"] = _readme(schema, [(c, s, f) for c, s, f, _ in served])
            repo.add_commit(sha, files, *refs)
    return repo


def all_dataset_repos(mutations: dict | None = None) -> list[Repo]:
    """Every schema'd repo with its rows at the registry's pins; `mutations`: repo -> mutate."""
    rows, pins = merged("ROWS"), registry_pins()
    missing = sorted(set(rows) - set(SCHEMAS))
    if missing:
        raise ValueError(f"rows for repos without a schema: {missing}")
    return [dataset_repo(SCHEMAS[repo], rows.get(repo, {}), pins.get(repo, [(None, None)]),
                         (mutations or {}).get(repo))
            for repo in SCHEMAS]
