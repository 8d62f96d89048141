"""A stage imports only what it uses: the analysis stages (report, study@*), with the stage set-up
every script runs, load neither torch nor transformers' model code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import json, runpy, sys
runpy.run_path({script!r}, run_name="probe")  # its imports, not its __main__ block
from xstilts.core.stage import stage_setup
stage_setup({stage!r})
print(json.dumps(sorted(m for m in ("torch", "transformers.modeling_utils")
                        if m in sys.modules)))
"""


@pytest.mark.parametrize("script, stage", [("pipeline/report.py", "report"),
                                           ("pipeline/study_analyse.py", "study@volume")])
def test_analysis_stages_import_no_torch(script, stage):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(script=script, stage=stage)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], script


def test_stage_setup_quiets_libraries_imported_later(tmp_path):
    """Where the stage had not imported datasets/transformers at set-up, they still come up
    with progress bars off and transformers at error level."""
    code = """
from xstilts.core.stage import stage_setup
stage_setup("report")
import datasets, transformers
from huggingface_hub.utils import are_progress_bars_disabled
print(datasets.is_progress_bar_enabled(), transformers.logging.get_verbosity(),
      transformers.utils.logging.is_progress_bar_enabled(), are_progress_bars_disabled())
"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_DATASETS_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY",
                        "HF_HUB_DISABLE_PROGRESS_BARS")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    import logging

    assert out.stdout.split() == ["False", str(logging.ERROR), "False", "True"]
