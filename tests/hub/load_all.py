"""Run inside a subprocess pointed at the hub emulator (HF_ENDPOINT, a fresh HF_HOME,
HF_HUB_OFFLINE=0): load every task of LOADS through its real hub loader and write the canonical
records (or the error) as JSON. ``python -m tests.hub.load_all OUT.json [TASK ...]``.

A subprocess because huggingface_hub and datasets read HF_ENDPOINT / HF_HUB_OFFLINE at import
time and the test session runs offline (tests/conftest.py)."""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    from tests.hub.repos import merged
    from xstilts.tasks.core import get_task

    out_path, names = argv[0], argv[1:] or sorted(merged("LOADS"))
    loads = merged("LOADS")
    result: dict = {}
    for name in names:
        task = get_task(name)
        try:
            data = task.load_hub(task, loads[name])
        except Exception as e:  # reported per task; the test names it
            result[name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        result[name] = {"labels": list(task.labels),
                        "data": {f"{lang}/{split}": recs for (lang, split), recs in data.items()}}
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
