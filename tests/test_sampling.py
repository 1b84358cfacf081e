import numpy as np

from skdistill._sampling import ClassGroupIndex


def make_index():
    # class 0: group 0 x 50, group 1 x 3; class 1: group 0 x 10, group 1 x 40, group 2 x 1 (#103)
    classes = np.array([0] * 53 + [1] * 51)
    groups = np.array([0] * 50 + [1] * 3 + [0] * 10 + [1] * 40 + [2] * 1)
    return ClassGroupIndex(classes, groups, 2, 3), classes, groups


def test_counts_and_groups_per_class():
    index, _, _ = make_index()
    np.testing.assert_array_equal(index.counts, [[50, 3, 0], [10, 40, 1]])
    np.testing.assert_array_equal(index.groups_per_class, [2, 3])


def test_stratified_batch_keeps_every_group_and_the_batch_size():
    index, classes, groups = make_index()
    seen = set()
    for seed in range(20):
        batch = index.sample(np.random.default_rng(seed), 16, stratified=True)
        assert len(set(batch)) == len(batch)
        cells = np.bincount(classes[batch] * 3 + groups[batch], minlength=6).reshape(2, 3)
        # small groups give everything, the others share the rest of the 16 evenly
        np.testing.assert_array_equal(cells[0], [13, 3, 0])
        assert cells[1, 2] == 1 and sorted(cells[1, :2]) == [7, 8]
        seen.add(tuple(cells[1, :2]))
    # the one-sample remainder goes to either group, at random
    assert seen == {(7, 8), (8, 7)}


def test_stratified_batch_matches_uniform_batch_size():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 10, 5000)
    groups = rng.integers(0, 10, 5000)
    index = ClassGroupIndex(classes, groups, 10, 10)
    for batch_real in (1, 7, 64, 256):
        a = index.sample(np.random.default_rng(1), batch_real, stratified=True)
        b = index.sample(np.random.default_rng(1), batch_real, stratified=False)
        np.testing.assert_array_equal(np.bincount(classes[a]), np.bincount(classes[b]))
    base, extra, _ = index.quotas(64)
    assert (base.sum(1) + extra == 64).all() and (base >= 6).all() and (base <= 7).all()


def test_uniform_batch_draws_batch_real_per_class():
    index, classes, _ = make_index()
    batch = index.sample(np.random.default_rng(0), 20, stratified=False)
    np.testing.assert_array_equal(np.bincount(classes[batch]), [20, 20])
    # a class smaller than batch_real contributes all of its samples
    batch = index.sample(np.random.default_rng(0), 52, stratified=False)
    np.testing.assert_array_equal(np.bincount(classes[batch]), [52, 51])


def test_sampling_is_seeded_and_varies():
    index, _, _ = make_index()
    a = index.sample(np.random.default_rng(3), 16, stratified=True)
    b = index.sample(np.random.default_rng(3), 16, stratified=True)
    c = index.sample(np.random.default_rng(4), 16, stratified=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.sort(a), np.sort(c))


def test_balanced_pick_cycles_through_groups():
    index, _, groups = make_index()
    pick = index.balanced_pick(1, 6, np.random.default_rng(0))
    assert len(set(pick)) == 6
    # three groups present: the lone group-2 sample is always taken, groups 0 and 1 alternate
    counts = np.bincount(groups[pick], minlength=3)
    assert counts[2] == 1 and 103 in pick
    assert sorted(counts[:2]) == [2, 3]
