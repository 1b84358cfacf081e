"""CAFE: dataset condensation by aligning features, layer by layer (Wang et al., CVPR 2022).

The defaults are those of the COBRA authors' CAFE backbone (``train_cafe.py`` with
``cafe/utils.py`` and ``scripts/run_cafe.sh`` in their code), which follows the official CAFE
code (``distill.py``); :class:`FeatureAlignment` lists both and every difference that remains.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._device import chunked, cpu_chunk
from ..nn import build_network, reinitialize_
from ..nn._sgd import train_epochs
from ._base import Method
from .dc import reference_loops
from .dm import weighted_row_sums

#: Weight of the discrimination loss (the reference's ``inner_weight``).
DISCRIMINATION_WEIGHT = 0.01
#: Weight of the embedding in the default layer weights: the reference matches it twice,
#: once among the layers (``first_weight``, 1) and once as the network's output (weight 1).
EMBEDDING_WEIGHT = 2.0
#: Largest spread of the network's real accuracy over the last :data:`STOP_WINDOW` matching
#: steps that ends an iteration early (the COBRA authors' ``lambda_1``).
STOP_TOLERANCE = 0.05
#: Matching steps whose accuracies the early stop compares (the reference's ``acc_watcher``).
STOP_WINDOW = 10
#: Real samples per class on which that accuracy is measured (the COBRA authors' value).
STOP_SAMPLES = 256
#: Tenths of ``n_iter`` at which the image learning rate halves (1200, 1600 and 1800 of the
#: reference's 2000 iterations).
LR_MILESTONES = (6, 8, 9)
#: Real samples per pass off the CPU: bounds the memory of the per-layer features (no
#: autograd there, so splitting the batch changes nothing but the order of sums).
DEVICE_CHUNK = 1024

MSG_LAYER_WEIGHTS = (
    "layer_weights must hold {n} finite, non-negative numbers with a positive sum, one per "
    "matched layer ({layers}); got {got!r}. Pass None for the reference weights."
)
MSG_DISCRIMINATION_WEIGHT = (
    "discrimination_weight must be a finite, non-negative number (0 switches the "
    "discrimination loss off); got {got!r}."
)
MSG_STOP_TOLERANCE = (
    "stop_tolerance must be a finite, non-negative number, or None to run every matching step; "
    "got {got!r}."
)


def layer_features(network, x):
    """The per-sample features CAFE aligns, flattened: ``[f_1, ..., f_L]``.

    For a :class:`~skdistill.nn.ConvNet`, the ReLU output of every block (before its
    pooling), then the pooled output of the last block, i.e. the embedding; for an
    :class:`~skdistill.nn.MLP`, the ReLU output of every hidden layer, the last being the
    embedding. The last entry is always ``network.embed(x)``.
    """
    taps = []
    out = x
    for module in network.features:
        out = module(out)
        if isinstance(module, nn.ReLU):
            taps.append(out)
    if not taps or taps[-1] is not out:  # a ConvNet pools after its last activation
        taps.append(out)
    return [t.flatten(1) for t in taps]


def layer_names(network):
    """Names of the entries of :func:`layer_features`, e.g. ``["block 1", ..., "embedding"]``."""
    n_relu = sum(isinstance(m, nn.ReLU) for m in network.features)
    blocks = n_relu - int(isinstance(network.features[-1], nn.ReLU))
    return [f"block {i + 1}" for i in range(blocks)] + ["embedding"]


class FeatureAlignment(Method):
    """CAFE: layer-wise mean features and a discrimination loss, the network trained between steps.

    Every iteration draws a fresh network and runs ``outer_loop`` matching steps; between two
    steps the network trains ``inner_loop`` epochs on the synthetic set (plain SGD, lr 0.01,
    batches of 256, with the augmentation's own draws when ``augment`` is set), as in
    :class:`~skdistill.methods.GradientMatching`. A matching step minimises, per class,

    - the **layer-wise alignment** ``sum_l w_l ||mean_T f_l - mean_S f_l||^2`` between the mean
      features of real and synthetic samples at every layer of :func:`layer_features` (the
      activation of every block, then the embedding), squared L2 over all of a layer's
      coordinates (channels x positions), and
    - the **discrimination loss** ``beta * sum_i CE(softmax_k <e_i, c_k>, y_i)``: each real
      sample's embedding ``e_i`` is classified by its inner products with the synthetic class
      centres ``c_k`` (the mean synthetic embedding of class ``k``), summed over the real
      batch. It couples the classes (a softmax over all centres): the loss is
      back-propagated in one pass over all classes.

    **Targets.** The features are per-sample representations: the method's representation is
    ``phi(x) = [sqrt(w_1) f_1(x), ..., sqrt(w_L) f_L(x)]``, whose squared L2 distance is the
    layer-weighted one, so the alignment is DM's loss on ``phi`` and every target enters as
    for DM (vanilla, uniform and COBRA are weighted means of ``phi`` from one pass; FairDD one
    row per (class, group); the distribution targets compare clouds of ``phi``). The
    discrimination loss stays target-agnostic by using the plan's own sample weights ``v_i``:
    it is ``beta * sum_i n_y v_i CE_i``, ``n_y`` the number of real samples of the class in
    the batch, with the weights of each class rescaled to sum to the number of targets the
    class is matched against. So vanilla and uniform get the reference's sum over the class
    batch; COBRA (and the distribution targets) ``n_y`` times the mean over groups of each
    group's mean cross-entropy; FairDD ``n_y`` times the sum over groups of those means —
    ``G`` times COBRA's, as its alignment term; COBRA with a barycenter other than the mean,
    whose rows are groups reduced to one target per class, the mean over groups.

    Reference values (COBRA authors: ``train_cafe.py`` defaults and ``scripts/run_cafe.sh``;
    official CAFE: ``distill.py``), kept here unless said otherwise:

    - 2,000 iterations (both); images SGD lr 0.1, momentum 0.5, halved at iterations 1200,
      1600 and 1800 (both, ``adjust_learning_rate``); here the estimator's ``n_iter``, the
      rate halved at 3/5, 4/5 and 9/10 of it (the same iterations at 2,000) and
      :attr:`default_lr` 0.1.
    - Network SGD lr 0.01 (``lr_net``), batches of 256 (``batch_train``); ``outer_loop`` and
      ``inner_loop`` from ``get_loops(ipc)`` (COBRA authors), the DC schedule
      :func:`~skdistill.methods.reference_loops`; 256 real samples per class per step
      (``batch_real``, the estimator's default); a fresh ConvNet-3 (width 128, instance
      norm) every iteration; no augmentation (``--dsa_strategy None``); real initial images
      (COBRA authors; official default: noise).
    - Layer weights: COBRA authors ``first_weight`` .. ``fourth_weight`` all 1 (official CAFE:
      ``fourth`` 0.1, ``third`` 0.1, ``second`` 1, ``first`` 1), for ``f_1`` (``fourth``) ..
      the pooled embedding (``first``); the embedding is matched once more as the output
      (``loss_output``, weight 1), hence the default ``(1, ..., 1, 2)``.
      ``layer_weights=(0.1, 0.1, 1, 2)`` gives the official CAFE's at depth 3.
    - ``inner_weight`` (``beta``) 0.01 (both), with a summed cross-entropy.
    - Early stop of the matching steps: ``lambda_1`` 0.05 (COBRA authors; official 0.04) on
      the accuracy of the network on 256 real images per class (official: 128).

    Differences from the references:

    - The COBRA authors' early stop never fires: its window of accuracies is emptied at every
      matching step, so it never holds 10. Here it does what both codes mean: the
      accuracies of the last :data:`STOP_WINDOW` steps of the iteration, measured after each
      image step on :data:`STOP_SAMPLES` un-augmented real samples per class, end the
      iteration when they span less than ``stop_tolerance``, within at most ``outer_loop``
      steps (the official outer loop is unbounded). With ``outer_loop <= 10`` (every IPC up
      to 10) it cannot shorten an iteration and nothing is measured. The official inner loop
      is open-ended too (``lambda_2``); the COBRA authors train ``inner_loop`` epochs, as here,
      and never read their ``lambda_2``.
    - The COBRA authors' COBRA mode uses another loss than their vanilla mode: no
      discrimination loss, layer weights 1, 1, 0.1 for the three block activations and
      1.1 for the embedding, divided by the number of classes. Here every target shares one
      loss (the method never knows its target); their COBRA loss is
      ``layer_weights=(1, 1, 0.1, 1.1), discrimination_weight=0`` with the learning rate
      divided by the number of classes.
    - The references add the real batch's classification loss, which does not depend on the
      synthetic images (no gradient); it is left out of the reported loss.
    - The references hard-code 10 classes of 32x32 RGB images (and pad the first
      convolution of 28x28 grey images to 32x32); here any number of classes, image size and
      channel count, and tables (an MLP, whose hidden layers are the aligned layers).
    - The network is not trained after the last matching step of an iteration (the
      references train it, then discard it); with ``augment``, siamese DSA from the
      estimator's ``random_state`` (the references seed ``DiffAugment`` from the clock).

    Parameters
    ----------
    sample_shape : tuple of int
        ``(C, H, W)`` (ConvNet) or ``(d,)`` (MLP).
    n_classes : int
        Number of classes.
    ipc : int, default=10
        Synthetic samples per class (chooses the reference loop schedule).
    net_width, net_depth : int or None
        Network size; ``None`` takes the reference defaults.
    outer_loop, inner_loop : int or None
        Matching steps per iteration (at most) and network-training epochs between them; the
        reference schedule for ``ipc`` when None.
    device : torch.device
        Where the network runs.
    augment : DSA or None
        Siamese augmentation while matching; also applied (non-siamese) while training.
    layer_weights : sequence of float or None
        Weight ``w_l`` of every layer of :func:`layer_names` (``depth + 1`` for a ConvNet,
        ``depth`` for an MLP); ``None``: 1 for every block and 2 for the embedding.
    discrimination_weight : float, default=0.01
        ``beta``; 0 leaves the discrimination loss out (and the classes are back-propagated
        one at a time on the CPU).
    stop_tolerance : float or None, default=0.05
        Accuracy spread that ends an iteration early (see above); ``None`` or 0 runs every
        matching step.

    Attributes
    ----------
    sample_real_class : callable or None
        ``sample_real_class(cls, n)``: ``min(n, n_cls)`` un-augmented real samples of class
        ``cls``. Set by the estimator; without it the early stop is off.
    """

    name = "cafe"
    options = frozenset({"ipc", "augment", "outer_loop", "inner_loop"})
    plan_kinds = frozenset({"rows", "clouds"})
    distances = ("l2",)
    default_lr = 0.1
    lr_net = 0.01

    def __init__(
        self,
        sample_shape,
        n_classes,
        *,
        ipc=10,
        net_width=None,
        net_depth=None,
        outer_loop=None,
        inner_loop=None,
        device,
        augment=None,
        layer_weights=None,
        discrimination_weight=DISCRIMINATION_WEIGHT,
        stop_tolerance=STOP_TOLERANCE,
    ):
        super().__init__(device, augment)
        self.n_classes = n_classes
        self.network = build_network(sample_shape, n_classes, net_width, net_depth).to(device)
        self.network.requires_grad_(False)  # trained between matching steps only
        self.template = None
        if device.type != "cpu":
            self.template = build_network(sample_shape, n_classes, net_width, net_depth)
        if self.chunk is not None:
            self.chunk = cpu_chunk(self.network, sample_shape)
        self.layer_weights = _checked_layer_weights(layer_weights, layer_names(self.network))
        if not _non_negative(discrimination_weight):
            raise ValueError(MSG_DISCRIMINATION_WEIGHT.format(got=discrimination_weight))
        if stop_tolerance is not None and not _non_negative(stop_tolerance):
            raise ValueError(MSG_STOP_TOLERANCE.format(got=stop_tolerance))
        self.discrimination_weight = float(discrimination_weight)
        self.stop_tolerance = stop_tolerance
        self.couples_classes = self.discrimination_weight > 0
        # the discrimination loss needs every real sample's embedding, not only row sums
        self.row_sums_only = not self.couples_classes
        default_outer, default_inner = reference_loops(ipc)
        self.outer_loop = default_outer if outer_loop is None else outer_loop
        self.inner_loop = default_inner if inner_loop is None else inner_loop
        self.optimizer = None
        self.accuracies = []
        self.sample_real_class = None

    # ------------------------------------------------------------------ life cycle
    def begin_iteration(self, seed):
        """Draw a fresh network and its optimiser; empty the early stop's window."""
        super().begin_iteration(seed)
        reinitialize_(self.network, seed, self.template)
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=self.lr_net)
        self.accuracies = []

    def inner_update(self, synthetic, synthetic_labels, sample_real):
        """Train the network for ``inner_loop`` epochs on the synthetic set."""
        labels = torch.as_tensor(synthetic_labels, device=synthetic.device)
        self.network.requires_grad_(True).train()
        train_epochs(
            self.network,
            synthetic,
            labels,
            self.optimizer,
            epochs=self.inner_loop,
            generator=self.generator,
            augment=self.augment,
        )
        self.network.requires_grad_(False)

    def iteration_converged(self):
        """Whether the network's real accuracy stopped moving over the last steps.

        Measured only when it can end the iteration early (``outer_loop`` above the window,
        a ``stop_tolerance``, and :attr:`sample_real_class` set).
        """
        if not self.stop_tolerance or self.outer_loop <= STOP_WINDOW:
            return False
        if self.sample_real_class is None:
            return False
        hits = []
        with torch.no_grad():
            for c in range(self.n_classes):
                x = self.sample_real_class(c, STOP_SAMPLES)
                hits.append((chunked(self.network, x, self.chunk).argmax(1) == c).double().mean())
        self.accuracies.append(float(torch.stack(hits).mean()))
        window = self.accuracies[-STOP_WINDOW:]
        return len(window) == STOP_WINDOW and max(window) - min(window) < self.stop_tolerance

    def lr_factor(self, iteration, n_iter):
        """Halved at 3/5, 4/5 and 9/10 of ``n_iter`` (the reference's 1200, 1600, 1800 of 2000)."""
        return 0.5 ** sum(10 * iteration >= k * n_iter for k in LR_MILESTONES)

    # ------------------------------------------------------------------ representations
    def _phi(self, layers):
        """``[sqrt(w_l) f_l]`` concatenated (layers of weight 0 left out)."""
        return torch.cat(
            [math.sqrt(w) * f for w, f in zip(self.layer_weights, layers) if w > 0], dim=1
        )

    def _real_pass(self, x, plan=None):
        """``(phi, embeddings)`` of a real batch, without autograd, chunk by chunk.

        With a row ``plan``, ``phi`` is reduced to its weighted row sums on the way, so the
        per-sample features of all layers are never held at once.
        """
        chunk = self.chunk or DEVICE_CHUNK
        sums, parts, embeddings = None, [], []
        with torch.no_grad():
            for start in range(0, x.shape[0], chunk):
                layers = layer_features(self.network, x[start : start + chunk])
                embeddings.append(layers[-1])
                if plan is None:
                    parts.append(self._phi(layers))
                else:
                    sums = weighted_row_sums(self._phi(layers), plan, start=start, out=sums)
        return (torch.cat(parts) if plan is None else sums), torch.cat(embeddings)

    def _synthetic_pass(self, x_syn, ipc, classes):
        """``(phi, embeddings)`` of the (augmented) views of the class blocks, differentiable."""
        layers = layer_features(self.network, self.views(x_syn, ipc, classes))
        return self._phi(layers), layers[-1]

    def real_representations(self, x):
        """``phi`` of every sample of a real batch, detached."""
        return self._real_pass(x)[0]

    def synthetic_representations(self, x_syn, ipc, classes):
        """``phi`` of the views of the class blocks."""
        return self._synthetic_pass(x_syn, ipc, classes)[0]

    def real_statistics(self, x, plan):
        """Weighted row means of ``phi``, from one pass over the batch."""
        return self._real_pass(x, plan)[0]

    def synthetic_statistics(self, x_syn, ipc, classes):
        """Mean ``phi`` of each class block."""
        return _class_means(self.synthetic_representations(x_syn, ipc, classes), len(classes))

    def distance(self, real, synthetic):
        """Sum of squared L2 distances: the layer-weighted alignment of every row."""
        return ((real - synthetic) ** 2).sum()

    # ------------------------------------------------------------------ the loss
    def _row_loss(self, x_real, plan):
        """``loss(block, ipc, classes)``: alignment (rows or clouds) plus discrimination."""
        rows = plan.kind == "rows"
        real, embedding = self._real_pass(x_real, plan if rows else None)
        if rows:
            real, matched = plan.targets(real)
        else:  # one cloud per class
            matched = np.unique(plan.sample_class)
        weight = self.discrimination_weights(plan, matched).to(embedding)

        def loss(block, ipc, classes):
            if not np.isin(matched, classes).any():
                return None
            phi, syn_embedding = self._synthetic_pass(block, ipc, classes)
            if rows:
                means = _class_means(phi, len(classes))
                value = self.row_distance(real, matched, means, classes)
            else:
                value = self.cloud_discrepancy(real, plan, phi, classes)
            if self.couples_classes:  # then the block holds every class
                value = value + self.discrimination(embedding, plan, weight, syn_embedding)
            return value

        return loss

    _cloud_loss = _row_loss

    def discrimination_weights(self, plan, matched):
        """Per-sample weights ``n_y v_i`` of the discrimination loss (see the class docstring).

        ``matched`` holds the class of every target the batch is matched against.
        """
        y = plan.sample_class
        count = np.bincount(y, minlength=self.n_classes)
        mass = np.bincount(y, weights=plan.weight, minlength=self.n_classes)
        targets = np.bincount(matched, minlength=self.n_classes)
        return torch.as_tensor(plan.weight * count[y] * targets[y] / mass[y])

    def discrimination(self, real_embedding, plan, weight, syn_embedding):
        """``beta * sum_i weight_i CE(<e_i, c_k>_k, y_i)`` with every class's synthetic centre."""
        centres = _class_means(syn_embedding, self.n_classes)
        labels = torch.as_tensor(plan.sample_class, device=real_embedding.device)
        ce = F.cross_entropy(real_embedding @ centres.T, labels, reduction="none")
        return self.discrimination_weight * (ce * weight).sum()


def _class_means(values, n_blocks):
    """Means of ``n_blocks`` consecutive equal blocks of rows."""
    return values.reshape(n_blocks, -1, values.shape[1]).mean(dim=1)


def _non_negative(value):
    return isinstance(value, Real) and not isinstance(value, bool) and 0 <= value < math.inf


def _checked_layer_weights(weights, names):
    """The layer weights as a tuple of floats, the reference's when None."""
    if weights is None:
        return (1.0,) * (len(names) - 1) + (EMBEDDING_WEIGHT,)
    try:
        values = tuple(weights)
    except TypeError:
        values = ()
    if len(values) != len(names) or not all(_non_negative(w) for w in values) or not any(values):
        layers = ", ".join(names)
        raise ValueError(MSG_LAYER_WEIGHTS.format(n=len(names), layers=layers, got=weights))
    return tuple(float(w) for w in values)
