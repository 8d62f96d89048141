"""Stage report: reports/results.md, significance.json, gains.csv and the gain heatmap; MLflow:
a report run with the files and, nested in it, one run per (intermediate task, target) cell
with the bootstrap gain, ci_low, ci_high and p over `none`."""

from xstilts.core.host import run_in_host

run_in_host(__name__)  # a warm stage host runs this stage when one is up (xstilts.core.host)

from pathlib import Path

from xstilts.analysis.report import log_significance, write_report
from xstilts.core.stage import stage_setup
from xstilts.core.tracking import Tracker

if __name__ == "__main__":
    p = stage_setup("report")
    write_report(p, Path("reports"))
    tracker = Tracker(p.tracking)
    run = tracker.start("report", {"phase": "report", "dvc_stage": "report"})
    for name in ("results.md", "significance.json", "gain_heatmap.png", "gains.csv"):
        tracker.log_artifact(run, Path("reports") / name)
    log_significance(p, tracker, Path("reports/significance.json"), parent=run)
    tracker.finish(run)
