"""``skdistill distill --config job.yaml``, in one process and under torchrun."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch.distributed as dist

from skdistill import BarycentricDistiller, load_synthetic
from skdistill._job import MSG_JOB_KEYS, MSG_JOB_LABELS
from skdistill.cli import main

PARAMS = dict(method="dm", target="cobra", ipc=2, n_iter=3, batch_real=8, net_width=4)
PARAMS.update(net_depth=2, random_state=0, device="cpu", n_threads=1)
DATA_FILES = dict(data="x", labels="y", groups="g")


def _data(folder):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    y, groups = np.repeat([0, 1, 2], 20), np.tile([0, 1, 1], 20)
    for name, values in dict(x=X, y=y, g=groups).items():
        np.save(folder / f"{name}.npy", values)
    return X, y, groups


def _job(folder, **settings):
    path = folder / "job.json"
    path.write_text(json.dumps({**PARAMS, **settings}), encoding="utf-8")
    return path


def _expected(X, y, groups):
    return BarycentricDistiller(**PARAMS).fit(X, y, sensitive_features=groups).X_synthetic_


def test_job_on_a_memory_mapped_file(tmp_path, capsys):
    X, y, groups = _data(tmp_path)
    out = tmp_path / "out" / "synthetic.npz"
    files = {name: str(tmp_path / f"{key}.npy") for name, key in DATA_FILES.items()}
    job = _job(tmp_path, **files, output=str(out))
    assert main(["distill", "--config", str(job)]) == 0
    assert "written to" in capsys.readouterr().out
    np.testing.assert_allclose(load_synthetic(out)[0], _expected(X, y, groups), atol=1e-6)


def test_job_on_shards_in_yaml(tmp_path):
    pytest.importorskip("webdataset")
    pytest.importorskip("yaml")
    from skdistill.datasets import write_shards

    X, y, groups = _data(tmp_path)
    write_shards(X, y, groups, tmp_path / "shards")
    lines = [f"{k}: {v}" for k, v in PARAMS.items()]
    lines += [f"data: {tmp_path / 'shards'}", f"output: {tmp_path / 'syn.npz'}"]
    (tmp_path / "job.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["distill", "--config", str(tmp_path / "job.yaml"), "--quiet"]) == 0
    np.testing.assert_allclose(
        load_synthetic(tmp_path / "syn.npz")[0], _expected(X, y, groups), atol=1e-6
    )


def test_job_errors_name_what_is_missing(tmp_path, capsys):
    _data(tmp_path)
    job = _job(tmp_path, data=str(tmp_path / "x.npy"))
    assert main(["distill", "--config", str(job)]) == 2
    assert MSG_JOB_KEYS.format(path=job, missing="output") in capsys.readouterr().err
    job = _job(tmp_path, data=str(tmp_path / "x.npy"), output=str(tmp_path / "s.npz"))
    assert main(["distill", "--config", str(job)]) == 2
    assert MSG_JOB_LABELS.format(data=str(tmp_path / "x.npy")) in capsys.readouterr().err


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="no gloo backend"
)
def test_torchrun_two_processes_write_the_single_process_set(tmp_path):
    X, y, groups = _data(tmp_path)
    out = tmp_path / "torchrun.npz"
    files = {name: str(tmp_path / f"{key}.npy") for name, key in DATA_FILES.items()}
    job = _job(tmp_path, **files, output=str(out))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node=2", "-m", "skdistill", "distill", "--config", str(job)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("written to") == 1  # rank 0 alone reports (and writes)
    np.testing.assert_allclose(load_synthetic(out)[0], _expected(X, y, groups), atol=1e-5)
