"""Stage report: reports/results.md, gains.csv and the gain heatmap (also to MLflow)."""

from pathlib import Path

from xstilts.cli import stage_setup
from xstilts.report import write_report
from xstilts.tracking import Tracker

if __name__ == "__main__":
    p = stage_setup("report")
    write_report(p, Path("reports"))
    tracker = Tracker(p.tracking)
    run = tracker.start("report", {"phase": "report", "dvc_stage": "report"})
    for name in ("results.md", "gain_heatmap.png", "gains.csv"):
        tracker.log_artifact(run, Path("reports") / name)
    tracker.finish(run)
