import numpy as np
import pytest

from skdistill.datasets import (
    GAP_STEPS,
    apply_gap,
    apply_offset,
    corrupt_groups,
    hide_groups,
    make_biased_classification,
    make_skewed,
)


@pytest.mark.parametrize("skew", [0.5, 0.7, 0.85, 0.95])
def test_make_skewed_sets_the_majority_fraction(skew):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 3000)
    a = rng.integers(0, 4, 3000)
    idx = make_skewed(y, a, skew, majority={0: 0, 1: 1, 2: 2}, random_state=0)
    for cls in range(3):
        groups = a[idx][y[idx] == cls]
        assert np.mean(groups == cls) == pytest.approx(skew, abs=0.01)
    assert np.all(np.diff(idx) > 0)


def test_make_skewed_extremes_and_errors():
    y = np.repeat([0, 1], 50)
    a = np.tile([0, 1], 50)
    assert set(a[make_skewed(y, a, 1.0, random_state=0)]) == {0}
    with pytest.raises(ValueError, match="skew"):
        make_skewed(y, a, 1.5)


@pytest.fixture
def gap_images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (12, 3, 10, 10), dtype=np.uint8)
    groups = np.array(["maj"] * 8 + ["min"] * 4)
    return X, groups


def test_gap_zero_returns_identical_groups(gap_images):
    X, groups = gap_images
    out = apply_gap(X, groups, 0, random_state=0)
    np.testing.assert_array_equal(out, X)
    assert out is not X


@pytest.mark.parametrize("severity", [1, 2, 3, 4])
def test_gap_is_monotonically_nested(gap_images, severity):
    """Severity k = severity k-1 followed by the steps of level k, and only the minority moves."""
    from skdistill.datasets._generators import _gap_step

    X, groups = gap_images
    lower = apply_gap(X, groups, severity - 1, random_state=3)
    upper = apply_gap(X, groups, severity, random_state=3)
    np.testing.assert_array_equal(upper[:8], X[:8])  # the reference group stays clean
    assert not np.array_equal(upper[8:], lower[8:])
    # replay: every step of lower severities, then level k's steps, reproduce `upper`
    seed = np.random.RandomState(3).randint(2**31 - 1)
    images = X[8:].astype(np.float64)
    for level, steps in enumerate(GAP_STEPS[:severity]):
        for k, step in enumerate(steps):
            images = _gap_step(images, step, 0.0, 255.0, np.random.default_rng([seed, level, k]))
        if level == severity - 2:
            np.testing.assert_array_equal(np.rint(images).astype(np.uint8), lower[8:])
    np.testing.assert_array_equal(np.rint(images).astype(np.uint8), upper[8:])


def test_gap_steps_do_what_the_paper_says(gap_images):
    X, groups = gap_images
    one = apply_gap(X, groups, 1, random_state=0)
    np.testing.assert_array_equal(one[8:], X[8:][:, [1, 2, 0]])  # [R, G, B] -> [G, B, R]
    two = apply_gap(X, groups, 2, random_state=0)
    idx = np.arange(10)
    assert (two[8:][:, :, idx, idx] == 255).all()  # a diagonal line
    with pytest.raises(ValueError, match="severity"):
        apply_gap(X, groups, 5)


def test_offset_shifts_only_the_other_groups_by_gamma(gap_images):
    X, groups = gap_images
    X = X.astype(np.float32) / 255 * 0.5  # room to shift without clipping
    X[0, 0, 0, 0], X[0, 0, 0, 1] = 0.0, 1.0  # value range [0, 1]
    out = apply_offset(X, groups, 2.0, strength=0.1)
    np.testing.assert_array_equal(out[:8], X[:8])
    np.testing.assert_allclose(out[8:, 0] - X[8:, 0], 0.2, atol=1e-6)  # gamma * 0.1 * range
    np.testing.assert_array_equal(out[8:, 1:], X[8:, 1:])
    np.testing.assert_array_equal(apply_offset(X, groups, 0.0), X)


@pytest.mark.parametrize("skew", [0.5, 0.9])
def test_biased_classification_imbalance_and_separation(skew):
    X, y, a = make_biased_classification(
        4000, 5, n_classes=2, n_groups=2, skew=skew, separation=3.0, random_state=0
    )
    for cls in range(2):
        assert np.mean(a[y == cls] == cls) == pytest.approx(skew, abs=0.01)
    gap = np.linalg.norm(X[(y == 0) & (a == 1)].mean(0) - X[(y == 0) & (a == 0)].mean(0))
    assert gap == pytest.approx(3.0, abs=0.3)
    Xb, _, _ = make_biased_classification(4000, 5, skew=0.5, separation=3.0, random_state=0)
    Xs, _, _ = make_biased_classification(4000, 5, skew=0.9, separation=3.0, random_state=0)
    # same seed, same geometry: class-0/group-0 means agree across skews
    assert Xb.shape == Xs.shape


def test_group_label_corruptions_are_exported_with_masks():
    a = np.repeat(["x", "y", "z"], 100)
    noisy, flipped = corrupt_groups(a, 0.2, random_state=0)
    assert flipped.mean() == pytest.approx(0.2) and (noisy[flipped] != a[flipped]).all()
    hidden, known = hide_groups(a, 0.3, random_state=0)
    assert known.mean() == pytest.approx(0.3)


def _reference_colour(groups):
    names, counts = np.unique(groups, return_counts=True)
    return names[np.argmax(counts)]


@pytest.mark.parametrize("severity", [0, 1, 3])
def test_gap_sweep_corrupts_the_test_split_like_the_training_split(severity):
    """The GAP sweep's corrupted group looks different in train AND test (COBRA paper, 5.2)."""
    from skdistill.benchmark import load_benchmark_dataset

    clean = load_benchmark_dataset("digits-bg")
    gapped = load_benchmark_dataset("digits-bg", gap=severity)
    reference = _reference_colour(clean.A_train)  # the training split's most frequent colour
    for split in ("train", "test"):
        groups = clean[f"A_{split}"]
        changed = np.any(clean[f"X_{split}"] != gapped[f"X_{split}"], axis=(1, 2, 3))
        assert not changed[groups == reference].any(), split  # the reference group stays clean
        if severity == 0:
            assert not changed.any(), split
        else:
            assert changed[groups != reference].all(), split
    # the training split is the one the sweep always used: cached synthetic sets stay valid
    expected = apply_gap(clean.X_train, clean.A_train, severity, random_state=0)
    np.testing.assert_array_equal(gapped.X_train, expected)


@pytest.mark.parametrize("severity", [0, 1, 3, 4])
def test_gap_split_corrupts_both_splits_of_the_same_groups(gap_images, severity):
    from sklearn.utils import Bunch

    from skdistill.datasets import gap_split

    X, groups = gap_images
    X_test = X[::-1].copy()
    groups_test = np.array(["maj"] * 4 + ["min"] * 8)  # "min" is the test split's majority
    data = Bunch(
        X_train=X,
        sensitive_features_train=groups,
        X_test=X_test,
        sensitive_features_test=groups_test,
        DESCR="toy",
    )
    out = gap_split(data, severity, random_state=0)
    assert out.gap_reference == "maj" and out.gap_severity == severity  # chosen on train
    assert out.DESCR == "toy" and data.X_train is X and data.X_test is X_test  # input kept
    for split, x, a in (("train", X, groups), ("test", X_test, groups_test)):
        changed = np.any(out[f"X_{split}"] != x, axis=(1, 2, 3))
        assert not changed[a == "maj"].any(), split
        assert changed[a == "min"].all() if severity else not changed.any(), split
    np.testing.assert_array_equal(out.X_train, apply_gap(X, groups, severity, random_state=0))
    # the test images get the same steps (same group, same severity), their own noise draw
    same = gap_split(
        Bunch(X_train=X, sensitive_features_train=groups, X_test=X, sensitive_features_test=groups),
        severity,
        random_state=0,
    )
    if severity < 3:  # no noise: identical images are corrupted identically
        np.testing.assert_array_equal(same.X_test, same.X_train)
    else:
        assert not np.array_equal(same.X_test, same.X_train)
        np.testing.assert_array_equal(same.X_test[:8], same.X_train[:8])
    with pytest.raises(ValueError, match="severity"):
        gap_split(data, 5)
