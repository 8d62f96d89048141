"""Test-set predictions in the XTREME leaderboard submission layout.

XTREME's submission instructions (README "Leaderboard Submission", google-research/xtreme): one
folder with a sub-folder per task (`udpos`, `panx`, `xnli`, `pawsx`, `xquad`, `mlqa`, `tydiqa`,
`bucc2018`, `tatoeba`), and in it one file per language named `test-{lang}.{ext}`: `json` for
QA tasks, `tsv` for the others. Contents, as their `evaluate.py` reads them (and as
`mock_test_data/predictions` shows):

* classification (xnli, pawsx): one predicted label per line, in test-set order; XNLI writes the
  label names (entailment / neutral / contradiction), PAWS-X the label index (0 / 1);
* tagging (udpos, panx): one tag per line, a blank line between sentences;
* QA (xquad, mlqa, tydiqa): a JSON object {question id: answer text};
* tatoeba: per source sentence, the index of the retrieved English sentence, one per line;
* bucc2018: `<source id>\t<English id>` per mined pair;
* lareqa, mewslix (XTREME-R): `test-<lang>.json`, {query id: its top-20 candidate ids}.

`export_cell` writes `submission/<itask>/seed<s>/<task>/test-<lang>.<ext>` from the prediction
files (`xstilts.core.predictions`). Tasks outside XTREME (the embedded mini-benchmark, XCOPA)
use the same per-task layout under their own names, by task type: label names (label indices for
multiple choice and tasks without label names) / tags / {id: answer} / retrieved indices.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from xstilts.core.predictions import PRED_ROOT, prediction_dir, read_predictions

SUBMISSION_ROOT = Path("submission")
FOLDER = {"bucc": "bucc2018"}  # our task name -> XTREME's folder name (others: the same)
INDEX_LABELS = frozenset({"pawsx"})  # classification tasks whose files hold label indices
QA, TAGGING, RETRIEVAL = "span_qa", "tagging", "retrieval"


def submission_dir(itask: str, seed: int, root: Path = SUBMISSION_ROOT) -> Path:
    return Path(root) / itask / f"seed{seed}"


def format_file(record: dict) -> tuple[str, str]:
    """(file name, content) of one language's prediction record in the XTREME format."""
    task, kind, ids = record["task"], record["type"], record["ids"]
    preds = [record["predictions"][i] for i in ids]
    name = f"test-{record['lang']}"
    if kind == QA:
        return f"{name}.json", json.dumps(dict(zip(ids, preds, strict=True)), ensure_ascii=False,
                                          indent=2) + "\n"
    if kind == TAGGING:
        lines = [line for tags in preds for line in [*tags, ""]]  # a blank line after each
        if preds and preds[-1]:
            lines.pop()  # ... except the last sentence: blank lines go between sentences
        return f"{name}.tsv", "".join(f"{line}\n" for line in lines)
    if kind == RETRIEVAL and FOLDER.get(task) == "bucc2018":
        # ids are the source sentence ids, predictions the English id mined for each ("": none)
        rows = [f"{i}\t{j}" for i, j in zip(ids, preds, strict=True) if j]
        return f"{name}.tsv", "".join(f"{row}\n" for row in rows)
    if kind == RETRIEVAL and preds and isinstance(preds[0], list):  # LAReQA, Mewsli-X: top 20
        return f"{name}.json", json.dumps(dict(zip(ids, preds, strict=True)), ensure_ascii=False,
                                          indent=2) + "\n"
    if kind == RETRIEVAL:
        return f"{name}.tsv", "".join(f"{int(j)}\n" for j in preds)
    labels = record.get("labels") or []
    if labels and task not in INDEX_LABELS:
        return f"{name}.tsv", "".join(f"{labels[int(j)]}\n" for j in preds)
    return f"{name}.tsv", "".join(f"{int(j)}\n" for j in preds)


def export_cell(itask: str, seed: int, tasks: list[str], pred_root: Path = PRED_ROOT,
                out_root: Path = SUBMISSION_ROOT) -> list[Path]:
    """Write every language of every task in `tasks` for one intermediate task and seed."""
    out = submission_dir(itask, seed, out_root)
    if out.exists():
        shutil.rmtree(out)
    written = []
    for task in tasks:
        files = sorted(prediction_dir(itask, task, seed, pred_root).glob("*.json"))
        if not files:
            raise FileNotFoundError(f"no prediction files in "
                                    f"{prediction_dir(itask, task, seed, pred_root)}")
        folder = out / FOLDER.get(task, task)
        folder.mkdir(parents=True, exist_ok=True)
        for f in files:
            name, text = format_file(read_predictions(f))
            (folder / name).write_text(text, encoding="utf-8")
            written.append(folder / name)
    return written
