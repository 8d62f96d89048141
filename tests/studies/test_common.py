"""Tidy table, bootstrap correlations and fits, sections and MLflow on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.studies.fabricate import params, write_eval
from xstilts.analysis.studies import common
from xstilts.core.params import StudyStats

ST = StudyStats(bootstrap_resamples=500, bootstrap_seed=0, alpha=0.05)


def test_load_scores_tidy_rows_and_missing_file(tmp_path):
    write_eval(tmp_path, "none", "xcat_qa", 0, "f1", {"en": 50.0, "de": 40.0})
    write_eval(tmp_path, "none", "xcat_qa", 1, "f1", {"en": 70.0, "de": 20.0})
    rows = common.load_scores(tmp_path)
    assert len(rows) == 4 and all(r.main and r.metric == "f1" for r in rows)
    assert common.cell_scores(rows) == {("none", "xcat_qa", "en"): 60.0,
                                        ("none", "xcat_qa", "de"): 30.0}
    with pytest.raises(FileNotFoundError, match="seed2"):
        common.load_scores(tmp_path, ["none"], ["xcat_qa"], [0, 2])


def test_perfect_linear_relation_gives_r_one_and_the_slope():
    x = np.arange(10.0)
    y = 3.0 - 2.5 * x
    c = common.correlate(x, y, ST)
    assert c.pearson == pytest.approx(-1.0) and c.spearman == pytest.approx(-1.0)
    assert c.pearson_ci == pytest.approx((-1.0, -1.0)) and c.n == 10
    f = common.fit_line(x, y, ST)
    assert f.slope == pytest.approx(-2.5) and f.intercept == pytest.approx(3.0)
    assert f.slope_ci == pytest.approx((-2.5, -2.5)) and f.r2 == pytest.approx(1.0)


def test_monotone_nonlinear_relation_spearman_one_pearson_below():
    x = np.arange(1.0, 12.0)
    c = common.correlate(x, np.exp(x), ST)
    assert c.spearman == pytest.approx(1.0) and c.pearson < 0.9


def test_noisy_relation_interval_covers_and_is_reproducible():
    rng = np.random.default_rng(1)
    x = rng.normal(size=200)
    y = 0.5 * x + rng.normal(size=200)
    a, b = common.correlate(x, y, ST, "k"), common.correlate(x, y, ST, "k")
    assert a == b
    lo, hi = a.pearson_ci
    assert lo < a.pearson < hi and lo > 0.2 and hi < 0.7
    f = common.fit_line(x, y, ST)
    assert f.slope_ci[0] < 0.5 < f.slope_ci[1]


def test_degenerate_input_is_nan_not_an_error():
    c = common.correlate([1, 1, 1, 1], [1, 2, 3, 4], ST)
    assert math.isnan(c.pearson) and c.valid_resamples == 0
    assert math.isnan(common.fit_line([1, 2], [3, 4], ST).slope)
    assert common.fmt(float("nan")) == "n/a" and common.fmt_ci((math.nan, 1.0)) == "n/a"


def test_section_renders_every_part(tmp_path):
    s = common.Section("T", "Q?", "M.", ["| a |\n|---|"], "x.png", ["s1"], "C.")
    text = s.render()
    for part in ("## T", "**Question.** Q?", "**Method.** M.", "| a |", "![T](x.png)", "- s1",
                 "**Caveat of scale.** C."):
        assert part in text
    r = common.StudyResult("t", s, {"a": {"b": float("nan"), "c": 1}})
    common.write_section(r, tmp_path)
    assert (tmp_path / "t.md").read_text() == text
    assert '"b": null' in (tmp_path / "t.json").read_text()


def test_log_study_one_parent_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    p = params()
    s = common.Section("T", "Q", "M", [], None, [], "C")
    (tmp_path / "t.md").write_text("x")
    r = common.StudyResult("complexity", s, {"corr": {"gap": {"pearson": 0.5, "n": 3}},
                                             "nan": float("nan")}, [tmp_path / "t.md"])
    run = common.log_study(p, "complexity", r, tmp_path)
    from mlflow.tracking import MlflowClient

    got = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run)
    assert got.data.tags["study"] == "complexity" and got.data.tags["phase"] == "study"
    assert got.data.metrics == {"corr/gap/pearson": 0.5, "corr/gap/n": 3.0}


def test_vectorised_resample_statistics_equal_scipy():
    from scipy import stats as ss

    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(20, 12)).astype(float)  # ties on purpose
    y = x + rng.normal(size=(20, 12))
    r = common._rows_pearson(x, y)
    rho = common._rows_pearson(common._ranks(x), common._ranks(y))
    for i in range(20):
        assert r[i] == pytest.approx(ss.pearsonr(x[i], y[i]).statistic)
        assert rho[i] == pytest.approx(ss.spearmanr(x[i], y[i]).statistic)
