import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY

import skdistill
from skdistill import BarycentricDistiller
from skdistill.methods import DistributionMatching


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
    assert [p.name for p in tmp_path.iterdir()] == ["skdistill-checkpoint.pt"]  # no temp files
    monkeypatch.setattr(DistributionMatching, "match", original)
    resumed = make(checkpoint_dir=tmp_path, checkpoint_every=2).fit(
        X, y, sensitive_features=groups, resume=True
    )
    np.testing.assert_array_equal(resumed.X_synthetic_, full.X_synthetic_)
    np.testing.assert_array_equal(resumed.history_.loss, full.history_.loss)
    assert resumed.n_iter_ == 6


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
def test_save_and_load_a_fitted_distiller(tabular, tmp_path):
    X, y, groups = tabular
    d = make(random_state=4).fit(X, y, sensitive_features=groups)
    path = d.save(tmp_path / "distiller.pkl")
    loaded = skdistill.load(path)
    np.testing.assert_array_equal(loaded.X_synthetic_, d.X_synthetic_)
    assert loaded.get_params() == d.get_params()
    info = json.loads((tmp_path / "distiller.pkl.json").read_text())
    assert info["params"]["random_state"] == 4 and info["torch_version"] == torch.__version__
    assert info["class_group_counts"]["0"]["a"] == int(np.sum((y == 0) & (groups == "a")))


def test_corrupted_or_unaccompanied_files_are_refused(tabular, tmp_path):
    X, y, groups = tabular
    path = make().fit(X, y, sensitive_features=groups).save(tmp_path / "d.pkl")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted or was modified"):
        skdistill.load(path)
    (tmp_path / "d.pkl.json").unlink()
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
