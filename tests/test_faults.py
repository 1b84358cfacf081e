"""Faults and trust: files that would run code, killed processes, locked and broken folders,
thread limits."""

import errno
import io
import json
import multiprocessing
import os
import pickle
import signal
import time
import warnings

import numpy as np
import pytest
import torch

import skdistill
from skdistill import BarycentricDistiller
from skdistill._persistence import (
    CHECKPOINT_NAME,
    CheckpointFolderError,
    CheckpointFolderLocked,
    read_checkpoint,
    sha256,
    stale_temporaries,
)
from skdistill._resources import available_cores


class Payload:
    """Unpickling this touches a file: proof that loading ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, obj, *, with_sidecar=True):
    """Write ``obj`` with pickle (or torch.save for .pt), and a valid sidecar as an attacker
    would: the checksum proves integrity, not origin."""
    if path.suffix == ".pt":
        torch.save(obj, path)
    else:
        path.write_bytes(pickle.dumps(obj))
    if with_sidecar:
        sidecar = {"sha256": sha256(path), "container": "numpy", "file": path.name}
        path.with_name(path.name + ".json").write_text(json.dumps(sidecar))


# ---------------------------------------------------------------- nothing from disk runs
def test_a_pickled_distiller_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.skd"
    plant(path, Payload(marker))
    with pytest.raises(ValueError, match=r"is a pickle.*trusted=True"):
        skdistill.load(path)
    assert not marker.exists()
    skdistill.load(path, trusted=True)  # explicit trust is what runs it
    assert marker.exists()


def test_an_archive_needing_unpickling_is_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "evil.skd"
    with open(path, "wb") as fh:
        np.savez(fh, skdistill=np.frombuffer(b"{}", np.uint8), x=np.array([Payload(marker)]))
    plant_sidecar = {"sha256": sha256(path)}
    path.with_name("evil.skd.json").write_text(json.dumps(plant_sidecar))
    with pytest.raises(ValueError, match="holds Python objects that loading would have to execute"):
        skdistill.load(path)
    assert not marker.exists()


def test_a_pickled_distiller_of_an_earlier_version_loads_when_trusted(tabular, tmp_path):
    X, y, groups = tabular
    d = BarycentricDistiller(ipc=2, n_iter=2, net_width=4, random_state=0)
    d.fit(X, y, sensitive_features=groups)
    path = tmp_path / "old.pkl"
    plant(path, d)
    with pytest.raises(ValueError, match="trusted=True"):
        skdistill.load(path)
    np.testing.assert_array_equal(skdistill.load(path, trusted=True).X_synthetic_, d.X_synthetic_)


def test_a_planted_checkpoint_is_refused_and_its_payload_never_runs(tabular, tmp_path):
    X, y, groups = tabular
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save({"fingerprint": Payload(marker)}, folder / CHECKPOINT_NAME)
    d = BarycentricDistiller(ipc=2, n_iter=2, net_width=4, checkpoint_dir=folder)
    with pytest.raises(ValueError, match=r"skdistill-checkpoint.pt holds Python objects"):
        d.fit(X, y, sensitive_features=groups, resume=True)
    assert not marker.exists()


def test_a_planted_synthetic_set_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "syn.pt"
    plant(path, {"X": torch.zeros(2, 3), "y": Payload(marker)})
    with pytest.raises(ValueError, match="holds Python objects"):
        skdistill.load_synthetic(path)
    assert not marker.exists()


def test_a_truncated_checkpoint_gets_a_clear_error(tabular, tmp_path):
    X, y, groups = tabular
    make = lambda: BarycentricDistiller(ipc=2, n_iter=4, net_width=4, checkpoint_dir=tmp_path)  # noqa: E731
    make().fit(X, y, sensitive_features=groups)
    path = tmp_path / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="cannot be read.*Delete it to start afresh"):
        make().fit(X, y, sensitive_features=groups, resume=True)


# ---------------------------------------------------------------- killed at any moment
def kill_data():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], 40)
    groups = np.where(rng.random(120) < 0.7, "a", "b")
    X = rng.normal(size=(120, 4)) + y[:, None] + (groups == "b")[:, None]
    return X, y, groups


KILL_PARAMS = dict(ipc=2, batch_real=24, net_width=8, net_depth=2, random_state=5)


def fit_in_child(folder, n_iter, pause_at_write, in_write):
    """Fit with a checkpoint every iteration; with ``pause_at_write=k``, the k-th checkpoint
    write stops halfway through its bytes (``in_write`` is set) until the process is killed."""
    if pause_at_write:
        save, calls = torch.save, {"n": 0}

        def half_then_wait(obj, fh, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] < pause_at_write:
                return save(obj, fh, *args, **kwargs)
            buffer = io.BytesIO()
            save(obj, buffer)
            data = buffer.getvalue()
            fh.write(data[: len(data) // 2])
            fh.flush()
            in_write.set()
            time.sleep(600)

        torch.save = half_then_wait
    else:  # at least 20 ms an iteration on any machine, so that a kill lands mid-fit
        from skdistill.methods import DistributionMatching

        match = DistributionMatching.match

        def slow_match(self, *args):
            time.sleep(0.02)
            return match(self, *args)

        DistributionMatching.match = slow_match
    X, y, groups = kill_data()
    d = BarycentricDistiller(
        n_iter=n_iter, checkpoint_dir=folder, checkpoint_every=1, **KILL_PARAMS
    )
    d.fit(X, y, sensitive_features=groups)


def wait_for_owner(folder, timeout=60):
    """Wait until a fit holds ``folder`` (its owner file exists)."""
    deadline = time.monotonic() + timeout
    while not (folder / "skdistill.lock.json").exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture(scope="module")
def forkserver():
    """Children forked from a server that imported skdistill once (fast to start).

    ``torch._dynamo`` too: torch imports it when the first optimizer is built (seconds),
    which would otherwise put every child's first seconds before its first iteration.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the forkserver start method (POSIX)")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["skdistill", "torch._dynamo", "test_faults"])
    return ctx


def test_sigkill_at_random_moments_then_resume_equals_the_uninterrupted_fit(tmp_path, forkserver):
    n_iter = 30
    X, y, groups = kill_data()
    reference = BarycentricDistiller(n_iter=n_iter, **KILL_PARAMS).fit(
        X, y, sensitive_features=groups
    )
    # the random kills spread over this machine's duration of the checkpointed fit (warm: the
    # reference fit has imported what a first fit imports, as the children have)
    start = time.monotonic()
    BarycentricDistiller(
        n_iter=n_iter, checkpoint_dir=tmp_path / "timed", checkpoint_every=1, **KILL_PARAMS
    ).fit(X, y, sensitive_features=groups)
    span = time.monotonic() - start
    rng = np.random.default_rng(0)
    outcomes = {"during a write": 0, "at a random moment": 0}
    killed_after = set()
    for trial in range(20):
        folder = tmp_path / f"trial{trial}"
        in_write = forkserver.Event()
        pause = int(rng.integers(1, n_iter)) if trial % 2 == 0 else 0
        child = forkserver.Process(target=fit_in_child, args=(folder, n_iter, pause, in_write))
        child.start()
        if pause:
            assert in_write.wait(60), "the child never reached its paused write"
        else:
            assert wait_for_owner(folder), "the child never started its fit"
            time.sleep(float(rng.uniform(0.0, 0.8 * span)))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        state = read_checkpoint(folder)  # loads, or is absent: never half-written
        done = 0 if state is None else len(state["history"]["loss"])
        if pause:
            assert done == pause - 1 and stale_temporaries(folder, CHECKPOINT_NAME)
        else:
            killed_after.add(done)
        outcomes["during a write" if pause else "at a random moment"] += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # killed before the first write
            resumed = BarycentricDistiller(
                n_iter=n_iter, checkpoint_dir=folder, checkpoint_every=1, **KILL_PARAMS
            ).fit(X, y, sensitive_features=groups, resume=True)
        np.testing.assert_array_equal(resumed.X_synthetic_, reference.X_synthetic_)
        np.testing.assert_array_equal(resumed.history_.loss, reference.history_.loss)
        assert not stale_temporaries(folder, CHECKPOINT_NAME)  # cleaned by the resumed fit
    assert outcomes == {"during a write": 10, "at a random moment": 10}
    assert len(killed_after) >= 4  # the random kills landed at different points of the fit


# ---------------------------------------------------------------- locks and broken folders
def test_a_second_fit_on_a_busy_folder_is_refused_and_a_dead_owner_releases_it(
    tmp_path, forkserver
):
    X, y, groups = kill_data()
    folder = tmp_path / "ckpt"
    unused = forkserver.Event()  # kept referenced until the child has started
    child = forkserver.Process(target=fit_in_child, args=(folder, 10**6, 0, unused))
    child.start()
    assert wait_for_owner(folder), "the child never started its fit"
    second = BarycentricDistiller(n_iter=2, checkpoint_dir=folder, **KILL_PARAMS)
    with pytest.raises(
        CheckpointFolderLocked, match=rf"in use by another fit \(process {child.pid} "
    ):
        second.fit(X, y, sensitive_features=groups)
    assert child.is_alive()  # the refused fit did not disturb the running one
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    # the lock file is still there, but its OS lock died with the process: not stale
    assert (folder / "skdistill.lock").exists()
    second.fit(X, y, sensitive_features=groups)
    assert second.n_iter_ == 2


def test_a_second_fit_in_the_same_process_is_refused(tabular, tmp_path):
    from skdistill._persistence import CheckpointFolder

    X, y, groups = tabular
    with CheckpointFolder(tmp_path):
        with pytest.raises(CheckpointFolderLocked, match=f"process {os.getpid()}"):
            BarycentricDistiller(n_iter=1, checkpoint_dir=tmp_path).fit(X, y)
    BarycentricDistiller(n_iter=1, net_width=4, checkpoint_dir=tmp_path).fit(X, y)


def test_an_unwritable_folder_fails_at_the_start_naming_it(tabular, tmp_path, monkeypatch):
    X, y, groups = tabular
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    d = BarycentricDistiller(n_iter=1, checkpoint_dir=blocker / "ckpt")
    seen = []
    monkeypatch.setattr("skdistill._distiller.validate", lambda *a, **k: seen.append(a))
    with pytest.raises(CheckpointFolderError, match=r"checkpoint_dir='.*a-file/ckpt' cannot be"):
        d.fit(X, y, sensitive_features=groups)
    assert not seen  # before the data was even read


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_fails_at_the_start(tabular, tmp_path, monkeypatch, code):
    X, y, groups = tabular

    def refuse(fd, data):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "write", refuse)
    with pytest.raises(CheckpointFolderError, match=os.strerror(code)):
        BarycentricDistiller(n_iter=1, checkpoint_dir=tmp_path).fit(X, y)


def test_a_disk_filling_up_mid_fit_stops_at_the_first_failed_write(tabular, tmp_path, monkeypatch):
    X, y, groups = tabular
    d = BarycentricDistiller(
        ipc=2, n_iter=6, net_width=4, checkpoint_dir=tmp_path, checkpoint_every=2
    )
    d.fit(X, y, sensitive_features=groups)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full)
    d.set_params(n_iter=10)
    with pytest.raises(CheckpointFolderError, match=r"failed after 8 iterations.*No space left"):
        d.fit(X, y, sensitive_features=groups, resume=True)
    assert d.n_iter_ == 8  # the estimator holds the last completed set
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before  # the old checkpoint is intact
    assert not stale_temporaries(tmp_path, CHECKPOINT_NAME)


# ---------------------------------------------------------------- threads
def test_threads_are_set_inside_fit_and_restored(tabular, monkeypatch):
    from skdistill.methods import DistributionMatching

    X, y, groups = tabular
    seen = []
    match = DistributionMatching.match

    def spy(self, *args):
        seen.append(torch.get_num_threads())
        return match(self, *args)

    monkeypatch.setattr(DistributionMatching, "match", spy)
    before = torch.get_num_threads()
    BarycentricDistiller(n_iter=1, net_width=4, n_threads=1).fit(X, y)
    BarycentricDistiller(n_iter=1, net_width=4).fit(X, y)
    assert seen == [1, max(1, available_cores() // 2)]
    assert torch.get_num_threads() == before


def test_bad_thread_counts_are_refused(tabular):
    X, y, _ = tabular
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="n_threads"):
            BarycentricDistiller(n_iter=1, n_threads=bad).fit(X, y)
