"""The families of cells, each a declaration of what differs from the main grid (the code that
trains and evaluates them is `xstilts.core.cell`):

- `main`: intermediate tasks of `intermediate.tasks` from `models/base`, every target.
- `volume` (study 1): the intermediate task trained on a nested subset of its English train
  split (`nested_subset`); outputs under models/volume, metrics/volume.
- `multilingual` (study 2): a variant's intermediate task trained on its train splits in
  several languages (`multilingual_train_set`), selected on English dev.
- `scaling` (study 3): the main grid's cells on another base model (`studies.scaling.specs`);
  outputs under models/scaling/<model>.

`resolve(p, kind, args)` turns a stage (e.g. `volume_target`, args `[itask, fraction, target,
seed]`) into (family, intermediate, target), checking each argument against params.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from xstilts.core.params import BASELINE, Params
from xstilts.core.paths import BASE, DATA, MAIN, scaling_model_file, study_layout

# ---------------------------------------------------------------- declarations


def main(p: Params):
    from xstilts.core.cell import Family

    return Family("main", p, BASE, MAIN)


def main_cell(p: Params, itask: str, seed: int):
    from xstilts.core.cell import Intermediate

    trained = itask != BASELINE
    return Intermediate(itask, itask, itask, seed, (itask,),
                        hparams=p.intermediate_hparams(itask) if trained else None,
                        mixture=p.mixture(itask) if trained else None)


def volume(p: Params):
    from xstilts.core.cell import Family

    return Family("volume", p, BASE, study_layout("volume"), "volume_", label="volume ",
                  tags={"study": "volume"})


def nested_subset(n: int, fraction: float, seed: int) -> list[int]:
    """Sorted indices of the first max(1, round(fraction n)) positions of one seeded
    permutation of range(n): nested across fractions, deterministic in (n, seed)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if n < 1:
        raise ValueError("cannot subset an empty split")
    perm = np.random.default_rng(np.random.SeedSequence([seed, n])).permutation(n)
    k = max(1, int(round(fraction * n)))
    return sorted(int(i) for i in perm[:k])


def volume_cell(p: Params, itask: str, frac: str, seed: int):
    """Intermediate task `itask` on fraction `frac` (as DVC renders it: it names the folder)
    of its English train split."""
    from xstilts.core.cell import Intermediate

    fraction, subset_seed = float(frac), p.studies.volume.subset_seed
    layout = study_layout("volume")
    key = f"{itask}/frac{frac}"

    def train_set():
        from xstilts.core.data import load_split

        ds = load_split(DATA, itask, "en", "train", "train")
        n = len(ds)
        ds = ds.select(nested_subset(n, fraction, subset_seed))
        return ds, {"train_examples_full": n}

    def record() -> dict:  # the size the analysis plots against, from the intermediate's file
        dev = layout.dev_file("intermediate", key, seed)
        return {"fraction": fraction,
                "train_examples": json.loads(dev.read_text())["train_examples"]}

    return Intermediate(itask, key, itask, seed, (itask, frac),
                        hparams=p.intermediate_hparams(itask), train_set=train_set,
                        title=f"{itask} f={frac}", tags={"fraction": frac},
                        info={"fraction": fraction, "subset_seed": subset_seed},
                        record=record)


def multilingual(p: Params):
    from xstilts.core.cell import Family

    return Family("multilingual", p, BASE, study_layout("multilingual"), "multilingual_",
                  label="multilingual ", tags={"study": "multilingual"})


def capped_subset(n: int, cap: int | None, seed: int, lang: str) -> list[int]:
    """Sorted indices of at most `cap` of n rows: the first `cap` of one permutation seeded by
    (seed, n, language); all rows when `cap` is None or >= n."""
    if cap is None or cap >= n:
        return list(range(n))
    from xstilts.core.stats import derive_rng

    perm = derive_rng(seed, "multilingual", lang, str(n)).permutation(n)
    return sorted(int(i) for i in perm[:cap])


def multilingual_train_set(p: Params, variant: str, data_root=DATA):
    """The pooled train set of `variant` and its examples per language. English is read with
    purpose "train", other languages with "multilingual_train" (train splits only)."""
    from datasets import concatenate_datasets

    from xstilts.core.data import TRAIN_LANG, load_split

    m = p.studies.multilingual
    v = m.variants[variant]
    parts, counts = [], {}
    for lang in v.languages:
        purpose = "train" if lang == TRAIN_LANG else "multilingual_train"
        ds = load_split(data_root, v.task, lang, "train", purpose)
        keep = capped_subset(len(ds), v.cap, m.subset_seed, lang)
        if len(keep) < len(ds):
            ds = ds.select(keep)
        parts.append(ds)
        counts[lang] = len(ds)
    return (parts[0] if len(parts) == 1 else concatenate_datasets(parts)), counts


def multilingual_cell(p: Params, variant: str, seed: int):
    from xstilts.core.cell import Intermediate

    m = p.studies.multilingual
    v = m.variants[variant]

    def train_set():
        ds, counts = multilingual_train_set(p, variant)
        return ds, {"train_examples_per_language": counts}

    def record() -> dict:
        return {"variant": variant, "intermediate_task": v.task,
                "intermediate_languages": list(v.languages)}

    return Intermediate(variant, variant, v.task, seed, (variant,),
                        hparams=p.multilingual_hparams(v.task), train_set=train_set,
                        data_langs=tuple(v.languages),
                        tags={"variant": variant, "languages": ",".join(v.languages)},
                        info={"variant": variant, "languages": list(v.languages),
                              "cap": v.cap, "subset_seed": m.subset_seed},
                        record=record)


def scaling_params(p: Params, m: str) -> Params:
    """`p` with `model` replaced by the spec of scaling model `m` (pooling, loading, trim)."""
    spec = p.studies.scaling.specs.get(m)
    if spec is None:
        raise KeyError(f"unknown scaling model {m!r}; specs: {sorted(p.studies.scaling.specs)}")
    return p.model_copy(update={"model": spec})


def scaling(p: Params, m: str):
    from xstilts.core.cell import Family

    layout = study_layout("scaling", m)
    return Family("scaling", scaling_params(p, m), layout.models / "base", layout, "scaling_",
                  stage_head=(m,), label=f"scaling {m} ", tags={"study": "scaling", "model": m},
                  info={"model": m})


def scaling_cell(p: Params, m: str, itask: str, seed: int):
    cell = main_cell(scaling_params(p, m), itask, seed)

    def record() -> dict:
        info = json.loads(scaling_model_file(m).read_text())
        return {"model": m, "family": info["family"],
                "params_non_embedding": info["params_non_embedding"]}

    from dataclasses import replace

    return replace(cell, record=record)


# ---------------------------------------------------------------- stage arguments


@dataclass(frozen=True)
class StageKind:
    """A stage family of dvc.yaml run by `pipeline/cell.py`: its arguments (name, allowed
    values, what they are) and how they make a family and an intermediate checkpoint."""

    family: str
    phase: str  # intermediate | target (training, then evaluation) | retrieve
    args: tuple[str, ...]


KINDS = {
    "intermediate": StageKind("main", "intermediate", ("itask", "seed")),
    "target": StageKind("main", "target", ("itask", "target", "seed")),
    "retrieve": StageKind("main", "retrieve", ("itask", "retrieval", "seed")),
    "volume_intermediate": StageKind("volume", "intermediate", ("vitask", "fraction", "seed")),
    "volume_target": StageKind("volume", "target", ("vitask", "fraction", "vtarget", "seed")),
    "multilingual_intermediate": StageKind("multilingual", "intermediate", ("variant", "seed")),
    "multilingual_target": StageKind("multilingual", "target", ("variant", "mtarget", "seed")),
    "scaling_intermediate": StageKind("scaling", "intermediate", ("model", "sitask", "seed")),
    "scaling_target": StageKind("scaling", "target", ("model", "sitask", "starget", "seed")),
}


def _allowed(p: Params, arg: str) -> tuple[list, str]:
    s = p.studies
    return {
        "itask": (p.intermediate.tasks, "intermediate task"),
        "target": (p.target.tasks, "target task"),
        "retrieval": (p.evaluate.retrieval_tasks, "retrieval task"),
        "seed": (p.seeds, "seed"),
        "vitask": (s.volume.itasks, "volume intermediate task"),
        "fraction": (s.volume.fractions, "fraction"),
        "vtarget": (s.volume.targets, "volume target task"),
        "variant": (list(s.multilingual.variants), "multilingual variant"),
        "mtarget": (s.multilingual.targets, "multilingual target task"),
        "model": (s.scaling.models, "scaling model"),
        "sitask": (s.scaling.itasks, "scaling intermediate task"),
        "starget": (s.scaling.targets, "scaling target task"),
    }[arg]


def check_args(p: Params, kind: str, args: list[str]) -> None:
    """Each argument of stage `kind` against params.yaml (exit 2 naming it and the choices)."""
    from xstilts.core.stage import choice

    for name, value in zip(KINDS[kind].args, args, strict=True):
        allowed, what = _allowed(p, name)
        choice(str(float(value)) if name == "fraction" else value, allowed, what)


def resolve(p: Params, kind: str, args: list[str]):
    """(family, intermediate, target or None) of stage `kind` with arguments `args`."""
    k = KINDS[kind]
    named = dict(zip(k.args, args, strict=True))
    seed = int(named["seed"])
    target = named.get("target") or named.get("retrieval") or named.get("vtarget") \
        or named.get("mtarget") or named.get("starget")
    if k.family == "main":
        return main(p), main_cell(p, named["itask"], seed), target
    if k.family == "volume":
        return volume(p), volume_cell(p, named["vitask"], named["fraction"], seed), target
    if k.family == "multilingual":
        return multilingual(p), multilingual_cell(p, named["variant"], seed), target
    m = named["model"]
    return scaling(p, m), scaling_cell(p, m, named["sitask"], seed), target


def run_stage(p: Params, kind: str, *args):
    """Run stage `kind@<args>` (the entry of `pipeline/cell.py`), e.g.
    `run_stage(p, "volume_target", "xnli", "0.5", "paws_x", 0)`: a target stage fine-tunes the
    cell and then evaluates it on every language (its return value: the `EvalRecord`)."""
    from xstilts.core import cell

    fam, inter, target = resolve(p, kind, [str(a) for a in args])
    phase = KINDS[kind].phase
    if phase == "intermediate":
        return cell.run_intermediate(fam, inter)
    if phase == "target":  # one stage: a boundary before evaluation would buy nothing
        return cell.run_target_and_evaluate(fam, inter, target)
    return cell.run_retrieval(fam, inter, target)

