"""The studies' DVC stages: the switch adds or removes them; the params snippet is valid."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.studies.fabricate import ROOT, stage_names, studies_project
from xstilts.core.params import parse_params

SNIPPET = """
studies:                        # research studies (xstilts.analysis.studies): study@<name> each
  run: [complexity, typology, volume]   # the switch: studies that run ([] = none)
  stats: {bootstrap_resamples: 2000, bootstrap_seed: 0, alpha: 0.05}
  complexity: {length_unit: tokens}     # tokens of models/base | words
  typology:
    feature_sets: [syntax_knn, phonology_knn, inventory_knn, fam, geo]
    distance: cosine                    # cosine | angular
    low_resource: [sw]                  # + the most_distant languages farthest from English
    most_distant: 2
    bandwidth: null                     # kernel exp(-d/b); null = median pairwise distance
    iso639_3: {}                        # overrides of the ISO 639-1 -> 639-3 map
  volume:                               # itasks: [] whenever volume is not in run
    itasks: [cldr_region, cldr_currency]
    fractions: [0.1, 0.25, 0.5]
    targets: [xcat_pair, xcat_qa]
    subset_seed: 0
    include_baseline: true
  scaling:                              # study 3 off: models: [] (its stages are empty)
    models: []
    itasks: [none, cldr_region]
    targets: [xcat_pair]
  multilingual:                         # study 2 off: variants: {} (its stages are empty)
    variants: {}
    targets: [xcat_qa]
"""


def _project(tmp: Path, snippet: str) -> Path:
    return studies_project(tmp, yaml.safe_load(snippet)["studies"])


_stages = stage_names


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_switch_adds_and_removes_the_stages(tmp_path):
    (tmp_path / "on").mkdir()
    on = _stages(_project(tmp_path / "on", SNIPPET))
    assert {"study@complexity", "study@typology", "study@volume"} <= set(on)
    assert "volume_intermediate@cldr_region-0.25-0" in on
    assert sum(s.startswith("volume_target@") for s in on) == 2 * 3 * 2  # itasks x f x targets
    assert not [s for s in on if s.startswith("volume_evaluate@")]  # the target stage evaluates
    off = SNIPPET.replace("run: [complexity, typology, volume]", "run: [typology]") \
        .replace("itasks: [cldr_region, cldr_currency]", "itasks: []")
    (tmp_path / "off").mkdir()
    stages = _stages(_project(tmp_path / "off", off))
    studies = [s for s in stages if s.startswith(("study", "volume_"))]
    assert studies == ["study@typology"]
    assert set(on) - set(studies) >= {"report", "prepare_model"}


def test_snippet_inconsistent_switch_is_refused():
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["studies"] = yaml.safe_load(SNIPPET.replace("run: [complexity, typology, volume]",
                                                    "run: [complexity]"))["studies"]
    with pytest.raises(ValueError, match="volume.itasks must be"):
        parse_params(yaml.safe_dump(raw))
