"""What a matching method is: a representation of samples and a distance between statistics."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import torch

from .._device import CPU_CHUNK
from .._transfer import to_device
from ..targets import CloudPlan, RowPlan

MSG_PLAN_KIND = (
    "method={method!r} takes plans of kind {kinds}, not {kind!r}: its target needs a method "
    "that computes per-sample representations."
)


class Method:
    """Base class of matching methods.

    A method never knows which target is used. It computes, for the rows of a
    :class:`~skdistill.targets.RowPlan`, the weighted statistics of real samples, the
    per-class statistics of the synthetic samples, and a distance between them; the loss is
    ``sum_r D(real_r, synthetic_{row_class[r]})``. A method that can also hand out
    per-sample representations (``"clouds"`` in :attr:`plan_kinds`) serves targets that
    match whole distributions (:class:`~skdistill.targets.CloudPlan`): the target then
    supplies the discrepancy, the method only the representations.

    One *iteration* of the distiller calls :meth:`begin_iteration`, then ``outer_loop``
    matching steps (each: a fresh real batch, :meth:`match`, an optimiser step on the
    synthetic set, :meth:`after_step`), with :meth:`inner_update` between consecutive steps;
    the iteration ends early when :meth:`iteration_converged` says so. The synthetic set's
    learning rate at every iteration is the estimator's times :meth:`lr_factor`.

    Parameters
    ----------
    device : torch.device
        Where the computation runs.
    augment : DSA or None
        Siamese augmentation applied to the real and the synthetic batch of each class with
        the same parameters.
    """

    name = "base"
    #: Display name in reports (tables, figures); the name in capitals when None.
    label = None
    #: Estimator options the method takes (others are refused with a clear error).
    options = frozenset()
    #: Accepted ``distance`` values (the first is the default).
    distances = ()
    #: Learning rate of the synthetic samples when the estimator's ``lr`` is None.
    default_lr = 1.0
    #: Matching steps per iteration.
    outer_loop = 1
    #: Back-propagate one class at a time on every device (not only on the CPU).
    per_class = False
    #: The loss couples the synthetic samples of different classes (e.g. a softmax over the
    #: class centres): it is back-propagated in one pass over all classes on every device.
    couples_classes = False
    #: Augmentation of ``augment="auto"`` on images: the reference code's (e.g. ``"dsa"``).
    default_augment = None
    #: Kinds of target plan the method takes (keys of :data:`skdistill.targets.PLAN_KINDS`):
    #: ``"rows"`` needs :meth:`real_statistics`, :meth:`synthetic_statistics` and
    #: :meth:`distance`; ``"clouds"`` needs :meth:`real_representations` and
    #: :meth:`synthetic_representations`; ``"trajectories"`` (expert parameter trajectories)
    #: overrides :meth:`match` (see :class:`~skdistill.methods.TrajectoryMatching`).
    plan_kinds = frozenset({"rows"})
    #: The loss sees the real batch only through the weighted row sums of a row plan, so a
    #: data-parallel fit may sum them over ranks (:mod:`skdistill._distributed`).
    row_sums_only = True

    def __init__(self, device, augment=None):
        self.device = device
        self.augment = augment
        self.chunk = CPU_CHUNK if device.type == "cpu" else None
        self.generator = torch.Generator()
        self._siamese = None
        #: dtype of :func:`torch.autocast` over the matching forward passes (None: off).
        self.autocast_dtype = None

    def forward_context(self):
        """:func:`torch.autocast` for a matching forward pass, or nothing when it is off.

        The statistics are cast back to float32 before they are compared: only the network
        passes run in the lower precision.
        """
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------------------ life cycle hooks
    def begin_iteration(self, seed: int) -> None:
        """Prepare one outer iteration (e.g. draw a fresh network); seeds augmentation."""
        self.generator.manual_seed(seed)

    def prepare(self, synthetic, synthetic_labels) -> None:
        """Adapt the iteration's representation to the (detached) synthetic set before matching."""

    def inner_update(self, synthetic, synthetic_labels, sample_real) -> None:
        """Update the representation between two matching steps of an iteration.

        ``synthetic`` is detached; ``sample_real(n)`` draws ``n`` random real samples and
        their class codes.
        """

    def after_step(self, synthetic) -> None:
        """Project the synthetic set after an optimiser step (e.g. clamp to the value range)."""

    def iteration_converged(self) -> bool:
        """Whether the iteration's remaining matching steps are skipped (after every step)."""
        return False

    def lr_factor(self, iteration, n_iter) -> float:
        """Factor on the synthetic set's learning rate at ``iteration`` (0-based) of ``n_iter``."""
        return 1.0

    def decode(self, synthetic, ipc) -> torch.Tensor:
        """The training samples that the stored synthetic samples stand for (identity)."""
        return synthetic

    def samples_per_stored(self) -> int:
        """Training samples decoded from each stored synthetic sample."""
        return 1

    def state_dict(self) -> dict:
        """State carried from one iteration to the next (checkpointed)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""

    def fitted_attributes(self, state: dict) -> dict:
        """Fitted attributes (names ending in ``_``) the estimator records after a fit.

        ``state`` is the :meth:`state_dict` of the iteration the estimator keeps.
        """
        return {}

    # ------------------------------------------------------------------ statistics
    def real_statistics(self, x, plan: RowPlan) -> torch.Tensor:
        """``(n_rows, ...)`` statistics ``sum_{i in row r} weight_i phi(x_i)``."""
        raise NotImplementedError

    def synthetic_statistics(self, x_syn, ipc, classes) -> torch.Tensor:
        """``(len(classes), ...)`` statistics of consecutive ``ipc``-sized class blocks."""
        raise NotImplementedError

    def distance(self, real, synthetic) -> torch.Tensor:
        """Sum over rows of the distance between matched statistics."""
        raise NotImplementedError

    def real_representations(self, x) -> torch.Tensor:
        """``(n, d)`` per-sample representations ``phi(x_i)`` of a real batch, detached."""
        raise NotImplementedError

    def synthetic_representations(self, x_syn, ipc, classes) -> torch.Tensor:
        """``(len(classes) * m, d)`` differentiable representations of the training views.

        The views (``m`` per class) of consecutive ``ipc``-sized class blocks, class by class.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------ augmentation
    def views(self, block, ipc, classes):
        """The decoded, augmented training views of a block of stored synthetic samples."""
        x = self.decode(block, ipc)
        if self._siamese is None:
            return x
        per = x.shape[0] // len(classes)
        return torch.cat(
            [
                self.augment.apply(x[k * per : (k + 1) * per], self._siamese[c])
                for k, c in enumerate(classes)
            ]
        )

    def _augment_real(self, x_real, sample_class, n_classes, ipc):
        """Draw one siamese pair of parameters per class and augment the real batch with it."""
        counts = np.bincount(sample_class, minlength=n_classes)
        n_syn = ipc * self.samples_per_stored()
        size = x_real.shape[-2:]
        self._siamese = [
            self.augment.draw_pair(int(counts[c]), n_syn, self.generator, size)
            for c in range(n_classes)
        ]
        out = torch.empty_like(x_real)
        for c in np.flatnonzero(counts):
            pos = to_device(np.flatnonzero(sample_class == c), x_real.device)
            out[pos] = self.augment.apply(x_real[pos], self._siamese[c])
        return out

    # ------------------------------------------------------------------ the loss
    def match(self, x_real, plan: RowPlan | CloudPlan, synthetic, ipc) -> torch.Tensor:
        """Back-propagate the matching loss into ``synthetic.grad`` and return its value.

        A :class:`~skdistill.targets.RowPlan`'s real statistics are turned into matched
        targets by ``plan.targets`` (identity, or e.g. a barycenter per class) and compared
        with :meth:`distance`; a :class:`~skdistill.targets.CloudPlan` (methods whose
        :attr:`plan_kinds` hold ``"clouds"``) compares per-sample representations with the
        plan's own ``discrepancy``.

        The loss is a sum of per-class terms, each depending only on that class's synthetic
        block, so it is back-propagated one class at a time on the CPU (cache-sized passes)
        and in one pass on other devices; the gradients are the same.
        """
        if plan.kind not in self.plan_kinds:
            raise ValueError(
                MSG_PLAN_KIND.format(
                    method=self.name, kind=plan.kind, kinds=sorted(self.plan_kinds)
                )
            )
        n_classes = synthetic.shape[0] // ipc
        self._siamese = None
        if self.augment is not None:
            x_real = self._augment_real(x_real, plan.sample_class, n_classes, ipc)
        with self.forward_context():
            if plan.kind == "clouds":
                block_loss = self._cloud_loss(x_real, plan)
            else:
                block_loss = self._row_loss(x_real, plan)
        one_by_one = not self.couples_classes and (self.per_class or self.chunk is not None)
        blocks = np.arange(n_classes)[:, None] if one_by_one else [np.arange(n_classes)]
        total = torch.zeros((), device=synthetic.device)
        for classes in blocks:
            block = synthetic[int(classes[0]) * ipc : (int(classes[-1]) + 1) * ipc]
            with self.forward_context():
                loss = block_loss(block, ipc, classes)
            if loss is None:
                continue
            loss.backward(inputs=[synthetic])
            total += loss.detach()
        return total

    def _row_loss(self, x_real, plan):
        """``loss(block, ipc, classes)``: distances of a block's statistics to its rows."""
        real, row_class = plan.targets(self.real_statistics(x_real, plan).float())

        def loss(block, ipc, classes):
            if not np.isin(row_class, classes).any():
                return None
            syn = self.synthetic_statistics(block, ipc, classes).float()
            return self.row_distance(real, row_class, syn, classes)

        return loss

    def row_distance(self, real, row_class, synthetic, classes):
        """:meth:`distance` of the rows of ``classes`` to their classes' synthetic statistics.

        ``synthetic`` holds the statistics of ``classes`` (consecutive class codes), in order.
        """
        rows = np.flatnonzero(np.isin(row_class, classes))
        index = to_device(row_class[rows] - int(classes[0]), synthetic.device)
        rows = to_device(rows, real.device)
        # index_select: its backward adds rows (advanced indexing's backward, an
        # index_put with repeated indices, is many times slower on the CPU)
        return self.distance(real.index_select(0, rows), synthetic.index_select(0, index))

    def _cloud_loss(self, x_real, plan):
        """``loss(block, ipc, classes)``: the plan's discrepancies of a block's classes."""
        real = self.real_representations(x_real).float()

        def loss(block, ipc, classes):
            if not np.isin(plan.sample_class, classes).any():
                return None
            syn = self.synthetic_representations(block, ipc, classes).float()
            return self.cloud_discrepancy(real, plan, syn, classes)

        return loss

    @staticmethod
    def cloud_discrepancy(real, plan, synthetic, classes):
        """Sum of the plan's discrepancies of the classes of ``classes`` present in the batch.

        ``real`` holds the representations of the whole batch; ``synthetic`` those of the
        views of ``classes`` (consecutive class codes, as many views for each).
        """
        weight = to_device(plan.weight, real.device, real.dtype)
        per = synthetic.shape[0] // len(classes)
        terms = []
        for c in classes:
            members = np.flatnonzero(plan.sample_class == c)
            if members.size == 0:
                continue
            idx = to_device(members, real.device)
            k = int(c) - int(classes[0])
            terms.append(
                plan.discrepancy(
                    real.index_select(0, idx),
                    weight.index_select(0, idx),
                    plan.group[members],
                    synthetic[k * per : (k + 1) * per],
                )
            )
        return torch.stack(terms).sum()
