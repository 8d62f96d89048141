"""The XTREME / XTREME-R target tasks and the X-STILTs intermediate tasks, from the Hugging Face
hub or from the official release files.

Every task has a hub loader and a local loader, both returning ``{(lang, split): records}`` in the
canonical schema of the task type. Conventions (those of the pipeline, see ``xstilts.core.cell``):

* English has ``train`` and ``dev`` (training, model selection) for trained tasks; every language
  evaluated zero-shot has ``test``. English is always loaded, even when ``languages`` omits it.
* Split names follow XTREME where it renames the official ones: TyDi QA GoldP's dev set is the
  ``test`` split (XTREME evaluates on it); BUCC's "sample" is ``dev`` and "training" is ``test``
  (the official BUCC test gold is not public).
* QA target tasks (xquad, mlqa, tydiqa) train on SQuAD v1.1 as XTREME does: their English
  ``train``/``dev`` are SQuAD's train/dev; xnli's English ``train`` is MNLI (XNLI's own English
  training set); xcopa's English ``train``/``dev`` are COPA (SuperGLUE) train/val.
* Local loaders take ``root`` = the folder of the task's unpacked official release; every task
  documents the layout it accepts (``LAYOUT`` below; sibling folders such as ``../squad`` are
  tried for the SQuAD / MNLI / COPA training files). A missing file skips that split with a
  warning; a requested language without any file is an error (FileNotFoundError).
* Hub labels are mapped by *name* (ClassLabel names -> ``Task.labels``), columns by name.
  Every hub repo is pinned to a commit (``HubSource.revision``) except those in
  ``UNPINNED_HUB_REPOS`` (UD, no public pin found; logged as "unpinned" at load time). The shas
  are the ones public code pins for the same repo ids -- MTEB (xnli, xquad, mlqa, tatoeba),
  lighteval and HELM (mlqa), otherwise several independent public repos agreeing (for squad_v2,
  hellaswag and commonsense_qa some quote inspect_evals' pin); provenance is commented at each
  pin. tydiqa's rests on one file (low confidence); mewslix's is not confirmed by any public
  code. None could be verified from the offline machine they were written on: ``xstilts pin``
  on a hub-connected machine asks the hub about the registry pin of each ``source: hub`` task's
  own repo (an unknown sha fails) and writes the resolved commit to params.yaml; it does not
  check the SQuAD / COPA helper repos or ``parquet_revision``. ``tasks.<name>.revision`` in
  params.yaml overrides the pin of the task's own hub repo (``Task.hub``); the SQuAD / COPA
  training repos of the QA targets and XCOPA keep their registry value.
  Datasets that are still a loading script on the hub (unsupported by ``datasets`` >= 4) are read
  from their automatic Parquet export (``refs/convert/parquet``, config = folder), at
  ``HubSource.parquet_revision`` where known (cosmos_qa, social_i_qa), else that branch's latest
  commit (unpinned: mlqa, UD, possibly tydiqa).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets as hf_datasets
from datasets.exceptions import DatasetNotFoundError

from xstilts.tasks import readers as rd
from xstilts.tasks.core import HubSource, Records, SplitData, Task, TaskType, register

log = logging.getLogger(__name__)

PARQUET_EXPORT = "refs/convert/parquet"

# --------------------------------------------------------------------------- languages

XNLI_LANGUAGES = ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur",
                  "vi", "zh")  # fmt: skip
PAWSX_LANGUAGES = ("en", "de", "es", "fr", "ja", "ko", "zh")
XQUAD_LANGUAGES = ("en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi")
MLQA_LANGUAGES = ("en", "ar", "de", "es", "hi", "vi", "zh")
TYDIQA_LANGUAGES = ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te")
TYDIQA_NAMES = {iso: name for name, iso in rd.TYDIQA_LANGUAGES.items()}
PANX_LANGUAGES = (
    "en", "ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te", "af", "nl", "de", "el",
    "bn", "hi", "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw",
    "yo", "my", "zh", "kk", "tr", "et", "fi", "hu",
)  # fmt: skip  (XTREME's 40; XTREME-R adds the ones below)
PANX_XTREME_R_EXTRA = ("qu", "pl", "uk", "az", "lt", "pa", "gu", "ro")
XCOPA_LANGUAGES = ("en", "et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
BUCC_LANGUAGES = ("de", "fr", "ru", "zh")

# Tatoeba: XTREME's 36 languages (ISO 639-1 -> the LASER file code, ISO 639-3 or macrolanguage
# member as in XTREME's utils_preprocess.tatoeba_preprocess).
TATOEBA_ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa",
    "et": "est", "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin",
    "hu": "hun", "id": "ind", "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz",
    "ko": "kor", "ml": "mal", "mr": "mar", "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh",
    "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl", "tr": "tur", "ur": "urd", "vi": "vie",
    "zh": "cmn",
}  # fmt: skip
TATOEBA_LANGUAGES = tuple(TATOEBA_ISO3)
# XTREME-R evaluates Tatoeba on 5 more languages (scripts/run_tatoeba.sh): task tatoeba_r
# (xstilts.tasks.xtreme_r) has the 41; tatoeba keeps XTREME's 36.
TATOEBA_XTREME_R_ISO3 = {"az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr", "ro": "ron"}

# UD-POS: every treebank of the language is concatenated per split, as XTREME's download script
# does (it walks all UD_* folders of a language). Pinned to UD v2.7 (XTREME's current download,
# and the version of the hub's universal_dependencies configs). Treebanks distributed without
# word forms (ar_nyuad, en_esl, en_gumreddit, fr_ftb, ja_bccwj) are left out: XTREME's
# udpos_preprocess drops all their sentences anyway ("all forms are _").
UDPOS_TREEBANKS: dict[str, tuple[str, ...]] = {
    "en": ("en_ewt", "en_gum", "en_lines", "en_partut", "en_pronouns", "en_pud"),
    "af": ("af_afribooms",),
    "ar": ("ar_padt", "ar_pud"),
    "bg": ("bg_btb",),
    "de": ("de_gsd", "de_hdt", "de_lit", "de_pud"),
    "el": ("el_gdt",),
    "es": ("es_ancora", "es_gsd", "es_pud"),
    "et": ("et_edt", "et_ewt"),
    "eu": ("eu_bdt",),
    "fa": ("fa_perdt", "fa_seraji"),
    "fi": ("fi_ftb", "fi_ood", "fi_pud", "fi_tdt"),
    "fr": ("fr_fqb", "fr_gsd", "fr_partut", "fr_pud", "fr_sequoia", "fr_spoken"),
    "he": ("he_htb",),
    "hi": ("hi_hdtb", "hi_pud"),
    "hu": ("hu_szeged",),
    "id": ("id_csui", "id_gsd", "id_pud"),
    "it": ("it_isdt", "it_partut", "it_postwita", "it_pud", "it_twittiro", "it_vit"),
    "ja": ("ja_gsd", "ja_modern", "ja_pud"),
    "kk": ("kk_ktb",),
    "ko": ("ko_gsd", "ko_kaist", "ko_pud"),
    "mr": ("mr_ufal",),
    "nl": ("nl_alpino", "nl_lassysmall"),
    "pt": ("pt_bosque", "pt_gsd", "pt_pud"),
    "ru": ("ru_gsd", "ru_pud", "ru_syntagrus", "ru_taiga"),
    "ta": ("ta_mwtt", "ta_ttb"),
    "te": ("te_mtg",),
    "th": ("th_pud",),
    "tl": ("tl_trg", "tl_ugnayan"),
    "tr": ("tr_boun", "tr_gb", "tr_imst", "tr_pud"),
    "ur": ("ur_udtb",),
    "vi": ("vi_vtb",),
    "yo": ("yo_ytb",),
    "zh": ("zh_cfl", "zh_gsd", "zh_gsdsimp", "zh_hk", "zh_pud"),
    # XTREME-R additions (not in the registered language list)
    "lt": ("lt_alksnis", "lt_hse"),
    "pl": ("pl_lfg", "pl_pdb", "pl_pud"),
    "uk": ("uk_iu",),
    "wo": ("wo_wtb",),
    "ro": ("ro_nonstandard", "ro_rrt", "ro_simonero"),
}
UDPOS_LANGUAGES = (
    "en", "af", "ar", "bg", "de", "el", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id",
    "it", "ja", "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo",
    "zh",
)  # fmt: skip  (XTREME's 33)
UDPOS_TEST_ONLY = ("kk", "th", "tl", "yo")  # no dev file in any of their UD v2.7 treebanks

# --------------------------------------------------------------------------- hub sources
# Revisions are the commits public projects pin for these exact repo ids (provenance next to
# each: the project and file, or "pinned identically by N public repos" for unnamed research
# code found by a code search). They could not be checked against the hub from the offline
# machine they were written on: `xstilts pin --dry-run` on a hub-connected machine asks the hub
# for each task's registry pin (an unknown sha fails with "revision ... not found").
# Repos left unpinned on purpose: UNPINNED_HUB_REPOS.

GLUE_HUB = "nyu-mll/glue"
# pinned identically by 4+ public repos (one sha per repo: mnli, qqp and sst2 alike)
GLUE_REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"
SQUAD_HUB = HubSource("rajpurkar/squad", "plain_text",
                      revision="7b6d24c440a36b6815f21b70d25016731768db1f")  # 5 public repos
COPA_HUB = HubSource("aps/super_glue", "copa",  # XCOPA's English train/val
                     revision="3de24cf8022e94f4ee4b9d55a6f539891524d646")  # 4+ public repos
# The revision MTEB recorded in its published results (model-card MTEB metadata); current MTEB
# code (mteb/tasks/BitextMining/multilingual/TatoebaBitextMining.py) pins the newer 69e8f12d.
TATOEBA_HUB = HubSource("mteb/tatoeba-bitext-mining",
                        revision="9080400076fbadbb4c4dcb136ff4eddc40b42553")
# Hub repos deliberately left unpinned (no public pin found); tests/tasks/test_task_suite.py
# fails for any other hub source without a 40-hex revision.
UNPINNED_HUB_REPOS = frozenset({"universal-dependencies/universal_dependencies"})


_UNPINNED_WARNED: set[str] = set()


class HubSourceError(RuntimeError):
    """A hub source that cannot be read as pinned (unknown repo or revision, a loading script
    without a Parquet export); raised before any row is read, naming the repo and the fix."""


_SCRIPT_REPOS: dict[tuple[str, str | None], bool] = {}


def is_loading_script(src: HubSource) -> bool:
    """Whether `src` at its revision is a loading script (``<name>.py`` at the repo's top, the
    file ``datasets`` looks for), asked of the hub once per (repo, revision) in a process;
    offline (HF_HUB_OFFLINE): whether that script is in the local hub cache.

    Asked up front because ``datasets`` >= 4 refuses a script only on a repo it has never
    cached: once the Parquet export of the same repo is in the cache, ``load_dataset`` at the
    script revision falls back to that cache and fails later with "Couldn't find cache"."""
    key = (src.path, src.revision)
    if key not in _SCRIPT_REPOS:
        from huggingface_hub import HfApi, constants, try_to_load_from_cache
        from huggingface_hub.errors import (
            GatedRepoError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        script = f"{src.path.split('/')[-1]}.py"
        if constants.HF_HUB_OFFLINE:
            cached = try_to_load_from_cache(src.path, script, revision=src.revision,
                                            repo_type="dataset")
            return isinstance(cached, str)
        try:
            info = HfApi().dataset_info(src.path, revision=src.revision)
        except RevisionNotFoundError:
            raise HubSourceError(
                f"hub dataset {src.path} has no revision {src.revision!r} (the pin in the task "
                f"registry or tasks.<name>.revision in params.yaml): set tasks.<name>.revision "
                f"to a commit of the repo, or run `xstilts pin --update` on a hub-connected "
                f"machine") from None
        except GatedRepoError:
            raise HubSourceError(
                f"hub dataset {src.path} is gated: accept its terms on "
                f"https://huggingface.co/datasets/{src.path} and log in (`hf auth login`)"
            ) from None
        except RepositoryNotFoundError:
            raise HubSourceError(
                f"hub dataset {src.path} does not exist or is not accessible (private: log in "
                f"with `hf auth login`; renamed: use the new id, or tasks.<name>.source: local)"
            ) from None
        _SCRIPT_REPOS[key] = script in {s.rfilename for s in info.siblings or ()}
    return _SCRIPT_REPOS[key]


def hub_load(src: HubSource, split: str, config: str | None = None) -> Any:
    """``datasets.load_dataset(path, config, revision=..., split=...)``; a repo that is still a
    loading script (`is_loading_script`) is read from its Parquet export instead (config ->
    data_dir), at ``src.parquet_revision`` when set, else the export branch's latest commit
    (PARQUET_EXPORT). An unpinned source (``revision=None``) is logged once per repo as a
    warning ("unpinned"). An unknown repo or revision, or a script without a Parquet export,
    raises HubSourceError naming the repo and what to do."""
    config = config if config is not None else src.config
    if src.revision is None and src.path not in _UNPINNED_WARNED:
        _UNPINNED_WARNED.add(src.path)
        log.warning("hub dataset %s is unpinned (revision=None: the latest commit is read); pin "
                    "it with tasks.<name>.revision in params.yaml for a reproducible run",
                    src.path)
    if not is_loading_script(src):
        return hf_datasets.load_dataset(src.path, config, revision=src.revision, split=split)
    export = src.parquet_revision or PARQUET_EXPORT
    if src.parquet_revision is None:
        log.warning("%s is a loading script; reading its Parquet export (%s, unpinned)",
                    src.path, PARQUET_EXPORT)
    else:
        log.info("%s is a loading script; reading its Parquet export (%s @ %s)", src.path,
                 PARQUET_EXPORT, src.parquet_revision)
    try:
        return hf_datasets.load_dataset(src.path, data_dir=config or "default", revision=export,
                                        split=split)
    except DatasetNotFoundError as e:
        raise HubSourceError(
            f"hub dataset {src.path}@{src.revision} is a loading script, which datasets >= 4 "
            f"cannot run, and its Parquet export ({export}) cannot be read ({e}): download the "
            f"official release and use tasks.<name>.source: local with its path "
            f"(docs/tasks.md lists the layout each task reads)") from None


def _class_names(ds: Any, column: str) -> list[str] | None:
    feature = ds.features[column]
    inner = getattr(feature, "feature", feature)  # Sequence/List(ClassLabel) or ClassLabel
    return list(inner.names) if isinstance(inner, hf_datasets.ClassLabel) else None


def _hub_label(value: Any, names: list[str] | None, labels: Sequence[str],
               aliases: Mapping[str, str], where: str) -> int:
    name = names[value] if names is not None and isinstance(value, int) and value >= 0 else value
    name = aliases.get(str(name), str(name))
    if name not in labels:
        raise ValueError(f"{where}: label {value!r} is not one of {list(labels)}")
    return labels.index(name)


def _pair_rows(ds: Any, a: str, b: str, label: str, labels: Sequence[str], where: str,
               id_column: str | None = None, aliases: Mapping[str, str] | None = None) -> Records:
    names = _class_names(ds, label)
    return [
        {"id": str(row[id_column]) if id_column else str(i), "text_a": row[a], "text_b": row[b],
         "label": _hub_label(row[label], names, labels, aliases or {}, where)}
        for i, row in enumerate(ds)
    ]


def _squad_rows(ds: Any) -> Records:
    return [
        {"id": row["id"], "question": row["question"], "context": row["context"],
         "answers": {"text": list(row["answers"]["text"]),
                     "answer_start": list(row["answers"]["answer_start"])}}
        for row in ds
    ]


def _tag_rows(ds: Any, tags: str, prefix: str, keep: Callable[[dict, int], bool] | None = None,
              id_column: str | None = None) -> Records:
    names = _class_names(ds, tags)
    out = []
    for i, row in enumerate(ds):
        idx = [j for j in range(len(row["tokens"])) if keep is None or keep(row, j)]
        values = row[tags]
        out.append({
            "id": f"{prefix}{row[id_column] if id_column else i}",
            "tokens": [row["tokens"][j] for j in idx],
            "tags": [names[values[j]] if names else values[j] for j in idx],
        })
    return out


def _copa_rows(ds: Any, template: str, prefix: str) -> Records:
    questions = rd.COPA_TEMPLATES[template]
    return [
        {"id": f"{prefix}{row.get('idx', i)}",
         "context": f"{row['premise']} {questions[row['question']]}",
         "choices": [row["choice1"], row["choice2"]], "label": int(row["label"])}
        for i, row in enumerate(ds)
    ]


# --------------------------------------------------------------------------- loader plumbing


class _Missing(Exception):
    """A (lang, split) whose source files (or hub split) do not exist."""

    def __init__(self, tried: Sequence[Any]):
        super().__init__(", ".join(map(str, tried)))
        self.tried = list(tried)


def _languages(task: Task, languages: Sequence[str]) -> tuple[list[str], set[str]]:
    unknown = sorted(set(languages) - set(task.languages))
    if unknown:
        raise ValueError(f"task {task.name!r} has no language(s) {unknown}; "
                         f"it has {list(task.languages)}")
    langs = list(dict.fromkeys(languages))
    if "en" in task.languages and "en" not in langs:
        langs.insert(0, "en")  # always needed for training / model selection
    return langs, set(languages)


def _collect(task: Task, languages: Sequence[str], read: Callable[[str, str], Records],
             source: str) -> SplitData:
    """``read(lang, split)`` for every declared split of the requested languages + English."""
    langs, requested = _languages(task, languages)
    data: SplitData = {}
    for lang in langs:
        missing = []
        for split in task.splits[lang]:
            try:
                data[(lang, split)] = read(lang, split)
            except _Missing as m:
                missing.append(f"{split} (tried {m})")
        if missing:
            msg = f"{task.name} ({source}): no {lang} data for " + "; ".join(missing)
            if len(missing) == len(task.splits[lang]) and lang in requested:
                raise FileNotFoundError(msg)
            log.warning(msg)
    return data


def _find(root: Path, *candidates: str) -> Path:
    """The first existing file among ``root / candidate``."""
    for candidate in candidates:
        path = root / candidate
        if path.is_file():
            return path
    raise _Missing([root / c for c in candidates])


def _squad_candidates(split: str) -> tuple[str, ...]:
    name = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}[split]
    return (name, f"squad/{name}", f"../squad/{name}", f"../SQuAD/{name}")


def _simple_local(files: Mapping[str, tuple[str, ...]], reader: Callable[[Path], Records]):
    """A local loader for an English-only task: one file per split."""

    def load_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
        root = Path(root)
        return _collect(task, languages, lambda lang, split: reader(_find(root, *files[split])),
                        "local")

    return load_local


def _simple_hub(splits: Mapping[str, str], rows: Callable[[Any, str], Records]):
    """A hub loader for an English-only task: ``rows(dataset, where)`` per split."""

    def load_hub(task: Task, languages: Sequence[str]) -> SplitData:
        def read(lang: str, split: str) -> Records:
            ds = hub_load(task.hub, splits[split])
            return rows(ds, f"{task.hub.path} {splits[split]}")

        return _collect(task, languages, read, "hub")

    return load_hub


_EN = {"en": ("train", "dev")}


# --------------------------------------------------------------------------- intermediate tasks

register(Task(
    name="mnli",
    type=TaskType.PAIR_CLASSIFICATION,
    languages=("en",),
    splits=_EN,
    labels=rd.NLI_LABELS,
    hub=HubSource(GLUE_HUB, "mnli", GLUE_REVISION),
    load_hub=_simple_hub(
        {"train": "train", "dev": "validation_matched"},
        lambda ds, w: _pair_rows(ds, "premise", "hypothesis", "label", rd.NLI_LABELS, w, "idx"),
    ),
    load_local=_simple_local(
        {"train": ("train.tsv", "MNLI/train.tsv"),
         "dev": ("dev_matched.tsv", "MNLI/dev_matched.tsv")},
        rd.read_mnli_tsv,
    ),
    description="MultiNLI (GLUE): premise/hypothesis entailment, neutral or contradiction "
    "(XNLI's label order); dev = dev_matched.",
    extra={"role": "intermediate"},
))

register(Task(
    name="qqp",
    type=TaskType.PAIR_CLASSIFICATION,
    languages=("en",),
    splits=_EN,
    labels=rd.QQP_LABELS,
    hub=HubSource(GLUE_HUB, "qqp", GLUE_REVISION),
    load_hub=_simple_hub(
        {"train": "train", "dev": "validation"},
        lambda ds, w: _pair_rows(ds, "question1", "question2", "label", rd.QQP_LABELS, w, "idx"),
    ),
    load_local=_simple_local(
        {"train": ("train.tsv", "QQP/train.tsv"), "dev": ("dev.tsv", "QQP/dev.tsv")},
        rd.read_qqp_tsv,
    ),
    description="Quora Question Pairs (GLUE): are two questions duplicates?",
    extra={"role": "intermediate"},
))


def _sst2_rows(ds: Any, where: str) -> Records:
    names = _class_names(ds, "label")
    return [{"id": str(row["idx"]), "text": row["sentence"],
             "label": _hub_label(row["label"], names, rd.SST2_LABELS, {}, where)} for row in ds]


register(Task(
    name="sst2",
    type=TaskType.CLASSIFICATION,
    languages=("en",),
    splits=_EN,
    labels=rd.SST2_LABELS,
    hub=HubSource(GLUE_HUB, "sst2", GLUE_REVISION),
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, _sst2_rows),
    load_local=_simple_local(
        {"train": ("train.tsv", "SST-2/train.tsv"), "dev": ("dev.tsv", "SST-2/dev.tsv")},
        rd.read_sst2_tsv,
    ),
    description="Stanford Sentiment Treebank, binary (GLUE SST-2).",
    extra={"role": "intermediate"},
))

ANLI_ROUNDS = ("R1", "R2", "R3")


def _anli_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        paths = [_find(root, f"{r}/{split}.jsonl", f"anli_v1.0/{r}/{split}.jsonl")
                 for r in task.extra["rounds"]]
        return [rec for path in paths for rec in rd.read_anli_jsonl(path)]

    return _collect(task, languages, read, "local")


def _anli_hub(task: Task, languages: Sequence[str]) -> SplitData:
    def read(lang: str, split: str) -> Records:
        out = []
        for r in task.extra["rounds"]:
            name = f"{split}_r{r[1:]}"
            ds = hub_load(task.hub, name)
            out += _pair_rows(ds, "premise", "hypothesis", "label", rd.NLI_LABELS,
                              f"{task.hub.path} {name}", "uid")
        return out

    return _collect(task, languages, read, "hub")


register(Task(
    name="anli",
    type=TaskType.PAIR_CLASSIFICATION,
    languages=("en",),
    splits=_EN,
    labels=rd.NLI_LABELS,
    hub=HubSource("facebook/anli", "plain_text",
                  "8e4813d81f46d313dac7892e1c28076917cfcdf9"),  # 5+ public repos
    load_hub=_anli_hub,
    load_local=_anli_local,
    description="Adversarial NLI v1.0, rounds R1-R3 concatenated (labels e/n/c -> entailment/"
    "neutral/contradiction).",
    extra={"role": "intermediate", "rounds": ANLI_ROUNDS},
))

def _snli_rows(ds: Any, where: str) -> Records:
    names = _class_names(ds, "label")
    kept = [(i, row) for i, row in enumerate(ds) if row["label"] != -1]  # -1: no gold label
    return [{"id": str(i), "text_a": row["premise"], "text_b": row["hypothesis"],
             "label": _hub_label(row["label"], names, rd.NLI_LABELS, {}, where)}
            for i, row in kept]


register(Task(
    name="snli",
    type=TaskType.PAIR_CLASSIFICATION,
    languages=("en",),
    splits=_EN,
    labels=rd.NLI_LABELS,
    hub=HubSource("stanfordnlp/snli", "plain_text",
                  "cdb5c3d5eed6ead6e5a341c8e56e669bb666725b"),  # 5+ public repos
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, _snli_rows),
    load_local=_simple_local(
        {"train": ("snli_1.0_train.jsonl", "snli_1.0/snli_1.0_train.jsonl"),
         "dev": ("snli_1.0_dev.jsonl", "snli_1.0/snli_1.0_dev.jsonl")},
        rd.read_snli_jsonl,
    ),
    description="Stanford NLI 1.0 (premise/hypothesis; pairs without a gold label dropped); "
    "labels in the shared NLI order of mnli/anli/xnli.",
    extra={"role": "intermediate"},
))


register(Task(
    name="squad",
    type=TaskType.SPAN_QA,
    languages=("en",),
    splits=_EN,
    hub=SQUAD_HUB,
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, lambda ds, w: _squad_rows(ds)),
    load_local=_simple_local({s: _squad_candidates(s) for s in ("train", "dev")},
                             rd.read_squad_json),
    description="SQuAD v1.1 extractive QA (also the English training set of xquad/mlqa/tydiqa).",
    extra={"role": "intermediate"},
))


def _squad2_candidates(split: str) -> tuple[str, ...]:
    name = {"train": "train-v2.0.json", "dev": "dev-v2.0.json"}[split]
    return (name, f"squad/{name}", f"../squad/{name}", f"../SQuAD/{name}")


def _read_squad2(path: Path) -> Records:
    return rd.read_squad_json(path, allow_unanswerable=True)


register(Task(
    name="squad2",
    type=TaskType.SPAN_QA,
    languages=("en",),
    splits=_EN,
    # pinned identically by 5+ public repos (one quotes inspect_evals' squad pin)
    hub=HubSource("rajpurkar/squad_v2", "squad_v2", "3ffb306f725f7d2ce8394bc1873b24868140c412"),
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, lambda ds, w: _squad_rows(ds)),
    load_local=_simple_local({s: _squad2_candidates(s) for s in ("train", "dev")}, _read_squad2),
    description="SQuAD v2.0 extractive QA with unanswerable questions (empty answers): trained "
    "to point at CLS, predicted \"\" when the null score beats the best span; scored with "
    "the official evaluate-v2.0.py (EM/F1 plus HasAns_/NoAns_ breakdown).",
    extra={"role": "intermediate", "allow_no_answer": True},
))


def _hellaswag_rows(ds: Any, where: str) -> Records:
    return [{"id": str(row["ind"]), "context": row["ctx"], "choices": list(row["endings"]),
             "label": int(row["label"])} for row in ds]


register(Task(
    name="hellaswag",
    type=TaskType.MULTIPLE_CHOICE,
    languages=("en",),
    splits=_EN,
    # pinned identically by 10+ public repos (one asserts it equals inspect_evals'
    # hellaswag.HELLASWAG_DATASET_REVISION)
    hub=HubSource("Rowan/hellaswag", revision="218ec52e09a7e7462a5400043bb9a69a41d06b76"),
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, _hellaswag_rows),
    load_local=_simple_local(
        {"train": ("hellaswag_train.jsonl", "data/hellaswag_train.jsonl"),
         "dev": ("hellaswag_val.jsonl", "data/hellaswag_val.jsonl")},
        rd.read_hellaswag_jsonl,
    ),
    description="HellaSwag: pick the ending (of 4) of an ActivityNet/WikiHow context.",
    extra={"role": "intermediate", "num_choices": 4},
))


def _csqa_rows(ds: Any, where: str) -> Records:
    out = []
    for row in ds:
        keys = list(row["choices"]["label"])
        if row["answerKey"] not in keys:
            raise ValueError(f"{where}: answerKey {row['answerKey']!r} not in {keys}")
        out.append({"id": row["id"], "context": row["question"],
                    "choices": list(row["choices"]["text"]), "label": keys.index(row["answerKey"])})
    return out


register(Task(
    name="commonsenseqa",
    type=TaskType.MULTIPLE_CHOICE,
    languages=("en",),
    splits=_EN,
    # pinned identically by 5+ public repos (one quotes inspect_evals' commonsense_qa pin)
    hub=HubSource("tau/commonsense_qa", revision="94630fe30dad47192a8546eb75f094926d47e155"),
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, _csqa_rows),
    load_local=_simple_local(
        {"train": ("train_rand_split.jsonl",), "dev": ("dev_rand_split.jsonl",)},
        rd.read_commonsenseqa_jsonl,
    ),
    description="CommonsenseQA (random split): 5-way multiple-choice commonsense questions.",
    extra={"role": "intermediate", "num_choices": 5},
))


def _cosmos_rows(ds: Any, where: str) -> Records:
    return [{"id": row["id"], "context": f"{row['context']} {row['question']}",
             "choices": [row[f"answer{i}"] for i in range(4)], "label": int(row["label"])}
            for row in ds]


register(Task(
    name="cosmosqa",
    type=TaskType.MULTIPLE_CHOICE,
    languages=("en",),
    splits=_EN,
    # main (28d9d5e2) is the cosmos_qa.py loading script: read from refs/convert/parquet at
    # ed50fe83; both pinned (as a pair) by 2 public repos
    hub=HubSource("allenai/cosmos_qa", revision="28d9d5e2aae025e73e11177891a88dba51190013",
                  parquet_revision="ed50fe83db62b355759053b1cd5eef344ee371e0"),
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, _cosmos_rows),
    load_local=_simple_local(
        {"train": ("train.csv", "data/train.csv"), "dev": ("valid.csv", "data/valid.csv")},
        rd.read_cosmosqa_csv,
    ),
    description="Cosmos QA: 4-way reading comprehension requiring commonsense "
    "(context = paragraph + question).",
    extra={"role": "intermediate", "num_choices": 4},
))


def _siqa_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        name = {"train": "train", "dev": "dev"}[split]
        data = _find(root, f"{name}.jsonl", f"socialiqa-train-dev/{name}.jsonl")
        labels = _find(data.parent, f"{name}-labels.lst")
        return rd.read_socialiqa(data, labels)

    return _collect(task, languages, read, "local")


def _siqa_rows(ds: Any, where: str) -> Records:
    return [{"id": str(i), "context": f"{row['context']} {row['question']}",
             "choices": [row["answerA"], row["answerB"], row["answerC"]],
             "label": _hub_label(row["label"], None, ("1", "2", "3"), {}, where)}
            for i, row in enumerate(ds)]


register(Task(
    name="socialiqa",
    type=TaskType.MULTIPLE_CHOICE,
    languages=("en",),
    splits=_EN,
    # main (8835ceb9, pinned identically by 3+ public repos) is the social_i_qa.py loading
    # script: read from refs/convert/parquet at 537a2ec8 (pinned by 2 public repos)
    hub=HubSource("allenai/social_i_qa", revision="8835ceb9141d7896d9d968634a9b21ae440e3ec5",
                  parquet_revision="537a2ec8ec565adc0b70b70752893e59e024df26"),
    load_hub=_simple_hub({"train": "train", "dev": "validation"}, _siqa_rows),
    load_local=_siqa_local,
    description="Social IQa: 3-way questions about social situations (context = context + "
    "question, as XTREME-R renders it).",
    extra={"role": "intermediate", "num_choices": 3},
))


# --------------------------------------------------------------------------- XTREME: classification


def _xnli_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    cache: dict[Path, dict[str, list]] = {}

    def read(lang: str, split: str) -> Records:
        if split == "train":  # English only: MNLI train (GLUE TSV or XNLI-MT's copy)
            path = _find(root, "MNLI/train.tsv", "../MNLI/train.tsv", "../mnli/train.tsv",
                         "XNLI-MT-1.0/multinli/multinli.train.en.tsv")
            if path.name == "multinli.train.en.tsv":
                return rd.read_xnli_mt_train(path)
            return rd.read_mnli_tsv(path)
        path = _find(root, f"XNLI-1.0/xnli.{split}.tsv", f"xnli.{split}.tsv")
        if path not in cache:
            cache[path] = rd.read_xnli_tsv(path)
        if lang not in cache[path]:
            raise rd.DataFormatError(path, None, f"no rows for language {lang!r}")
        return cache[path][lang]

    return _collect(task, languages, read, "local")


def _xnli_hub(task: Task, languages: Sequence[str]) -> SplitData:
    names = {"train": "train", "dev": "validation", "test": "test"}

    def read(lang: str, split: str) -> Records:
        ds = hub_load(task.hub, names[split], config=lang)
        where = f"{task.hub.path} {lang} {names[split]}"
        rows = _pair_rows(ds, "premise", "hypothesis", "label", rd.NLI_LABELS, where)
        return [{**r, "id": f"{lang}-{split}-{r['id']}"} for r in rows]

    return _collect(task, languages, read, "hub")


def _target_splits(languages: Sequence[str], others: tuple[str, ...] = ("dev", "test"),
                   en: tuple[str, ...] = ("train", "dev", "test")) -> dict[str, tuple[str, ...]]:
    return {lang: en if lang == "en" else others for lang in languages}


register(Task(
    name="xnli",
    type=TaskType.PAIR_CLASSIFICATION,
    languages=XNLI_LANGUAGES,
    splits=_target_splits(XNLI_LANGUAGES),
    labels=rd.NLI_LABELS,
    # config = language. MTEB mteb/tasks/PairClassification/multilingual/XNLI.py pins this sha
    # under the alias "xnli" (redirects here); 5+ public repos pin it for facebook/xnli
    hub=HubSource("facebook/xnli", revision="b8dd5d7af51114dbda02c0e3f6133f332186418e"),
    load_hub=_xnli_hub,
    load_local=_xnli_local,
    description="XNLI 1.0: NLI in 15 languages; English train = MNLI train, dev/test = XNLI.",
    extra={"role": "target"},
))


def _pawsx_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    names = {"train": "train", "dev": "dev_2k", "test": "test_2k"}

    def read(lang: str, split: str) -> Records:
        name = names[split]
        return rd.read_pawsx_tsv(_find(root, f"x-final/{lang}/{name}.tsv", f"{lang}/{name}.tsv"))

    return _collect(task, languages, read, "local")


def _pawsx_hub(task: Task, languages: Sequence[str]) -> SplitData:
    names = {"train": "train", "dev": "validation", "test": "test"}
    aliases = {"0": "not_paraphrase", "1": "paraphrase"}

    def read(lang: str, split: str) -> Records:
        ds = hub_load(task.hub, names[split], config=lang)
        return _pair_rows(ds, "sentence1", "sentence2", "label", rd.PAWSX_LABELS,
                          f"{task.hub.path} {lang} {names[split]}", "id", aliases)

    return _collect(task, languages, read, "hub")


register(Task(
    name="pawsx",
    type=TaskType.PAIR_CLASSIFICATION,
    languages=PAWSX_LANGUAGES,
    splits=_target_splits(PAWSX_LANGUAGES),
    labels=rd.PAWSX_LABELS,
    # config = language. The Parquet revision (observed 2026-09-24; 8+ public repos read
    # <lang>/{train,validation,test}-00000-of-00001.parquet at it). Not MTEB's 8a04d940
    # (mteb/tasks/PairClassification/multilingual/PawsX.py): a loading-script revision
    # (trust_remote_code) that datasets >= 4 cannot load.
    hub=HubSource("google-research-datasets/paws-x",
                  revision="4cd8187c404bda33cb1f62b49b001115862acf37"),
    load_hub=_pawsx_hub,
    load_local=_pawsx_local,
    description="PAWS-X: paraphrase identification; English train, dev_2k/test_2k per language.",
    extra={"role": "target"},
))


# --------------------------------------------------------------------------- XTREME: QA


def _qa_local(task: Task, root: Path, languages: Sequence[str],
              eval_file: Callable[[str, str], tuple[str, ...]],
              reader: Callable[[Path, str], Records] | None = None) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        if lang == "en" and split in ("train", "dev"):
            return rd.read_squad_json(_find(root, *_squad_candidates(split)))
        path = _find(root, *eval_file(lang, split))
        return reader(path, lang) if reader else rd.read_squad_json(path)

    return _collect(task, languages, read, "local")


def _qa_hub(task: Task, languages: Sequence[str],
            eval_split: Callable[[str, str], Records]) -> SplitData:
    names = {"train": "train", "dev": "validation"}

    def read(lang: str, split: str) -> Records:
        if lang == "en" and split in names:
            return _squad_rows(hub_load(SQUAD_HUB, names[split]))
        return eval_split(lang, split)

    return _collect(task, languages, read, "hub")


def _xquad_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    return _qa_local(task, root, languages,
                     lambda lang, split: (f"xquad.{lang}.json", f"xquad/xquad.{lang}.json"))


def _xquad_hub(task: Task, languages: Sequence[str]) -> SplitData:
    return _qa_hub(task, languages, lambda lang, split: _squad_rows(
        hub_load(task.hub, "validation", config=f"xquad.{lang}")))


_QA_SPLITS_NOTE = "English train/dev = SQuAD v1.1 (XTREME's zero-shot setting)"

register(Task(
    name="xquad",
    type=TaskType.SPAN_QA,
    languages=XQUAD_LANGUAGES,
    splits=_target_splits(XQUAD_LANGUAGES, others=("test",)),
    # config = xquad.<lang>, its only split "validation" = test.
    # MTEB mteb/tasks/Retrieval/multilingual/XQuADRetrieval.py
    hub=HubSource("google/xquad", revision="51adfef1c1287aab1d2d91b5bead9bcfb9c68583"),
    load_hub=_xquad_hub,
    load_local=_xquad_local,
    description=f"XQuAD: SQuAD v1.1 dev paragraphs translated into 10 languages (test only); "
    f"{_QA_SPLITS_NOTE}. XQuAD en is a subset of SQuAD dev.",
    extra={"role": "target", "train_source": "squad"},
))


def _mlqa_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    def files(lang: str, split: str) -> tuple[str, ...]:
        name = f"{split}/{split}-context-{lang}-question-{lang}.json"
        return (f"MLQA_V1/{name}", name)

    return _qa_local(task, root, languages, files)


def _mlqa_hub(task: Task, languages: Sequence[str]) -> SplitData:
    names = {"dev": "validation", "test": "test"}
    return _qa_hub(task, languages, lambda lang, split: _squad_rows(
        hub_load(task.hub, names[split], config=f"mlqa.{lang}.{lang}")))


register(Task(
    name="mlqa",
    type=TaskType.SPAN_QA,
    languages=MLQA_LANGUAGES,
    splits=_target_splits(MLQA_LANGUAGES, en=("train", "dev", "test")),
    # config = mlqa.<lang>.<lang> (context = question language). lighteval
    # src/lighteval/tasks/multilingual/tasks/mlqa.py, HELM
    # src/helm/benchmark/scenarios/melt_scenarios.py, MTEB MLQARetrieval.py. A loading-script
    # revision: datasets >= 4 reads the Parquet export, whose commit is not known (unpinned).
    hub=HubSource("facebook/mlqa", revision="397ed406c1a7902140303e7faf60fff35b58d285"),
    load_hub=_mlqa_hub,
    load_local=_mlqa_local,
    description=f"MLQA v1.0, context and question in the same language; {_QA_SPLITS_NOTE} "
    "(MLQA's own en dev is not used); other languages: MLQA dev/test.",
    # XTREME evaluate.py scores MLQA (only) with MLQA's script, in every language incl. en
    extra={"role": "target", "train_source": "squad", "qa_script": "mlqa"},
))


def _tydiqa_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    def files(lang: str, split: str) -> tuple[str, ...]:
        name = f"tydiqa-goldp-dev-{TYDIQA_NAMES[lang]}.json"
        return (f"tydiqa-goldp-v1.1-dev/{name}", name)

    def reader(path: Path, lang: str) -> Records:
        by_lang = rd.read_tydiqa_goldp_json(path)
        other = sorted(set(by_lang) - {lang})
        if other:
            raise rd.DataFormatError(path, None, f"holds questions of {other}, not only {lang!r}")
        return by_lang.get(lang, [])

    return _qa_local(task, root, languages, files, reader)


def _tydiqa_hub(task: Task, languages: Sequence[str]) -> SplitData:
    cache: dict[str, dict[str, list]] = {}

    def eval_split(lang: str, split: str) -> Records:
        if not cache:
            for rec in _squad_rows(hub_load(task.hub, "validation")):
                cache.setdefault(rd.tydiqa_language(rec["id"]) or "?", []).append(rec)
        if lang not in cache:
            raise _Missing([f"{task.hub.path} validation ids starting with {TYDIQA_NAMES[lang]}"])
        return cache[lang]

    return _qa_hub(task, languages, eval_split)


register(Task(
    name="tydiqa",
    type=TaskType.SPAN_QA,
    languages=TYDIQA_LANGUAGES,
    splits=_target_splits(TYDIQA_LANGUAGES, others=("test",)),
    # low confidence: one public file (a custom lighteval TydiqaTask, trust_dataset=True)
    hub=HubSource("google-research-datasets/tydiqa", "secondary_task",
                  "824c1b749da46e73930be9142d3b6815f2dded02"),
    load_hub=_tydiqa_hub,
    load_local=_tydiqa_local,
    description=f"TyDi QA GoldP v1.1: the GoldP dev set of each language is the test split (as "
    f"in XTREME), split by the language prefix of the ids; {_QA_SPLITS_NOTE}.",
    extra={"role": "target", "train_source": "squad"},
))


# --------------------------------------------------------------------------- multilingual QA
# intermediate data (study 2, family `multilingual`): train splits in several languages,
# read only through load_split(..., "multilingual_train"); English dev (SQuAD v1.1 dev, the QA
# targets' selection set) is the only selection set.

TYDIQA_TRAIN_FILE = "tydiqa-goldp-v1.1-train.json"


def _tydiqa_train_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    cache: dict[str, list] = {}

    def read(lang: str, split: str) -> Records:
        if split == "dev":  # English only: SQuAD v1.1 dev
            return rd.read_squad_json(_find(root, *_squad_candidates("dev")))
        if not cache:
            cache.update(rd.read_tydiqa_goldp_json(_find(root, TYDIQA_TRAIN_FILE,
                                                         f"tydiqa/{TYDIQA_TRAIN_FILE}",
                                                         f"../tydiqa/{TYDIQA_TRAIN_FILE}")))
        if lang not in cache:
            raise _Missing([f"{TYDIQA_TRAIN_FILE} ids starting with {TYDIQA_NAMES[lang]}"])
        return cache[lang]

    return _collect(task, languages, read, "local")


def _tydiqa_train_hub(task: Task, languages: Sequence[str]) -> SplitData:
    cache: dict[str, list] = {}

    def read(lang: str, split: str) -> Records:
        if split == "dev":
            return _squad_rows(hub_load(SQUAD_HUB, "validation"))
        if not cache:
            for rec in _squad_rows(hub_load(task.hub, "train")):
                cache.setdefault(rd.tydiqa_language(rec["id"]) or "?", []).append(rec)
        if lang not in cache:
            raise _Missing([f"{task.hub.path} train ids starting with {TYDIQA_NAMES[lang]}"])
        return cache[lang]

    return _collect(task, languages, read, "hub")


register(Task(
    name="tydiqa_train",
    type=TaskType.SPAN_QA,
    languages=TYDIQA_LANGUAGES,
    splits={lang: ("train", "dev") if lang == "en" else ("train",) for lang in TYDIQA_LANGUAGES},
    # low confidence: one public file (a custom lighteval TydiqaTask, trust_dataset=True)
    hub=HubSource("google-research-datasets/tydiqa", "secondary_task",
                  "824c1b749da46e73930be9142d3b6815f2dded02"),
    load_hub=_tydiqa_train_hub,
    load_local=_tydiqa_train_local,
    description="TyDi QA GoldP v1.1 train set, native questions in 9 languages (split by the "
    "language prefix of the ids): multilingual intermediate data (study 2); English dev = SQuAD "
    "v1.1 dev. Never an evaluation set (tydiqa's test split is the GoldP dev set).",
    extra={"role": "intermediate"},
))

TRANSLATE_TRAIN_LANGUAGES = XQUAD_LANGUAGES  # XTREME's translate-train SQuAD (covers MLQA's)


def _translate_train_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        if lang == "en":  # XTREME's download: squad/{train,dev}-v1.1.json + squad/translate-train/
            candidates = _squad_candidates(split)
            return rd.read_squad_json(_find(root, *candidates, f"../{candidates[0]}"))
        name = f"squad.translate.train.en-{lang}.json"
        return rd.read_squad_json(_find(root, name, f"translate-train/{name}",
                                        f"squad/translate-train/{name}"))

    return _collect(task, languages, read, "local")


register(Task(
    name="squad_translate_train",
    type=TaskType.SPAN_QA,
    languages=TRANSLATE_TRAIN_LANGUAGES,
    splits={lang: ("train", "dev") if lang == "en" else ("train",)
            for lang in TRANSLATE_TRAIN_LANGUAGES},
    load_local=_translate_train_local,
    description="XTREME's translate-train SQuAD v1.1 (machine-translated train set per XQuAD/MLQA "
    "language; local files only, no public hub copy is pinned here); English train/dev = SQuAD "
    "v1.1: multilingual intermediate data (study 2).",
    extra={"role": "intermediate"},
))


# --------------------------------------------------------------------------- XTREME: tagging

_TAG_SPLIT_FILES = {"train": "train", "dev": "dev", "test": "test"}


def _udpos_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    index: dict[str, Path] = {}
    for path in sorted(root.rglob("*.conllu")):
        index.setdefault(path.name, path)
    mode = task.extra.get("multiword", "words")

    def read(lang: str, split: str) -> Records:
        out: Records = []
        found, missing = [], []
        for tb in task.extra["treebanks"][lang]:
            path = index.get(f"{tb}-ud-{split}.conllu")
            if path is None:
                missing.append(f"{tb}-ud-{split}.conllu")
                continue
            found.append(tb)
            for rec in rd.read_conllu(path, multiword=mode, lang=lang):
                out.append({**rec, "id": f"{tb}:{rec['id']}"})
        if not found:
            raise _Missing([root / f"**/{m}" for m in missing])
        if missing:
            log.warning("udpos %s/%s: treebank files not found under %s: %s (XTREME uses all)",
                        lang, split, root, ", ".join(missing))
        return out

    return _collect(task, languages, read, "local")


def _ud_word(row: dict, j: int) -> bool:
    """A syntactic word of the hub's universal_dependencies rows: multiword-token rows (UPOS
    "_") and empty nodes have no basic head (None / "_")."""
    head = row["head"][j]
    return head not in (None, "_", "None")


def _udpos_hub(task: Task, languages: Sequence[str]) -> SplitData:
    names = {"train": "train", "dev": "validation", "test": "test"}

    def read(lang: str, split: str) -> Records:
        out: Records = []
        for tb in task.extra["treebanks"][lang]:
            try:
                ds = hub_load(task.hub, names[split], config=tb)
            except ValueError as e:
                if "Unknown split" in str(e):
                    continue  # this treebank has no such split (e.g. PUD: test only)
                raise
            for rec in _tag_rows(ds, "upos", f"{tb}:", keep=_ud_word, id_column="idx"):
                bad = [t for t in rec["tags"] if t not in rd.UPOS_TAGS]
                if bad:
                    raise ValueError(f"{task.hub.path} {tb} {split}: non-UPOS tags {bad[:3]}")
                out.append(rec)
        if not out:
            raise _Missing([f"{task.hub.path} {tb} {names[split]}"
                            for tb in task.extra["treebanks"][lang]])
        return out

    return _collect(task, languages, read, "hub")


register(Task(
    name="udpos",
    type=TaskType.TAGGING,
    languages=UDPOS_LANGUAGES,
    splits={lang: ("train", "dev", "test") if lang == "en" else
            ("test",) if lang in UDPOS_TEST_ONLY else ("dev", "test")
            for lang in UDPOS_LANGUAGES},
    labels=rd.UPOS_TAGS,
    # config = treebank. Unpinned (UNPINNED_HUB_REPOS): no public pin found; a loading script,
    # read from its Parquet export
    hub=HubSource("universal-dependencies/universal_dependencies"),
    load_hub=_udpos_hub,
    load_local=_udpos_local,
    description="Universal Dependencies v2.7 POS tagging (UPOS), all treebanks of a language "
    "concatenated per split as in XTREME; syntactic words (multiword-token lines and empty "
    "nodes skipped). Metric: XTREME's F1 = seqeval f1_score on the raw UPOS tags (not token "
    "accuracy; see xstilts.core.metrics.tagging_f1).",
    extra={"role": "target", "treebanks": UDPOS_TREEBANKS, "multiword": "words"},
))


def _panx_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        path = _find(root, f"{lang}/{split}", f"{lang}-{split}")
        return rd.read_panx(path, id_prefix=f"{lang}-{split}-")

    return _collect(task, languages, read, "local")


def _panx_hub(task: Task, languages: Sequence[str]) -> SplitData:
    names = {"train": "train", "dev": "validation", "test": "test"}

    def read(lang: str, split: str) -> Records:
        ds = hub_load(task.hub, names[split], config=lang)
        recs = _tag_rows(ds, "ner_tags", f"{lang}-{split}-")
        bad = {t for r in recs for t in r["tags"]} - set(rd.PANX_LABELS)
        if bad:
            raise ValueError(f"{task.hub.path} {lang} {split}: unknown tags {sorted(bad)}")
        return recs

    return _collect(task, languages, read, "hub")


register(Task(
    name="panx",
    type=TaskType.TAGGING,
    languages=PANX_LANGUAGES,
    splits=_target_splits(PANX_LANGUAGES),
    labels=rd.PANX_LABELS,
    # config = language (Rahimi et al. splits); pinned identically by 5+ public repos
    hub=HubSource("unimelb-nlp/wikiann", revision="f0a3be6dc5564c0cc4150bb660144800a1f539d4"),
    load_hub=_panx_hub,
    load_local=_panx_local,
    description="WikiANN / PAN-X named entities (PER, ORG, LOC; BIO) in XTREME's 40 languages, "
    "Rahimi et al. (2019) balanced splits.",
    extra={"role": "target"},
))


def _ccg_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    """CCGbank AUTO files, sections 02-21 train / 00 dev / 23 test. Dev/test supertags that never
    occur in train become ``rd.CCG_UNKNOWN`` (always wrong: the tagger only knows train's)."""
    root = Path(root)
    cache: dict[str, Records] = {}

    def read(lang: str, split: str) -> Records:
        if split not in cache:
            files = rd.ccgbank_files(root, split)
            if not files:
                raise _Missing([f"{base}/{{{','.join(rd.CCG_SECTIONS[split])}}}/*.auto"
                                for base in (root / "data" / "AUTO", root / "AUTO", root)])
            cache[split] = [rec for f in files for rec in rd.read_ccgbank_auto(f)]
        if split == "train":
            return cache[split]
        known = {t for r in read(lang, "train") for t in r["tags"]}
        return rd.map_unseen_tags(cache[split], known)

    return _collect(task, languages, read, "local")


def ccg_labels(data: SplitData) -> tuple[str, ...]:
    """The CCG label set: the supertags of the English train split (sorted) + the unknown tag."""
    train = data.get(("en", "train"))
    if not train:
        raise ValueError("ccg: the label set comes from the train split, which is missing")
    return (*sorted({t for r in train for t in r["tags"]} - {rd.CCG_UNKNOWN}), rd.CCG_UNKNOWN)


register(Task(
    name="ccg",
    type=TaskType.TAGGING,
    languages=("en",),
    splits={"en": ("train", "dev", "test")},
    hub=None,  # CCGbank (LDC2005T13) is licensed: local files only
    load_local=_ccg_local,
    description="CCG supertagging on CCGbank (LDC2005T13, local files only): root = the release "
    "folder (data/AUTO/<section>/wsj_*.auto; also AUTO/<section>/ or <section>/ folders); "
    "train = sections 02-21, dev = 00, test = 23; labels = train's supertags + '<unk>' for "
    "dev/test categories unseen in train; per-token accuracy.",
    extra={"role": "intermediate", "metrics": ("acc",), "labels_from_data": ccg_labels,
           "never_predict": (rd.CCG_UNKNOWN,)},  # an unseen gold category is always an error
))


# --------------------------------------------------------------------------- XTREME: retrieval
# --------------------------------------------------------------------------- XTREME: retrieval


def _tatoeba_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        code = task.extra["iso3"][lang]
        stem = f"tatoeba.{code}-eng"
        src = _find(root, f"{stem}.{code}", f"data/tatoeba/v1/{stem}.{code}", f"v1/{stem}.{code}")
        eng = _find(src.parent, f"{stem}.eng")
        return rd.read_tatoeba(src, eng, id_prefix=f"{lang}-")

    return _collect(task, languages, read, "local")


def _bitext_rows(ds: Any, prefix: str) -> Records:
    # MTEB bitext sets: sentence1 = the non-English side, sentence2 = English
    return [{"id": f"{prefix}{i}", "source": row["sentence1"], "target": row["sentence2"]}
            for i, row in enumerate(ds)]


def _tatoeba_hub(task: Task, languages: Sequence[str]) -> SplitData:
    def read(lang: str, split: str) -> Records:
        ds = hub_load(task.hub, "test", config=f"{task.extra['iso3'][lang]}-eng")
        return _bitext_rows(ds, f"{lang}-")

    return _collect(task, languages, read, "hub")


register(Task(
    name="tatoeba",
    type=TaskType.RETRIEVAL,
    languages=TATOEBA_LANGUAGES,
    splits={lang: ("test",) for lang in TATOEBA_LANGUAGES},
    hub=TATOEBA_HUB,  # config = <iso3>-eng, split test
    load_hub=_tatoeba_hub,
    load_local=_tatoeba_local,
    description="Tatoeba (LASER v1 test sets, up to 1000 aligned pairs per language) in XTREME's "
    "36 languages; top-1 accuracy of cosine nearest neighbours. XTREME-R's 41: task tatoeba_r.",
    extra={"role": "retrieval", "retrieval": "pairs", "iso3": TATOEBA_ISO3},
))


def _bucc_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)

    def read(lang: str, split: str) -> Records:
        try:
            corpus = rd.read_bucc_corpus(root, lang, split)
        except FileNotFoundError as e:
            raise _Missing([e]) from None
        return rd.bucc_mining_records(corpus, lang)

    return _collect(task, languages, read, "local")


register(Task(
    name="bucc",
    type=TaskType.RETRIEVAL,
    languages=BUCC_LANGUAGES,
    splits={lang: ("dev", "test") for lang in BUCC_LANGUAGES},
    # No hub loader: mining F1 needs BUCC's full sentence sets, and the hub copies
    # (mteb/bucc-bitext-mining, google/xtreme bucc18.<lang>) hold only the gold pairs.
    load_local=_bucc_local,
    description="BUCC 2018 parallel sentence mining (de/fr/ru/zh -> en) as XTREME scores it: "
    "margin-based mining over both full sentence sets, F1 against the gold pairs with the "
    "threshold chosen on dev (= BUCC sample) and applied to test (= BUCC training set, as in "
    "XTREME: the official test gold is not public). Local files only (the hub copies hold only "
    "the gold pairs).",
    extra={"role": "retrieval", "retrieval": "mining",
           "metrics": ("f1", "precision", "recall")},
))


# --------------------------------------------------------------------------- XTREME-R: XCOPA


def _xcopa_local(task: Task, root: Path, languages: Sequence[str]) -> SplitData:
    root = Path(root)
    template = task.extra["copa_template"]

    def read(lang: str, split: str) -> Records:
        if lang == "en":  # COPA (SuperGLUE) train / val
            name = {"train": "train", "dev": "val"}[split]
            path = _find(root, f"COPA/{name}.jsonl", f"{name}.en.jsonl", f"../COPA/{name}.jsonl",
                         f"../copa/{name}.jsonl")
            return rd.read_copa_jsonl(path, template=template, id_prefix="copa-")
        name = {"dev": "val", "test": "test"}[split]
        path = _find(root, f"data/{lang}/{name}.{lang}.jsonl", f"{lang}/{name}.{lang}.jsonl",
                     f"{name}.{lang}.jsonl")
        return rd.read_copa_jsonl(path, template=template, id_prefix=f"{lang}-")

    return _collect(task, languages, read, "local")


def _xcopa_hub(task: Task, languages: Sequence[str]) -> SplitData:
    template = task.extra["copa_template"]
    names = {"train": "train", "dev": "validation", "test": "test"}

    def read(lang: str, split: str) -> Records:
        if lang == "en":
            return _copa_rows(hub_load(COPA_HUB, names[split]), template, "copa-")
        return _copa_rows(hub_load(task.hub, names[split], config=lang), template, f"{lang}-")

    return _collect(task, languages, read, "hub")


register(Task(
    name="xcopa",
    type=TaskType.MULTIPLE_CHOICE,
    languages=XCOPA_LANGUAGES,
    splits=_target_splits(XCOPA_LANGUAGES, en=("train", "dev")),
    # config = language; English from COPA_HUB. Pinned identically by 5+ public repos
    hub=HubSource("cambridgeltl/xcopa", revision="042f78955ba48e6404616762fa6e05e839c3907a"),
    load_hub=_xcopa_hub,
    load_local=_xcopa_local,
    description="XCOPA: causal commonsense (2 choices) in 11 languages; English train/dev = COPA "
    "(SuperGLUE); context = premise + question in XTREME-R's template ('What was the cause?'). "
    "XTREME-R also trains on SocialIQa first (task socialiqa).",
    extra={"role": "target", "copa_template": "xtreme-r", "num_choices": 2},
))

# Expected local layouts (relative to each task's root), for documentation and error messages.
LAYOUT: dict[str, str] = {
    "mnli": "train.tsv, dev_matched.tsv (GLUE MNLI/; also MNLI/<file>)",
    "qqp": "train.tsv, dev.tsv (GLUE QQP/)",
    "sst2": "train.tsv, dev.tsv (GLUE SST-2/)",
    "anli": "R1..R3/{train,dev}.jsonl (anli_v1.0/)",
    "squad": "train-v1.1.json, dev-v1.1.json",
    "squad2": "train-v2.0.json, dev-v2.0.json",
    "snli": "snli_1.0_{train,dev}.jsonl (snli_1.0/)",
    "ccg": "data/AUTO/<section>/wsj_*.auto (CCGbank release; or AUTO/<section>/, <section>/)",
    "hellaswag": "hellaswag_{train,val}.jsonl (repo data/)",
    "commonsenseqa": "{train,dev}_rand_split.jsonl",
    "cosmosqa": "train.csv, valid.csv (repo data/)",
    "socialiqa": "{train,dev}.jsonl + {train,dev}-labels.lst (socialiqa-train-dev/)",
    "xnli": "XNLI-1.0/xnli.{dev,test}.tsv; en train: MNLI/train.tsv (GLUE) or "
    "XNLI-MT-1.0/multinli/multinli.train.en.tsv",
    "pawsx": "x-final/<lang>/{dev_2k,test_2k}.tsv, x-final/en/train.tsv",
    "xquad": "xquad.<lang>.json; en train/dev: SQuAD files (here, squad/ or ../squad/)",
    "mlqa": "MLQA_V1/{dev,test}/{dev,test}-context-<lang>-question-<lang>.json; "
    "en train/dev: SQuAD",
    "tydiqa": "tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-<language name>.json; en train/dev: SQuAD",
    "tydiqa_train": "tydiqa-goldp-v1.1-train.json (all languages; or tydiqa/<file>); en dev: SQuAD "
    "dev-v1.1.json",
    "squad_translate_train": "squad.translate.train.en-<lang>.json (XTREME download: "
    "squad/translate-train/); en train/dev: SQuAD",
    "udpos": "**/<treebank>-ud-{train,dev,test}.conllu (any depth, e.g. ud-treebanks-v2.7/UD_*/)",
    "panx": "<lang>/{train,dev,test} (XTREME's per-language panx archives, 'lang:token\\ttag')",
    "tatoeba": "tatoeba.<iso3>-eng.{<iso3>,eng} (LASER data/tatoeba/v1/)",
    "bucc": "<lang>-en/<lang>-en.{sample,training}.{<lang>,en,gold} (BUCC 2018 archives; also "
    "XTREME's renamed <lang>-en.{dev,test}.*)",
    "xcopa": "data/<lang>/{val,test}.<lang>.jsonl; en: COPA/{train,val}.jsonl (or ../COPA/)",
}
