"""Stage prepare_model: the base encoder as a transformers folder (models/base)."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

import json
from pathlib import Path

from xstilts.core.prepare_model import prepare_base_model
from xstilts.core.stage import stage_setup

if __name__ == "__main__":
    p = stage_setup("prepare_model")
    stats = prepare_base_model(p)
    out = Path("metrics/model.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stats, indent=1, sort_keys=True))
