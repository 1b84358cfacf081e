"""Where computations run: the ``device`` parameter, and CPU passes split into chunks."""

from __future__ import annotations

import torch

MSG_DEVICE_UNKNOWN = (
    "device={device!r} is not a device torch knows; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
)
MSG_NO_CUDA = (
    "device={device!r} was requested but CUDA is not available on this machine; "
    "use device='cpu', or device='auto' to take CUDA only when it is there."
)

#: Samples per forward pass on the CPU. Instance-normalised networks treat every sample on its
#: own, so splitting a batch changes no result, while activations that stay in cache make the
#: memory-bound layers (norm, ReLU, pooling) about twice as fast on a 2-core CPU.
CPU_CHUNK = 32

#: Bytes of a pass's first activation under which a CPU pass may hold up to twice
#: :data:`CPU_CHUNK` samples (small images, narrow networks: per-call overhead dominates).
SMALL_PASS_BYTES = 2 * 2**20


def resolve_device(device) -> torch.device:
    """Turn the ``device`` parameter into a ``torch.device``, refusing unavailable CUDA."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(MSG_DEVICE_UNKNOWN.format(device=device)) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(MSG_NO_CUDA.format(device=str(device)))
    return dev


def cpu_chunk(network, sample_shape):
    """Samples per CPU pass for ``network``.

    :data:`CPU_CHUNK`, or up to twice that when the first layer's output is small enough that
    :data:`SMALL_PASS_BYTES` hold more samples.
    """
    first = next(
        m for m in network.modules() if next(m.parameters(recurse=False), None) is not None
    )
    size = []
    handle = first.register_forward_hook(lambda m, a, out: size.append(out[0].numel()))
    try:
        with torch.no_grad():
            network(torch.zeros(1, *sample_shape, device=next(network.parameters()).device))
    finally:
        handle.remove()
    fits = SMALL_PASS_BYTES // (4 * size[0])
    return int(min(max(fits, CPU_CHUNK), 2 * CPU_CHUNK))


def chunked(fn, x, chunk):
    """``fn(x)`` computed ``chunk`` samples at a time (all at once when ``chunk`` is None)."""
    if chunk is None or x.shape[0] <= chunk:
        return fn(x)
    return torch.cat([fn(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])
