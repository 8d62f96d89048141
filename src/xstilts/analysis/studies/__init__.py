"""The research studies of issue 5, each an analysis over metric files with a report section.

`common` (tidy score table, bootstrap correlations, report sections, MLflow), `complexity`
(study 4), `typology` (study 5), `volume` (study 1: nested subsets, its training stages and
the analysis), `multilingual` (study 2: multilingual intermediate data for QA), `scaling`
(study 3: gain against parameter count per architecture family, its stages and a power law).
`run_study(p, name, out_dir)` dispatches a stage `study@<name>`.
"""

from __future__ import annotations

from pathlib import Path

from xstilts.core.params import Params


def run_study(p: Params, name: str, out_dir: Path = Path("reports/studies"),
              log: bool = True) -> dict:
    """Run study `name` on the repository's metric files; write `<out_dir>/<name>.{md,json,png,
    csv}` and (with `log`) one MLflow parent run. Returns the metrics written to JSON."""
    from xstilts.analysis.studies import common, complexity, typology, volume

    modules = {"complexity": complexity, "typology": typology, "volume": volume}
    from xstilts.analysis.studies import multilingual  # study 2

    modules["multilingual"] = multilingual
    from xstilts.analysis.studies import scaling  # study 3

    modules["scaling"] = scaling
    if name not in modules:
        raise KeyError(f"unknown study {name!r}; choose from {sorted(modules)}")
    result = modules[name].analyse(p, out_dir)
    if log:
        common.log_study(p, name, result, out_dir)
    return result.metrics
