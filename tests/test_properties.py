import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skdistill import BarycentricDistiller
from skdistill._distiller import MSG_ONE_CLASS, MSG_SMALL_CLASS, MSG_TINY_CLASS


def as_regex(message):
    """A message constant as a regex: its ``{placeholders}`` match anything."""
    return re.compile(re.sub(r"\\\{.*?\\\}", ".*", re.escape(message)))


# the only errors a well-formed random table may raise: the documented class-size refusals
DOCUMENTED = [as_regex(m) for m in (MSG_ONE_CLASS, MSG_SMALL_CLASS, MSG_TINY_CLASS)]


@st.composite
def datasets(draw):
    n_classes = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 12), min_size=n_classes, max_size=n_classes))
    n_groups = draw(st.integers(1, 4))
    n_features = draw(st.integers(1, 4))
    n = sum(sizes)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["c0", "c1", "c2", "c3"])[:n_classes], sizes)
    groups = rng.integers(0, n_groups, n)
    scale = draw(st.sampled_from([0.0, 1e-3, 1.0, 1e3]))  # 0: constant columns
    X = rng.normal(size=(n, n_features)) * scale
    return X, y, groups


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=datasets(),
    ipc=st.integers(1, 4),
    target=st.sampled_from(["vanilla", "uniform", "fairdd", "cobra"]),
    init=st.sampled_from(["real", "random_real", "noise"]),
    batch_real=st.integers(1, 8),
)
def test_random_tables_fit_or_fail_as_documented(data, ipc, target, init, batch_real):
    X, y, groups = data
    X_before = X.copy()
    d = BarycentricDistiller(
        target=target,
        ipc=ipc,
        init=init,
        batch_real=batch_real,
        n_iter=2,
        net_width=4,
        net_depth=1,
        random_state=0,
    )
    try:
        X_syn, y_syn = d.fit_transform(X, y, sensitive_features=groups)
    except ValueError as exc:
        assert any(p.match(str(exc)) for p in DOCUMENTED), str(exc)
        sizes = np.unique(y, return_counts=True)[1]
        assert len(sizes) < 2 or sizes.min() < max(2, ipc)  # refused only when it must be
        return
    finally:
        np.testing.assert_array_equal(X, X_before)  # the input is never modified
    classes, counts = np.unique(y_syn, return_counts=True)
    assert list(classes) == sorted(set(y)) and (counts == ipc).all()
    assert X_syn.shape == (ipc * len(classes), X.shape[1]) and np.isfinite(X_syn).all()
