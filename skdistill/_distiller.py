"""BarycentricDistiller: fair dataset distillation behind a scikit-learn estimator."""

from __future__ import annotations

import os
import time
import warnings
from contextlib import contextmanager, nullcontext
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import TransformerTags, check_scalar
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._engine import build_engine, data_fingerprint, history_frame
from ._persistence import CheckpointFolder, save_estimator, save_synthetic_set
from ._resources import limit_threads, resolve_threads
from ._validation import check_data_fingerprint, run_params, validate
from .callbacks import Checkpoint, ProgressBar
from .methods import METHODS, MethodSpec
from .methods.augment import DSA
from .nn import NORMS
from .targets import BARYCENTERS, TARGETS, Target

#: ``autocast`` values and the dtype of :func:`torch.autocast` they stand for.
AUTOCAST = {None: None, "bf16": torch.bfloat16}

MSG_INTERRUPTED = (
    "fit interrupted after {done} of {n_iter} iterations; the estimator holds the synthetic set "
    "of the last completed iteration{saved}."
)
MSG_DEVICE_UNKNOWN = (
    "device={device!r} is not a device torch knows; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
)
MSG_NO_CUDA = (
    "device={device!r} was requested but CUDA is not available on this machine; "
    "use device='cpu', or device='auto' to take CUDA only when it is there."
)


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


class BarycentricDistiller(BaseEstimator):
    """Distil a labelled dataset into ``ipc`` synthetic samples per class, fairly across groups.

    The synthetic set is learnt by matching, class by class, a statistic of a representation
    of real data (the *method*) against the same statistic of the synthetic data. The *target*
    decides how the statistics of the protected groups of a class combine:

    - ``"vanilla"``: the class mean, dominated by the majority groups;
    - ``"uniform"``: the mean of a group-stratified batch;
    - ``"fairdd"``: one matching term per group, summed (FairDD);
    - ``"cobra"``: the barycenter (mean) of the group means (COBRA);
    - ``"reweighted"``: a uniform class batch with samples weighted by inverse group
      frequency (the COBRA paper's loss-reweighting intervention, "DF");
    - ``"wasserstein"``: the Wasserstein barycenter of the group *distributions* of
      embeddings (needs POT: ``pip install skdistill[ot]``);
    - ``"mmd"``: the equal-weight mixture of the group distributions, matched by MMD.

    The last two match distributions of per-sample embeddings, not mean statistics:
    ``method="dm"`` only.

    Parameters
    ----------
    method : {"dm", "dc", "idc"} or MethodSpec, default="dm"
        Matching method (ConvNet for images, MLP for tables), by name or as an object
        holding its parameters (:class:`~skdistill.methods.DM`,
        :class:`~skdistill.methods.DC`, :class:`~skdistill.methods.IDC`; a name is the object
        with its defaults):

        - ``"dm"``, distribution matching: mean embeddings of a freshly drawn random network,
          squared L2 distance;
        - ``"dc"``, gradient matching: per-class gradients of the classification loss of a
          network trained on the synthetic set between matching steps, layer-wise cosine
          distance; ``augment="dsa"`` gives DSA;
        - ``"idc"``, gradient matching with multi-formation: each stored image holds
          ``factor**2`` images (``transform`` returns ``ipc * factor**2`` per class), images
          kept in the input's range, the network trained on real data. Images only.
    target : {"vanilla", "uniform", "fairdd", "cobra", "reweighted", "wasserstein", "mmd"} \
            or Target, default="cobra"
        How group statistics combine into the matched target, by name or as an object
        (e.g. :class:`~skdistill.targets.CobraTarget` with its barycenter and group weights);
        ``"wasserstein"`` and ``"mmd"`` take ``method="dm"`` only.
    ipc : int, default=10
        Synthetic samples per class.
    n_iter : int, default=500
        Optimisation iterations.
    batch_real : int, default=256
        Real samples per class per iteration (all of the class when it has fewer). Group-aware
        targets draw a group-stratified batch of the same size: shared as evenly as possible
        among the groups of the class, a group smaller than its share giving all its samples.
    lr : float or None, default=None
        Learning rate of the synthetic samples (SGD, momentum 0.5), in standardised units
        (idc: in units of the input's value range, as official IDC's pixel units); ``None``
        takes the method's reference value (dm 1.0, dc 0.1, idc ``5e-3 * ipc / 10``), times
        the mean number of groups per class for ``target="cobra"``: under DM's squared L2
        FairDD's gradient is ``G`` times COBRA's, and at the reference rate COBRA stays unfair
        for over 1,000 iterations from the references' start (see the convergence study in
        the user guide). ``"wasserstein"`` and ``"mmd"``, whose losses have COBRA-mean's
        units, take COBRA's step.
    init : {"random_real", "balanced", "noise"}, default="random_real"
        The starting synthetic set. ``"random_real"`` (the reference codes' start): real
        samples of the class drawn at random, so the initial set has the class's group
        proportions (the majority group dominates). ``"balanced"``: real samples of the class
        cycling through its groups, an equal number per group as far as the groups allow —
        an intervention of its own (it hands every target a group-balanced solution), to be
        compared as such. ``"noise"``: standard normal noise in standardised units.
        ``"real"`` is the former name of ``"balanced"`` and is deprecated.
    net_width, net_depth : int or None, default=None
        Size of the embedding network; ``None`` uses the reference values (ConvNet 128/3 for
        images, MLP 256/2 for tables).
    net_norm : {"instance", "batch", "none"} or None, default=None
        Normalisation of the ConvNet; instance norm when None. Batch norm statistics are
        taken from real data and frozen while matching gradients.
    augment : {"auto", "dsa"}, DSA instance or None, default="auto"
        Differentiable siamese augmentation (DSA) while matching: for every class and every
        matching step, one transform family and *one* parameter draw (from ``random_state``)
        applied to every sample of the class's real batch and of its synthetic batch, as in
        the reference code (``DSA(pairing="per_sample")`` pairs per-sample draws instead).
        ``"auto"``: the method's reference — DSA for ``dm`` on images (the reference DM always
        augments), none for ``dc``/``idc`` and for tables; ``None``: no augmentation.
        ``"dsa"`` leaves flips out for single-channel images; pass
        ``skdistill.methods.DSA(flip=False)`` for other digit-like images. Images only.
    device : str or torch.device, default="auto"
        ``"auto"`` takes CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Fixes every random draw (initial samples, batches, networks). The same value on the
        same CPU gives a bit-identical synthetic set.
    verbose : int, default=0
        Show a progress bar and a summary of the groups when positive.
    missing_groups : {"error", "impute"}, default="error"
        What to do with missing entries of ``sensitive_features``: refuse them, or impute them
        by K-means on the standardised inputs, each cluster taking the majority group of its
        known members (COBRA paper, Appendix L).
    n_impute_clusters : int or None, default=None
        K-means clusters for ``missing_groups="impute"``; the number of known groups when None.
    checkpoint_dir : str, path or None, default=None
        Folder where a checkpoint is written atomically every ``checkpoint_every``
        iterations, at the end, and on interruption; ``fit(..., resume=True)`` continues from
        it, giving exactly the synthetic set of an uninterrupted run, even after the process
        was killed (the checkpoint is either the previous one or the new one, never half
        written). ``fit`` checks at its start that the folder can be written and locks it
        for its duration: a second fit on the same folder is refused, and the lock of a
        killed process is released by the operating system.
    checkpoint_every : int, default=100
        Iterations between checkpoints.
    n_threads : int or None, default=None
        CPU threads of the fit (torch, and the BLAS/OpenMP pools of numpy and scikit-learn),
        set when ``fit`` starts and restored when it returns. ``None``: half the cores this
        process may use (at least 1), so that two fits at once do not oversubscribe the
        cores; ``-1``: all of them. A fixed share, never the current load: results can
        depend on the thread count (the order of floating-point sums), and the same seed on
        the same machine gives the same synthetic set.
    distance, outer_loop, inner_loop, factor, net_warmup_epochs : default=None
        Deprecated aliases of the method's parameters (``method=DM(distance=...,
        warmup_epochs=...)``, ``DC(distance=..., outer_loop=..., inner_loop=...)``,
        ``IDC(..., factor=...)``); they warn and will be removed in 0.3.
    barycenter, barycenter_weights, huber_delta : default="mean", None, 1.0
        Deprecated aliases of :class:`~skdistill.targets.CobraTarget`'s ``barycenter``,
        ``weights`` and ``delta``; they warn and will be removed in 0.3.
    callbacks : list of Callback or None, default=None
        :class:`skdistill.callbacks.Callback` objects called at fit begin, after every
        iteration and at fit end, after the distiller's own (progress bar with ``verbose``,
        checkpoints with ``checkpoint_dir``); e.g.
        :class:`~skdistill.callbacks.EarlyStopping`.
    log_every : int, default=10
        Iterations between the transfers of the loss from the device to the host, the only
        moments the fit loop waits for the device. Every iteration's loss is still recorded
        (kept on the device in between); ``history_``, the progress bar and callbacks see
        the losses at these log points, checkpoints are written at log points, and a
        non-finite loss is found at the first log point after it: the fit then stops with a
        ``FloatingPointError`` and keeps the synthetic set of the log point before. ``1``
        checks every iteration. Results do not depend on it.
    autocast : {"bf16"} or None, default=None
        Run the network passes of matching (real and synthetic statistics) under
        :func:`torch.autocast` in bfloat16, on the CPU as on CUDA; the statistics are
        compared, and the synthetic set is optimised, in float32. Faster on hardware with
        bfloat16 units; the result changes slightly (rounding of the embeddings and
        gradients), so a seed no longer reproduces the float32 run.

    Attributes
    ----------
    X_synthetic_ : ndarray, DataFrame or Tensor
        The synthetic samples exactly as learnt, in the input's container, layout and scale:
        floats, not clipped or rounded (see :meth:`synthetic_as_input_dtype`).
    y_synthetic_ : ndarray or Series
        Their labels, with the dtype of ``y``; ``ipc`` per class, ordered by class.
    classes_ : ndarray
        Class labels.
    groups_ : ndarray
        Group names (one per combination when several sensitive columns are given).
    group_counts_ : DataFrame
        Class x group table of training-sample counts.
    group_imputation_ : dict or None
        With imputed groups: ``n_missing``, ``fraction_missing``, ``n_clusters``, ``imputed``
        (mask of the samples whose group was imputed) and ``codes`` (every sample's group, as
        an index into ``groups_``).
    absent_cells_ : list of tuple
        ``(class, group)`` pairs with no training sample; they are skipped for that class.
    n_iter_ : int
        Iterations completed.
    history_ : DataFrame
        Loss and elapsed seconds per iteration.
    fit_time_ : float
        Wall-clock seconds of the optimisation.
    n_features_in_ : int
        Number of features (tabular input only).
    feature_names_in_ : ndarray of str
        Column names (DataFrame input only).

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import BarycentricDistiller
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = rng.integers(0, 2, 200); A = rng.integers(0, 3, 200)
    >>> d = BarycentricDistiller(target="cobra", ipc=4, n_iter=5, batch_real=32, random_state=0)
    >>> X_syn, y_syn = d.fit(X, y, sensitive_features=A).transform()
    >>> X_syn.shape, y_syn.tolist()
    ((8, 5), [0, 0, 0, 0, 1, 1, 1, 1])
    """

    _parameter_constraints: dict = {
        "method": [StrOptions(set(METHODS)), MethodSpec],
        "target": [StrOptions(set(TARGETS)), Target],
        "ipc": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_real": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither"), None],
        "init": [StrOptions({"random_real", "balanced", "noise", "real"}, deprecated={"real"})],
        "net_width": [Interval(Integral, 1, None, closed="left"), None],
        "net_depth": [Interval(Integral, 1, None, closed="left"), None],
        "net_norm": [StrOptions(set(NORMS)), None],
        "distance": [str, None],
        "augment": [StrOptions({"auto", "dsa"}), DSA, None],
        "outer_loop": [Interval(Integral, 1, None, closed="left"), None],
        "inner_loop": [Interval(Integral, 0, None, closed="left"), None],
        "factor": [Interval(Integral, 1, None, closed="left"), None],
        "net_warmup_epochs": [Interval(Integral, 0, None, closed="left"), None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "barycenter": [StrOptions(set(BARYCENTERS))],
        "barycenter_weights": [dict, "array-like", None],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "missing_groups": [StrOptions({"error", "impute"})],
        "n_impute_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "checkpoint_dir": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "n_threads": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1}), None],
        "callbacks": [list, None],
        "log_every": [Interval(Integral, 1, None, closed="left")],
        "autocast": [StrOptions(set(AUTOCAST) - {None}), None],
    }

    def __init__(
        self,
        method="dm",
        target="cobra",
        ipc=10,
        *,
        n_iter=500,
        batch_real=256,
        lr=None,
        init="random_real",
        net_width=None,
        net_depth=None,
        net_norm=None,
        distance=None,
        augment="auto",
        outer_loop=None,
        inner_loop=None,
        factor=None,
        net_warmup_epochs=None,
        device="auto",
        random_state=None,
        verbose=0,
        barycenter="mean",
        barycenter_weights=None,
        huber_delta=1.0,
        missing_groups="error",
        n_impute_clusters=None,
        checkpoint_dir=None,
        checkpoint_every=100,
        n_threads=None,
        callbacks=None,
        log_every=10,
        autocast=None,
    ):
        self.method = method
        self.target = target
        self.ipc = ipc
        self.n_iter = n_iter
        self.batch_real = batch_real
        self.lr = lr
        self.init = init
        self.net_width = net_width
        self.net_depth = net_depth
        self.net_norm = net_norm
        self.distance = distance
        self.augment = augment
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop
        self.factor = factor
        self.net_warmup_epochs = net_warmup_epochs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.barycenter = barycenter
        self.barycenter_weights = barycenter_weights
        self.huber_delta = huber_delta
        self.missing_groups = missing_groups
        self.n_impute_clusters = n_impute_clusters
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.n_threads = n_threads
        self.callbacks = callbacks
        self.log_every = log_every
        self.autocast = autocast

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, sensitive_features=None, sample_weight=None, resume=False):
        """Learn the synthetic set.

        Parameters
        ----------
        X : array-like, DataFrame, Tensor or torch Dataset
            ``(n_samples, n_features)`` numbers, or images ``(N, H, W)``, ``(N, C, H, W)`` or
            ``(N, H, W, C)``, uint8 or float. A map-style ``torch.utils.data.Dataset`` is
            read item by item (for data that does not fit in memory); its items are
            ``(x, y)`` or ``(x, y, sensitive_feature)`` tuples unless ``y`` is given, and its
            standardisation statistics come from up to 2,048 evenly spaced items.
        y : array-like of shape (n_samples,), default=None
            Class labels (numbers or strings); read from the items when ``X`` is a Dataset.
        sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attrs), default=None
            Protected group of every sample; several columns give intersectional groups
            (one group per observed combination). ``None`` puts every sample in one group,
            where all targets coincide with ``"vanilla"``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative importance of every real sample in the matched statistics: within
            each matching row (a class, or a (class, group) cell) of every batch, a sample's
            weight is multiplied by its ``sample_weight`` and the row renormalised, so the
            target becomes the weighted mean of what it was. ``vanilla`` with
            :func:`skdistill.groups.density_weights` is the label-free reweighting of Cui et
            al. (ICML 2024). Every class needs a positive total.
        resume : bool, default=False
            Continue from the checkpoint in ``checkpoint_dir`` (written by an earlier fit on
            the same data with the same parameters; ``n_iter`` may grow). Without a
            checkpoint there, the fit starts afresh with a warning.

        Returns
        -------
        self : BarycentricDistiller
            The fitted estimator.
        """
        with self._fit_resources() as folder:
            plan = validate(self, X, y, sensitive_features, sample_weight, resume=resume)
            self._fit(plan, folder)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, *, sensitive_features=None, sample_weight=None, n_iter=1):
        """Continue the fit for ``n_iter`` more iterations (a first call starts one).

        The synthetic set, its optimiser, the random generator and the history carry over,
        so ``fit`` with ``n_iter=n`` then ``partial_fit(..., n_iter=m)`` on the same data
        gives exactly the synthetic set of ``fit`` with ``n_iter=n + m``. Other data may be
        given, as to scikit-learn's ``partial_fit``: it must have the same classes (every one
        of them), groups among ``groups_`` and the same sample shape; it is standardised as
        the first data were. The parameters must be those of the first fit (``n_iter``,
        ``verbose``, ``callbacks``, ``device``, ``n_threads`` and the checkpoint settings
        may change).

        Parameters
        ----------
        X, y, sensitive_features, sample_weight
            As in :meth:`fit`.
        n_iter : int, default=1
            Iterations to add.

        Returns
        -------
        self : BarycentricDistiller
            The fitted estimator.
        """
        self._validate_params()  # scikit-learn skips it for a fitted estimator's partial_fit
        check_scalar(n_iter, "n_iter", Integral, min_val=1)
        with self._fit_resources() as folder:
            plan = validate(self, X, y, sensitive_features, sample_weight, more=n_iter)
            self._fit(plan, folder)
        return self

    def transform(self, X=None):
        """Return the synthetic set ``(X_synthetic, y_synthetic)`` (copies), exactly as learnt.

        The samples are the optimised values, de-standardised into the input's scale: floats,
        neither clipped to the input's range nor rounded (uint8 images come back as float32
        in 0..255). This is what a model should be trained on, and what
        :func:`skdistill.evaluation.evaluate_synthetic` and ``skdistill benchmark`` score. For
        pictures to save in the input's dtype, use :meth:`synthetic_as_input_dtype`.

        Parameters
        ----------
        X : ignored
            Present for API symmetry; the synthetic set does not depend on new data.

        Returns
        -------
        X_synthetic : ndarray, DataFrame or Tensor
            Synthetic samples in the input's container, layout and scale (float).
        y_synthetic : ndarray or Series
            Their labels.
        """
        check_is_fitted(self, "X_synthetic_")
        return _copy(self.X_synthetic_), _copy(self.y_synthetic_)

    def synthetic_as_input_dtype(self):
        """The synthetic set clipped to the input's value range and cast to its dtype.

        Images only change: uint8 inputs give uint8 images (rounded), float inputs their float
        dtype clipped to the training images' range; tables are returned as learnt. Rounding
        and clipping remove part of what was learnt (on small images, a large part): use this
        to save or show pictures, and :meth:`transform` to train or evaluate models.

        Returns
        -------
        X_synthetic : ndarray or Tensor
            Synthetic samples in the input's container, layout, dtype and value range.
        y_synthetic : ndarray or Series
            Their labels.
        """
        check_is_fitted(self, "X_synthetic_")
        X = self._codec.decode(self._synthetic_internal, as_input_dtype=True)
        return X, _copy(self.y_synthetic_)

    def fit_transform(self, X, y, *, sensitive_features=None, sample_weight=None):
        """Fit, then return the synthetic set ``(X_synthetic, y_synthetic)``.

        Parameters
        ----------
        X, y, sensitive_features, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        X_synthetic, y_synthetic
            As in :meth:`transform`.
        """
        fitted = self.fit(X, y, sensitive_features=sensitive_features, sample_weight=sample_weight)
        return fitted.transform()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform() returns the learnt synthetic set (X_syn, y_syn), whatever X it is given
        tags.transformer_tags = TransformerTags(preserves_dtype=[])
        tags.target_tags.required = True
        tags.input_tags.three_d_array = True  # images (N, H, W)
        return tags

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted distiller, without pickle, with a ``.json`` provenance sidecar.

        Parameters and fitted state are stored as JSON plus plain arrays (an ``.npz``
        archive; any file name, e.g. ``"distiller.skd"``). Load it back with
        :func:`skdistill.load`, which verifies the checksum and runs nothing from the file.
        A parameter that only pickle could store (``random_state`` set to a ``RandomState``)
        is refused with a ``ValueError`` naming it.

        Parameters
        ----------
        path : str or Path
            Destination file.

        Returns
        -------
        Path
            The written file.
        """
        check_is_fitted(self, "X_synthetic_")
        return save_estimator(self, path)

    def save_synthetic(self, path):
        """Write the synthetic set as ``.npz`` or ``.pt``, with a ``.json`` provenance sidecar.

        The sidecar records the parameters, package and torch versions, data shapes, class and
        group counts, the seed, and a SHA-256 checksum that :func:`skdistill.load_synthetic`
        verifies.

        Parameters
        ----------
        path : str or Path
            Destination; its suffix (``.npz`` or ``.pt``) chooses the format.

        Returns
        -------
        Path
            The written file.
        """
        check_is_fitted(self, "X_synthetic_")
        return save_synthetic_set(self, path)

    # ------------------------------------------------------------------ fitting
    @contextmanager
    def _fit_resources(self):
        """The locked checkpoint folder (or None) and the fit's thread count, for its duration.

        The folder is checked writable and locked before the data are read.
        """
        folder = CheckpointFolder(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        with folder or nullcontext(), limit_threads(resolve_threads(self.n_threads)):
            yield folder

    def _fit(self, plan, folder=None):
        """Build the engine of a validated fit, run it, store the result."""
        engine, imputation = build_engine(
            plan.data,
            plan.make_method,
            plan.target,
            ipc=self.ipc,
            batch_real=self.batch_real,
            lr=self.lr,
            init=self.init,
            device=plan.device,
            random_state=self.random_state,
            n_impute_clusters=self.n_impute_clusters,
            log_every=self.log_every,
            autocast=AUTOCAST[self.autocast],
        )
        callbacks = [ProgressBar()] if self.verbose else []
        if folder is not None:
            fingerprint = {"params": run_params(self), "data": data_fingerprint(engine, plan.data)}
            check_data_fingerprint(self, plan.state, fingerprint)
            callbacks.append(Checkpoint(folder, self.checkpoint_every, fingerprint))
        if plan.state is not None:
            engine.load_state_dict(plan.state)
        # the estimator changes from here on, never before
        self.group_imputation_ = imputation
        self._record_data_attributes(plan.data, engine.sampler.index)
        start = time.perf_counter()
        try:
            engine.run(plan.n_iter, callbacks + plan.callbacks)
        finally:
            self._store(engine, plan.data, time.perf_counter() - start)
        if engine.status == "interrupted":
            warnings.warn(
                MSG_INTERRUPTED.format(
                    done=engine.iteration,
                    n_iter=plan.n_iter,
                    saved=" (checkpointed: fit again with resume=True)" if folder else "",
                ),
                RuntimeWarning,
                stacklevel=4,
            )

    def _store(self, engine, data, seconds):
        """Keep the synthetic set of the last completed iteration, and the engine's state."""
        self._engine_state = {**engine.state_dict(), "params": run_params(self)}
        synthetic = engine.result().detach().cpu()
        self._codec = data.codec
        self._synthetic_internal = synthetic
        self.X_synthetic_ = data.codec.decode(synthetic)
        per_class = self.ipc * engine.method.samples_per_stored()
        labels = self.classes_[np.arange(self.classes_.shape[0]).repeat(per_class)]
        if isinstance(data.y, pd.Series):
            labels = pd.Series(labels, name=data.y.name, dtype=data.y.dtype)
        self.y_synthetic_ = labels
        self.n_iter_ = engine.iteration
        self.fit_time_ = seconds
        self.history_ = history_frame(engine.history)

    def _record_data_attributes(self, data, index):
        classes, groups, codec = data.classes, data.groups, data.codec
        self.classes_ = classes
        self.groups_ = groups
        self.group_counts_ = pd.DataFrame(
            index.counts,
            index=pd.Index(classes, name="class"),
            columns=pd.Index(groups, name="group"),
        )
        self.absent_cells_ = [
            (classes[c], groups[g]) for c, g in zip(*np.nonzero(index.counts == 0))
        ]
        if codec.kind == "tabular":
            self.n_features_in_ = codec.sample_shape[0]
            if codec.columns is not None:
                self.feature_names_in_ = np.asarray(codec.columns, dtype=object)


def _copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    return obj.copy()
