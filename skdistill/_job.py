"""A distillation job described by a configuration file: ``skdistill distill --config job.yaml``.

The same command runs in one process or under ``torchrun``: when the launcher's environment
(``WORLD_SIZE`` above 1) is present, the job joins the process group (gloo on the CPU, nccl on
CUDA devices) and the fit is data-parallel (:mod:`skdistill._distributed`); rank 0 writes the
output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from ._distributed import is_main_process
from ._optional import import_optional

#: Keys of a job file other than the distiller's parameters.
JOB_KEYS = ("data", "labels", "groups", "output", "backend")
MSG_JOB_KEYS = (
    "the job file {path} lacks {missing}: it needs data (a shard folder, an image folder or a "
    ".npy file) and output (the synthetic set's .npz or .pt file)."
)
MSG_JOB_LABELS = (
    "data={data!r} is a .npy file, so the job needs labels: a .npy file of one class per "
    "sample (and optionally groups, a .npy file of one group per sample)."
)
MSG_JOB_DATA = "data={data!r} is neither a folder nor a .npy file; pass one of them."
MSG_JOB_FORMAT = "the job file must be a mapping of settings (YAML or JSON); {path} holds a {got}."


def read_job(path):
    """The settings of a job file (YAML, or JSON by its suffix), checked for the needed keys."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        job = json.loads(text)
    else:
        job = import_optional("yaml", "distributed", "a YAML job file").safe_load(text)
    if not isinstance(job, dict):
        raise ValueError(MSG_JOB_FORMAT.format(path=path, got=type(job).__name__))
    missing = [key for key in ("data", "output") if key not in job]
    if missing:
        raise ValueError(MSG_JOB_KEYS.format(path=path, missing=" and ".join(missing)))
    return job


class _ImageItems(torch.utils.data.Dataset):
    """The images of a folder of class folders (torchvision's ImageFolder) as arrays."""

    def __init__(self, root):
        from torchvision.datasets import ImageFolder

        import_optional("PIL", "datasets", "an image folder")
        self.folder = ImageFolder(root)

    def __len__(self):
        return len(self.folder)

    def __getitem__(self, i):
        image, label = self.folder[i]
        return np.asarray(image), self.folder.classes[label]


def load_job_data(job):
    """``(X, y, sensitive_features)`` of a job's ``data`` (and ``labels``, ``groups``).

    A folder with a shard index is read as :class:`~skdistill.datasets.Shards`, another folder
    as class folders of images; a ``.npy`` file is memory-mapped, with ``labels`` (and
    ``groups``) from their own ``.npy`` files.
    """
    from .datasets import Shards
    from .datasets._shards import INDEX_JSON

    data = Path(job["data"])
    groups = np.load(job["groups"], allow_pickle=False) if job.get("groups") else None
    if data.is_dir():
        if (data / INDEX_JSON).is_file():
            return Shards(data), None, groups
        return _ImageItems(data), None, groups
    if data.suffix != ".npy":
        raise ValueError(MSG_JOB_DATA.format(data=str(data)))
    if not job.get("labels"):
        raise ValueError(MSG_JOB_LABELS.format(data=str(data)))
    X = np.load(data, mmap_mode="r")
    return X, np.load(job["labels"], allow_pickle=False), groups


def join_process_group(backend=None):
    """Join the launcher's process group when there is one; return whether this process did.

    The backend is nccl when CUDA is available (each process on its ``LOCAL_RANK`` device),
    gloo otherwise, unless ``backend`` says.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return False
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return True


def run_job(path, log=print):
    """Run the job of the file at ``path``; return the written output's path (on rank 0)."""
    from . import BarycentricDistiller

    job = read_job(path)
    params = {k: v for k, v in job.items() if k not in JOB_KEYS}
    joined = join_process_group(job.get("backend"))
    try:
        X, y, groups = load_job_data(job)
        distiller = BarycentricDistiller(**params).fit(X, y, sensitive_features=groups)
        output = distiller.save_synthetic(job["output"])
        if is_main_process():
            n, seconds = len(distiller.y_synthetic_), distiller.fit_time_
            log(f"{n} synthetic samples in {seconds:.1f} s written to {output}")
        return output
    finally:
        if joined:
            dist.destroy_process_group()
