import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY
from sklearn.base import BaseEstimator

import skdistill
from skdistill import BarycentricDistiller
from skdistill.methods import IDC, DistributionMatching
from skdistill.targets import CobraTarget


def make(**params):
    kw = dict(TINY, ipc=3, n_iter=6)
    kw.update(params)
    return BarycentricDistiller(**kw)


def interrupt_at(monkeypatch, call):
    original = DistributionMatching.match
    calls = {"n": 0}

    def flaky(self, *args):
        calls["n"] += 1
        if calls["n"] == call:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(DistributionMatching, "match", flaky)
    return original


# ---------------------------------------------------------------- checkpoints and resume
def test_resumed_run_equals_an_uninterrupted_run(tabular, tmp_path, monkeypatch):
    X, y, groups = tabular
    full = make().fit(X, y, sensitive_features=groups)
    original = interrupt_at(monkeypatch, 6)  # iterations 1-5 complete, checkpoint every 2
    with pytest.warns(RuntimeWarning, match="interrupted after 5 of 6.*resume=True"):
        part = make(checkpoint_dir=tmp_path, checkpoint_every=2).fit(
            X, y, sensitive_features=groups
        )
    assert part.n_iter_ == 5
    # no temporary file is left; the lock file stays (an OS lock is released, never deleted)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["skdistill-checkpoint.pt", "skdistill.lock"]
    monkeypatch.setattr(DistributionMatching, "match", original)
    resumed = make(checkpoint_dir=tmp_path, checkpoint_every=2).fit(
        X, y, sensitive_features=groups, resume=True
    )
    np.testing.assert_array_equal(resumed.X_synthetic_, full.X_synthetic_)
    np.testing.assert_array_equal(resumed.history_.loss, full.history_.loss)
    assert resumed.n_iter_ == 6
    # the fit time counts the interrupted call's iterations too, as the history does
    assert resumed.fit_time_ >= resumed.history_["seconds"].iloc[-1]


def test_resume_extends_a_finished_run(images, tmp_path):
    X, y, groups = images
    long = make(n_iter=5).fit(X, y, sensitive_features=groups)
    make(n_iter=3, checkpoint_dir=tmp_path).fit(X, y, sensitive_features=groups)
    extended = make(n_iter=5, checkpoint_dir=tmp_path).fit(
        X, y, sensitive_features=groups, resume=True
    )
    np.testing.assert_array_equal(extended.X_synthetic_, long.X_synthetic_)


def test_resume_refuses_other_data_or_parameters(tabular, tmp_path):
    X, y, groups = tabular
    make(checkpoint_dir=tmp_path).fit(X, y, sensitive_features=groups)
    with pytest.raises(ValueError, match=r"other parameters \(target\)"):
        make(checkpoint_dir=tmp_path, target="vanilla").fit(
            X, y, sensitive_features=groups, resume=True
        )
    with pytest.raises(ValueError, match="other data"):
        make(checkpoint_dir=tmp_path).fit(X + 1, y, sensitive_features=groups, resume=True)
    with pytest.raises(ValueError, match="more than n_iter=2"):
        make(checkpoint_dir=tmp_path, n_iter=2).fit(X, y, sensitive_features=groups, resume=True)


def test_resume_needs_a_folder_and_warns_without_checkpoint(tabular, tmp_path):
    X, y, groups = tabular
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        make().fit(X, y, resume=True)
    with pytest.warns(RuntimeWarning, match="holds no checkpoint; starting afresh"):
        d = make(checkpoint_dir=tmp_path / "new").fit(X, y, resume=True)
    assert d.n_iter_ == 6


# ---------------------------------------------------------------- saved distillers
def assert_same_state(a, b):
    """Every attribute of two distillers equal, values and types."""
    assert sorted(vars(a)) == sorted(vars(b))
    for name, v in vars(a).items():
        w = vars(b)[name]
        assert type(v) is type(w), name
        if isinstance(v, pd.DataFrame):
            pd.testing.assert_frame_equal(v, w)
        elif isinstance(v, pd.Series):
            pd.testing.assert_series_equal(v, w)
        elif torch.is_tensor(v):
            assert torch.equal(v, w) and v.dtype == w.dtype, name
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, w)
            assert v.dtype == w.dtype, name
        elif name == "_codec":
            for field in ("mean", "scale"):
                np.testing.assert_array_equal(getattr(v, field), getattr(w, field))
            assert v.value_range == w.value_range and v.sample_shape == w.sample_shape
            assert v.columns == w.columns and v.column_dtypes == w.column_dtypes
            assert np.dtype(v.dtype or "O") == np.dtype(w.dtype or "O")
        elif name == "group_imputation_" and v is not None:
            np.testing.assert_array_equal(v["imputed"], w["imputed"])
            np.testing.assert_array_equal(v["codes"], w["codes"])
        elif name == "_engine_state":
            assert_same_tree(v, w, name)
        elif isinstance(v, BaseEstimator):  # a method spec or a target: same parameters
            assert repr(v.get_params()) == repr(w.get_params()), name
        else:
            assert v == w, name


def assert_same_tree(v, w, where):
    """Nested dicts and lists of tensors and plain values, equal leaf by leaf."""
    if isinstance(v, dict):
        assert sorted(v, key=repr) == sorted(w, key=repr), where
        for key in v:
            assert_same_tree(v[key], w[key], f"{where}[{key!r}]")
    elif isinstance(v, (list, tuple)):
        assert len(v) == len(w), where
        for i, (a, b) in enumerate(zip(v, w)):
            assert_same_tree(a, b, f"{where}[{i}]")
    elif torch.is_tensor(v):
        assert torch.equal(v, w) and v.dtype == w.dtype, where
    else:
        assert v == w and type(v) is type(w), where


def test_save_and_load_a_fitted_distiller(tabular, tmp_path):
    X, y, groups = tabular
    d = make(random_state=4).fit(X, y, sensitive_features=groups)
    path = d.save(tmp_path / "distiller.skd")
    loaded = skdistill.load(path)
    np.testing.assert_array_equal(loaded.X_synthetic_, d.X_synthetic_)
    assert loaded.get_params() == d.get_params()
    assert_same_state(loaded, d)
    info = json.loads((tmp_path / "distiller.skd.json").read_text())
    assert info["params"]["random_state"] == 4 and info["torch_version"] == torch.__version__
    assert info["class_group_counts"]["0"]["a"] == int(np.sum((y == 0) & (groups == "a")))


@pytest.mark.parametrize("case", ["pandas", "images", "torch-idc", "imputed"])
def test_saved_distillers_hold_every_attribute(tabular, images, tmp_path, case):
    """Every input container, a DSA object, dict weights and imputed groups survive the
    pickle-free format; the loaded distiller transforms and refits like the original."""
    from skdistill.methods.augment import DSA

    if case == "pandas":
        X, y, groups = tabular
        X = pd.DataFrame(X, columns=["a", "b", "c", 4, "e"]).astype({"c": "float32"})
        X["b"] = (X["b"] > 0).astype(int)
        y = pd.Series(pd.Categorical(np.array(["no", "yes", "maybe"])[y]), name="answer")
        d = make(target=CobraTarget(weights={"a": 1.0, "b": 3.0}))
    elif case == "images":
        X, y, groups = images
        d = make(augment=DSA(pairing="per_sample", rotate=5.0), device=torch.device("cpu"))
    elif case == "torch-idc":
        X, y, groups = images
        X = torch.as_tensor(X).permute(0, 3, 1, 2).float()
        d = make(method=IDC(factor=2, outer_loop=2, inner_loop=1), ipc=1, n_iter=1)
    else:
        X, y, groups = images
        groups = groups.astype(float)
        groups[:6] = np.nan
        d = make(missing_groups="impute")
    d.fit(X, y, sensitive_features=groups)
    loaded = skdistill.load(d.save(tmp_path / "d.skd"))
    assert_same_state(loaded, d)
    X_a, y_a = d.X_synthetic_, d.y_synthetic_
    X_b, y_b = loaded.X_synthetic_, loaded.y_synthetic_
    if torch.is_tensor(X_a):
        assert torch.equal(X_a, X_b)
    else:
        np.testing.assert_array_equal(np.asarray(X_a), np.asarray(X_b))
    np.testing.assert_array_equal(np.asarray(y_a), np.asarray(y_b))
    refit = skdistill.load(tmp_path / "d.skd").fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(np.asarray(refit.X_synthetic_), np.asarray(d.X_synthetic_))


def test_saving_refuses_what_only_pickle_could_store(tabular, tmp_path):
    X, y, groups = tabular
    d = make(random_state=np.random.RandomState(0)).fit(X, y, sensitive_features=groups)
    with pytest.raises(ValueError, match=r"random_state.*RandomState.*set it to a plain value"):
        d.save(tmp_path / "d.skd")
    assert not (tmp_path / "d.skd").exists()


def test_corrupted_or_unaccompanied_files_are_refused(tabular, tmp_path):
    X, y, groups = tabular
    path = make().fit(X, y, sensitive_features=groups).save(tmp_path / "d.skd")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted or was modified"):
        skdistill.load(path)
    (tmp_path / "d.skd.json").unlink()
    with pytest.raises(ValueError, match="no provenance file"):
        skdistill.load(path)


def test_fitted_state_holds_no_device_tensors(tabular):
    X, y, groups = tabular
    d = make().fit(torch.as_tensor(X), y, sensitive_features=groups)
    tensors = [v for v in vars(d).values() if torch.is_tensor(v)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    pickle.loads(pickle.dumps(d))


# ---------------------------------------------------------------- saved synthetic sets
@pytest.mark.parametrize("suffix", [".npz", ".pt"])
@pytest.mark.parametrize("container", ["numpy", "pandas", "torch"])
def test_synthetic_set_round_trip(tabular, tmp_path, suffix, container):
    X, y, groups = tabular
    labels = np.array(["p", "q", "r"])[y]
    if container == "pandas":
        X, labels = pd.DataFrame(X, columns=list("abcde")), pd.Series(labels, name="kind")
    elif container == "torch":
        X = torch.as_tensor(X)
    d = make().fit(X, labels, sensitive_features=groups)
    path = d.save_synthetic(tmp_path / f"syn{suffix}")
    X_s, y_s, info = skdistill.load_synthetic(path)
    if container == "pandas":
        pd.testing.assert_frame_equal(X_s, d.X_synthetic_)
        pd.testing.assert_series_equal(y_s, d.y_synthetic_)
    elif container == "torch":
        torch.testing.assert_close(X_s, d.X_synthetic_)
    else:
        np.testing.assert_array_equal(X_s, d.X_synthetic_)
    assert list(np.asarray(y_s)) == list(np.asarray(d.y_synthetic_))
    assert info["n_synthetic"] == 9 and info["classes"] == ["p", "q", "r"]
    assert info["groups"] == ["a", "b"] and len(info["sha256"]) == 64


def test_synthetic_set_checks(tabular, tmp_path):
    X, y, groups = tabular
    d = make().fit(X, y, sensitive_features=groups)
    with pytest.raises(ValueError, match="must end in '.npz' or '.pt'"):
        d.save_synthetic(tmp_path / "syn.csv")
    path = d.save_synthetic(tmp_path / "syn.npz")
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match="corrupted"):
        skdistill.load_synthetic(path)
