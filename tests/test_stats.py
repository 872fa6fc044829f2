"""Statistics against hand-checked and published values."""

import math

import numpy as np
import pytest

from ftwidgets.stats import (
    cohen_kappa,
    krippendorff_alpha,
    mcnemar_exact,
    paired_bootstrap,
    verdict_sentence,
    wilson_interval,
)


def test_mcnemar_hand_checked():
    # 10 items only the candidate passes, 2 only the baseline passes, 8 both pass.
    a = [0] * 10 + [1] * 2 + [1] * 8
    b = [1] * 10 + [0] * 2 + [1] * 8
    res = mcnemar_exact(a, b)
    assert (res.a_only, res.b_only) == (2, 10)
    # two-sided exact binomial: 2 * P(X <= 2 | n=12, p=1/2) = 2 * (1 + 12 + 66) / 4096
    assert res.p_value == pytest.approx(2 * 79 / 4096)
    assert round(res.p_value, 4) == 0.0386


def test_mcnemar_no_discordant_pairs_and_symmetry():
    assert mcnemar_exact([1, 0, 1], [1, 0, 1]).p_value == 1.0
    assert mcnemar_exact([1, 0], [0, 1]).p_value == 1.0
    assert (
        mcnemar_exact([1] * 5 + [0] * 3, [0] * 5 + [1] * 3).p_value
        == mcnemar_exact([0] * 5 + [1] * 3, [1] * 5 + [0] * 3).p_value
    )


def test_bootstrap_constant_difference_is_exact():
    res = paired_bootstrap([0.1, 0.2, 0.3, 0.4], [0.3, 0.4, 0.5, 0.6])
    assert res.delta == pytest.approx(0.2)
    assert res.low == pytest.approx(0.2) and res.high == pytest.approx(0.2)
    assert res.p_value == 0.0
    assert paired_bootstrap([1, 0, 1], [1, 0, 1]).p_value == 1.0


def test_bootstrap_matches_the_normal_approximation():
    # baseline never passes; candidate passes 60 of 100: delta 0.6, standard error sqrt(.6*.4/100) = 0.049
    a, b = [0] * 100, [1] * 60 + [0] * 40
    res = paired_bootstrap(a, b, resamples=20_000, seed=1)
    se = math.sqrt(0.6 * 0.4 / 100)
    assert res.delta == pytest.approx(0.6)
    assert res.low == pytest.approx(0.6 - 1.96 * se, abs=0.015)
    assert res.high == pytest.approx(0.6 + 1.96 * se, abs=0.015)
    assert res.p_value < 0.001


def test_bootstrap_no_difference_is_not_significant():
    rng = np.random.default_rng(0)
    a = rng.random(200)
    b = a + rng.normal(0, 0.1, 200)
    b -= (b - a).mean()  # zero mean difference
    res = paired_bootstrap(a, b, seed=3)
    assert res.low < 0 < res.high and res.p_value > 0.5


def test_bootstrap_refuses_unpaired_input():
    with pytest.raises(ValueError):
        paired_bootstrap([1, 2], [1])


def test_wilson_interval():
    iv = wilson_interval(0, 10)
    assert iv.estimate == 0 and iv.low == 0 and iv.high == pytest.approx(0.2775, abs=1e-4)
    assert math.isnan(wilson_interval(0, 0).estimate)


def test_cohen_kappa_textbook_example():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> po 0.7, pe 0.5, kappa 0.4
    r1 = ["y"] * 25 + ["n"] * 25
    r2 = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(r1, r2) == pytest.approx(0.4)
    assert cohen_kappa(["a", "b"], ["a", "b"]) == 1.0


def test_krippendorff_alpha_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders, 12 units, missing data,
    # nominal alpha = 0.743
    A = [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None]
    B = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3]
    C = [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None]
    D = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]
    units = list(zip(A, B, C, D))
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=0.001)


def test_krippendorff_alpha_perfect_and_chance():
    assert krippendorff_alpha([["a", "a"], ["b", "b"], ["a", "a"]]) == 1.0
    assert krippendorff_alpha([["a", "b"], ["b", "a"]]) < 0


def test_verdict_sentences():
    assert verdict_sentence("format compliance", 0.62, 0.55, 0.69, 0.0001).startswith("fine-tuned is better")
    assert verdict_sentence("accuracy", -0.2, -0.3, -0.1, 0.01).startswith("fine-tuned is worse")
    assert (
        verdict_sentence("token F1", 0.01, -0.01, 0.03, 0.3, points=False)
        == "no significant change in token F1: +0.010, 95% CI [-0.010, 0.030], p = 0.30"
    )
