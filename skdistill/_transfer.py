"""Host-to-device transfers that never make the host wait for the device.

A blocking copy from host memory to a CUDA device waits until the device has finished the work
queued before it; inside the fit loop that would stall the host once per copy. The small index
and weight arrays that every batch sends to the device (its plan) therefore go through
:func:`to_device`, a non-blocking copy: it returns once the host memory has been staged for the
transfer, and the device runs the copy in order with the rest of its queue.
"""

from __future__ import annotations

import torch


def to_device(data, device, dtype=None) -> torch.Tensor:
    """``data`` (an array, a tensor or a number) as a tensor on ``device``, without waiting."""
    tensor = torch.as_tensor(data)
    return tensor.to(device=device, dtype=dtype, non_blocking=True)
