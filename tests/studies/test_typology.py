"""Study 5: the selection rule matches the oracle when distances are informative; regression of
gain on distance recovers a known slope; URIEL distances from lang2vec."""

from __future__ import annotations

import numpy as np
import pytest

from tests.studies.fabricate import grid, params, write_dev
from xstilts.analysis.studies import typology

LANGS = ["en", "de", "es", "sw", "ar"]
NEAR, FAR = ("de", "es"), ("sw", "ar")  # de, es close to English; sw, ar far, close to each other
X, Y = "cldr_region", "cldr_currency"
GAIN = {X: {"de": -5.0, "es": -5.0, "sw": 10.0, "ar": 10.0},  # X helps the far languages
        Y: {"de": 5.0, "es": 5.0, "sw": -5.0, "ar": -5.0}}  # Y the near ones (and English dev)


def fake_distances(langs, tp):
    def d(a, b):
        if a == b:
            return 0.0
        group = {lang: (0 if lang in ("en", *NEAR) else 1) for lang in langs}
        return 0.1 if group[a] == group[b] else 0.9

    m = np.array([[d(a, b) for b in langs] for a in langs])
    return {"syntax_knn": m, "uriel": m}


def _fabricate(p, tmp_path, gain=GAIN):
    ev, dev = tmp_path / "eval", tmp_path / "dev"

    def score(itask, target, lang, seed):
        return 50.0 + (gain[itask][lang] if itask != "none" and lang != "en" else 0.0)

    grid(p, ev, LANGS, score)
    for target in p.target.tasks:
        write_dev(dev, f"target/none/{target}", 0, 50.0)
        write_dev(dev, f"target/{X}/{target}", 0, 45.0)
        write_dev(dev, f"target/{Y}/{target}", 0, 55.0)
    return ev, dev


def _params():
    return params({"typology": {"low_resource": ["sw"], "most_distant": 1}})


def test_selection_matches_oracle_when_distances_are_informative(tmp_path):
    p = _params()
    ev, dev = _fabricate(p, tmp_path)
    res = typology.analyse(p, tmp_path / "out", ev, dev, dist_fn=fake_distances)
    assert res.metrics["low_resource"] == ["sw", "ar"]
    sel = res.metrics["selection"]
    assert len(sel) == 2 * len(p.target.tasks)
    for s in sel:
        assert s["oracle"] == X and s["method"] == X  # the close far language (LOLO) says X
        assert s["english_only"] == Y  # English dev prefers Y
        assert s["uniform"] == Y  # without distances the three near signals outvote
        assert s["regret_method"] == 0.0 and s["regret_english_only"] == pytest.approx(15.0)
    summ = res.metrics["selection_summary"]
    assert summ["method_matches_oracle"] == 1.0 and summ["english_only_matches_oracle"] == 0.0
    # gain = -5 at distance 0.1 and +10 at 0.9: slope 15 / 0.8, R² = 1
    fit = res.metrics["regression"][X]["fit"]
    assert fit["slope"] == pytest.approx(18.75) and fit["r2"] == pytest.approx(1.0)
    assert fit["intercept"] == pytest.approx(-6.875)
    assert res.metrics["regression"][Y]["fit"]["slope"] == pytest.approx(-12.5)
    md = (tmp_path / "out" / "typology.md").read_text()
    assert "| xcat_pair | sw | 0.900 | cldr_region | +10.0 | cldr_currency | -5.0 |" in md
    assert (tmp_path / "out" / "typology.png").stat().st_size > 0


def test_own_test_scores_are_never_read():
    g = {X: {"sw": 1000.0, "ar": 10.0, "de": -5.0}, Y: {"sw": -1000.0, "ar": -5.0, "de": 5.0}}
    dist = {(a, b): (0.0 if a == b else 0.5) for a in ["en", "sw", "ar", "de"]
            for b in ["en", "sw", "ar", "de"]}
    _, pred = typology.select(g, {X: 0.0, Y: 0.0}, "sw", dist, 0.5)
    g[X]["sw"], g[Y]["sw"] = -1000.0, 1000.0
    _, pred2 = typology.select(g, {X: 0.0, Y: 0.0}, "sw", dist, 0.5)
    assert pred == pred2
    assert pred[X] == pytest.approx((0 + 10 - 5) / 3)


def test_lang2vec_distances_and_codes():
    tp = _params().studies.typology
    codes = typology.iso639_3(["en", "de", "sw", "zh", "ar"])
    assert codes == {"en": "eng", "de": "deu", "sw": "swh", "zh": "cmn", "ar": "arb"}
    d = typology.distances(["en", "de", "sw"], tp)
    assert set(d) == {*tp.feature_sets, "uriel"}
    u = d["uriel"]
    assert np.allclose(u, u.T) and np.allclose(np.diag(u), 0.0)
    assert 0 < u[0, 1] < u[0, 2] <= 1  # German is closer to English than Swahili
    with pytest.raises(ValueError, match="iso639_3"):
        typology.iso639_3(["qq"])
