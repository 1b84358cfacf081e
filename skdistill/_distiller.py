"""BarycentricDistiller: fair dataset distillation behind a scikit-learn estimator."""

from __future__ import annotations

import time
from numbers import Integral

from imblearn.base import BaseSampler
from imblearn.utils import check_target_type
from sklearn.base import _fit_context
from sklearn.utils import check_scalar
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ._distributed import broadcast_object, is_main_process
from ._engine import build_engine, data_fingerprint
from ._fitted import (
    NO_TRANSFORM,
    copy_set,
    data_attributes,
    resampled,
    result_attributes,
    warn_interrupted,
)
from ._persistence import save_estimator, save_synthetic_set
from ._resources import fit_resources
from ._validation import PARAMETER_CONSTRAINTS, check_data_fingerprint, run_params, validate
from .callbacks import Checkpoint, ProgressBar


class BarycentricDistiller(BaseSampler):
    """Distil a labelled dataset into ``ipc`` synthetic samples per class, fairly across groups.

    The synthetic set is learnt by matching, class by class, a statistic of a representation
    of real data (the *method*) against the same statistic of the synthetic data. The *target*
    decides how the statistics of the protected groups of a class combine: ``"vanilla"``, the
    class mean (dominated by the majority groups); ``"uniform"``, the mean of a
    group-stratified batch; ``"fairdd"``, one matching term per group (FairDD); ``"cobra"``,
    the barycenter of the group means (COBRA); ``"reweighted"``, a uniform batch weighted by
    inverse group frequency (the COBRA paper's "DF"); ``"wasserstein"`` and ``"mmd"``, the
    barycenter and the mixture of the group *distributions* of embeddings (``method="dm"`` or
    ``"cafe"``).

    Parameters
    ----------
    method : {"dm", "dc", "idc", "cafe", "mtt"} or MethodSpec, default="dm"
        Matching method, by name or as an object with its parameters (``DM``, ``DC``, ``IDC``,
        ``CAFE``, ``MTT`` of :mod:`skdistill.methods`): mean embeddings of a fresh random
        network (dm), gradients of a network trained between matching steps (dc), gradients of
        multi-formation images (idc, images only), mean features at every layer plus a
        discrimination loss (cafe), or the parameters expert networks reach on real data
        (mtt; targets vanilla, uniform, fairdd and cobra, which read their own expert buffers).
    target : {"vanilla", "uniform", "fairdd", "cobra", "reweighted", "wasserstein", "mmd"} \
            or Target, default="cobra"
        How group statistics combine, by name or as an object (e.g.
        :class:`~skdistill.targets.CobraTarget` with its barycenter and group weights).
    ipc : int, default=10
        Synthetic samples per class.
    n_iter : int, default=500
        Optimisation iterations.
    batch_real : int, default=256
        Real samples per class per iteration (all of the class when it has fewer); group-aware
        targets share them as evenly as possible among the groups of the class.
    lr : float or None, default=None
        Learning rate of the synthetic samples (SGD, momentum 0.5; idc: in units of the
        input's range). ``None``: the method's reference (dm 1.0, dc 0.1, idc ``lr_img * ipc /
        10``, mtt 1000), times the mean groups per class for COBRA and the distribution
        targets (not for mtt, whose loss is normalised).
    init : {"random_real", "balanced", "noise"}, default="random_real"
        The starting set: random real samples of the class (the references' start), real
        samples cycling through its groups (an intervention of its own), or standard normal
        noise. ``"real"``, the former name of ``"balanced"``, is deprecated.
    net_width, net_depth : int or None, default=None
        Size of the network; ``None``: ConvNet 128/3 for images, MLP 256/2 for tables.
    net_norm : {"instance", "batch", "none"} or None, default=None
        Normalisation of the ConvNet (dc, idc); instance norm when None. Batch norm statistics
        come from real data and are frozen while gradients are matched.
    augment : {"auto", "dsa"}, DSA instance or None, default="auto"
        Differentiable siamese augmentation while matching (one draw per class and step for
        its real and synthetic batch); ``"auto"``: DSA for ``dm`` on images, else none.
    device : str or torch.device, default="auto"
        ``"auto"`` takes CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Fixes every random draw; the same value on the same CPU gives the same synthetic set.
    verbose : int, default=0
        Show a progress bar and a summary of the groups when positive.
    missing_groups : {"error", "impute"}, default="error"
        Refuse missing entries of ``sensitive_features``, or impute them by K-means on the
        standardised inputs (COBRA paper, Appendix L).
    n_impute_clusters : int or None, default=None
        K-means clusters for ``missing_groups="impute"``; the number of known groups when None.
    checkpoint_dir : str, path or None, default=None
        Folder locked for the fit, where a checkpoint is written atomically (every
        ``checkpoint_every`` iterations, at the end, on interruption) for ``resume=True``.
    checkpoint_every : int, default=100
        Iterations between checkpoints.
    n_threads : int or None, default=None
        CPU threads of the fit: ``None`` half the cores (at least 1), ``-1`` all of them.
    callbacks : list of Callback or None, default=None
        :class:`skdistill.callbacks.Callback` objects called at fit begin, after every
        iteration and at fit end.
    log_every : int, default=10
        Iterations between the transfers of the losses to the host, the only moments the loop
        waits for the device (the history keeps every loss; results do not depend on it). A
        non-finite loss stops the fit at the next log point, keeping the log point before.
    autocast : {"bf16"} or None, default=None
        Run the network passes of matching under :func:`torch.autocast` in bfloat16 (CPU or
        CUDA); statistics and the synthetic set stay float32. The result changes slightly.
    distance, outer_loop, inner_loop, factor, net_warmup_epochs : default=None
        Deprecated aliases of the method objects' parameters, removed in 0.3.
    barycenter, barycenter_weights, huber_delta : default="mean", None, 1.0
        Deprecated aliases of ``CobraTarget(barycenter, weights, delta)``, removed in 0.3.

    Attributes
    ----------
    X_synthetic_ : ndarray, DataFrame or Tensor
        The synthetic samples exactly as learnt, in the input's container, layout and scale.
    y_synthetic_ : ndarray or Series
        Their labels, with the dtype of ``y``, ordered by class.
    classes_, groups_ : ndarray
        Class labels; group names (one per combination of several sensitive columns).
    group_counts_ : DataFrame
        Class x group table of training-sample counts.
    group_imputation_ : dict or None
        With imputed groups: ``n_missing``, ``fraction_missing``, ``n_clusters``, ``imputed``
        (mask of the imputed samples) and ``codes`` (every sample's group index).
    absent_cells_ : list of tuple
        ``(class, group)`` pairs with no training sample; they are skipped for that class.
    n_iter_, fit_time_ : int, float
        Iterations completed; wall-clock seconds of the optimisation that made the set,
        over every call (a fit resumed from a checkpoint, or continued by ``partial_fit``,
        counts the seconds of the earlier calls up to their last logged iteration).
    history_ : DataFrame
        Loss and elapsed seconds per iteration.
    synthetic_lr_ : float
        ``method="mtt"`` only: the learnt student step size, the learning rate MTT trains
        models on the synthetic set with.
    n_features_in_, feature_names_in_ : int, ndarray of str
        Number of features (tables), column names (DataFrames).

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import BarycentricDistiller
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = rng.integers(0, 2, 200); A = rng.integers(0, 3, 200)
    >>> d = BarycentricDistiller(target="cobra", ipc=4, n_iter=5, batch_real=32, random_state=0)
    >>> X_syn, y_syn = d.fit_resample(X, y, sensitive_features=A)
    >>> X_syn.shape, y_syn.tolist()
    ((8, 5), [0, 0, 0, 0, 1, 1, 1, 1])
    """

    _parameter_constraints: dict = PARAMETER_CONSTRAINTS
    _sampling_type = "bypass"  # imbalanced-learn: no sampling_strategy, the set is learnt
    # with metadata routing, the groups are requested by default (as GroupKFold's groups)
    __metadata_request__fit = {"sensitive_features": True}
    __metadata_request__partial_fit = {"sensitive_features": True}
    __metadata_request__fit_resample = {"sensitive_features": True}

    # the parameters grouped by topic (one per line, they would fill a screen)
    # fmt: off
    def __init__(
        self, method="dm", target="cobra", ipc=10, *, n_iter=500, batch_real=256, lr=None,
        init="random_real", net_width=None, net_depth=None, net_norm=None, augment="auto",
        device="auto", random_state=None, verbose=0, missing_groups="error",
        n_impute_clusters=None, checkpoint_dir=None, checkpoint_every=100, n_threads=None,
        callbacks=None, log_every=10, autocast=None,
        # deprecated aliases of the parameters of the method and of COBRA's target
        distance=None, outer_loop=None, inner_loop=None, factor=None, net_warmup_epochs=None,
        barycenter="mean", barycenter_weights=None, huber_delta=1.0,
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
        self.augment = augment
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.missing_groups = missing_groups
        self.n_impute_clusters = n_impute_clusters
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.n_threads = n_threads
        self.callbacks = callbacks
        self.log_every = log_every
        self.autocast = autocast
        self.distance = distance
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop
        self.factor = factor
        self.net_warmup_epochs = net_warmup_epochs
        self.barycenter = barycenter
        self.barycenter_weights = barycenter_weights
        self.huber_delta = huber_delta

    # fmt: on
    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, sensitive_features=None, sample_weight=None, resume=False):
        """Learn the synthetic set.

        Parameters
        ----------
        X : array-like, DataFrame, Tensor or torch Dataset
            ``(n_samples, n_features)`` numbers, or images ``(N, H, W)``, ``(N, C, H, W)`` or
            ``(N, H, W, C)``, uint8 or float; a map-style ``Dataset`` of ``(x, y)`` or
            ``(x, y, sensitive_feature)`` items is read item by item.
        y : array-like of shape (n_samples,), default=None
            Class labels (numbers or strings); read from the items when ``X`` is a Dataset.
        sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attrs), default=None
            Protected group of every sample; several columns give intersectional groups.
            ``None`` puts every sample in one group (every target is then ``"vanilla"``).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative importance of every sample within each matching row of every batch
            (the row renormalised); e.g. :func:`skdistill.groups.density_weights`.
        resume : bool, default=False
            Continue from the checkpoint in ``checkpoint_dir`` (same data and parameters;
            ``n_iter`` may grow); without one there, start afresh with a warning.

        Returns
        -------
        self : BarycentricDistiller
            The fitted estimator.
        """
        with fit_resources(self.checkpoint_dir, self.n_threads) as folder:
            plan = validate(self, X, y, sensitive_features, sample_weight, resume=resume)
            self._fit(plan, folder)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, *, sensitive_features=None, sample_weight=None, n_iter=1):
        """Continue the fit for ``n_iter`` more iterations (a first call starts one).

        The synthetic set, its optimiser, the random generator and the history carry over:
        ``fit`` with ``n_iter=n`` then ``partial_fit(..., n_iter=m)`` gives the set of ``fit``
        with ``n_iter=n + m``. Other data must have every class, groups among ``groups_`` and
        the same sample shape (standardised as the first data were); the parameters must be
        the first fit's, but for ``n_iter``, ``verbose``, ``callbacks``, ``device``,
        ``n_threads``, ``log_every`` and the checkpoint settings.

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
        with fit_resources(self.checkpoint_dir, self.n_threads) as folder:
            plan = validate(self, X, y, sensitive_features, sample_weight, more=n_iter)
            self._fit(plan, folder)
        return self

    def fit_resample(self, X, y=None, *, sensitive_features=None, sample_weight=None):
        """Fit, then return the synthetic set ``(X_synthetic, y_synthetic)``: a sampler's contract.

        imbalanced-learn's sampler API: as a step of :class:`imblearn.pipeline.Pipeline` the
        distiller replaces the training data of the next steps by the synthetic set (at fit
        only; at predict the pipeline passes data through it untouched). With scikit-learn's
        metadata routing enabled, ``sensitive_features`` is requested by default (for ``fit``,
        ``partial_fit`` and ``fit_resample``): the pipeline's ``fit(X, y,
        sensitive_features=A)`` reaches the distiller, inside ``GridSearchCV`` too.

        Parameters
        ----------
        X, y, sensitive_features, sample_weight
            As in :meth:`fit`.

        Returns
        -------
        X_synthetic : ndarray, DataFrame or Tensor
            Synthetic samples in the input's container, layout and scale, exactly as learnt
            (floats, neither clipped nor rounded: uint8 images come back as float32 in 0..255);
            copies of :attr:`X_synthetic_`. For pictures in the input's dtype, use
            :meth:`synthetic_as_input_dtype`.
        y_synthetic : ndarray or Series
            Their labels, ordered by class (copies of :attr:`y_synthetic_`).
        """
        one_hot = y is not None and type_of_target(y) == "multilabel-indicator"
        labels = check_target_type(y, indicate_one_vs_all=True)[0] if one_hot else y
        self.fit(X, labels, sensitive_features=sensitive_features, sample_weight=sample_weight)
        return resampled(self, X, y, one_hot=one_hot)

    @property
    def sampling_strategy_(self):
        """Synthetic samples per class, ``{class: count}`` (imbalanced-learn's attribute)."""
        check_is_fitted(self, "X_synthetic_")
        per_class = len(self.y_synthetic_) // len(self.classes_)
        return dict.fromkeys(self.classes_.tolist(), per_class)

    def _fit_resample(self, X, y, **params):
        """imbalanced-learn's hook; :meth:`fit_resample` takes images, Datasets and groups."""
        return self.fit_resample(X, y, **params)

    def __getattr__(self, name):
        if name in ("transform", "fit_transform"):
            raise AttributeError(NO_TRANSFORM.format(name=name))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def synthetic_as_input_dtype(self):
        """The synthetic set clipped to the input's value range and cast to its dtype.

        Images only (tables come back as learnt). Rounding and clipping remove part of what
        was learnt: use it to save or show pictures, :meth:`fit_resample` to train models.

        Returns
        -------
        X_synthetic : ndarray or Tensor
            Synthetic samples in the input's container, layout, dtype and value range.
        y_synthetic : ndarray or Series
            Their labels.
        """
        check_is_fitted(self, "X_synthetic_")
        X = self._codec.decode(self._synthetic_internal, as_input_dtype=True)
        return X, copy_set(self.y_synthetic_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()  # imbalanced-learn's sampler tags
        tags.input_tags.sparse = False
        tags.input_tags.three_d_array = True  # images (N, H, W)
        return tags

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Save the fitted distiller, without pickle, with a ``.json`` provenance sidecar.

        Parameters and fitted state as JSON plus plain arrays (an ``.npz`` archive, any file
        name); :func:`skdistill.load` verifies the checksum and runs nothing from the file.

        Parameters
        ----------
        path : str or Path
            Destination file.

        Returns
        -------
        Path
            The written file (written by rank 0 alone under a process group).
        """
        check_is_fitted(self, "X_synthetic_")
        return save_estimator(self, path)

    def save_synthetic(self, path):
        """Write the synthetic set as ``.npz`` or ``.pt``, with a ``.json`` provenance sidecar.

        The sidecar records parameters, versions, shapes, counts, the seed and a SHA-256
        checksum that :func:`skdistill.load_synthetic` verifies.

        Parameters
        ----------
        path : str or Path
            Destination; its suffix (``.npz`` or ``.pt``) chooses the format.

        Returns
        -------
        Path
            The written file (written by rank 0 alone under a process group).
        """
        check_is_fitted(self, "X_synthetic_")
        return save_synthetic_set(self, path)

    # ------------------------------------------------------------------ fitting
    def _fit(self, plan, folder=None):
        """Build the engine of a validated fit, run it, store the result."""
        engine, imputation = build_engine(
            plan.data, plan.make_method, plan.target, device=plan.device, **plan.settings
        )
        callbacks = [ProgressBar()] if self.verbose and is_main_process() else []
        if folder is not None:
            fingerprint = {"params": run_params(self), "data": data_fingerprint(engine, plan.data)}
            check_data_fingerprint(self, plan.state, fingerprint)
            callbacks.append(Checkpoint(folder, self.checkpoint_every, fingerprint))
        state = broadcast_object(plan.state)
        if state is not None:
            engine.load_state_dict(state)
        # the estimator changes from here on, never before
        vars(self).update(data_attributes(plan.data, engine.sampler.index, imputation))
        # a resumed or continued optimisation counts the seconds of the calls before this one
        earlier = engine.history["seconds"][-1] if engine.history["seconds"] else 0.0
        start = time.perf_counter()
        try:
            engine.run(plan.n_iter, callbacks + plan.callbacks)
        finally:
            seconds = earlier + time.perf_counter() - start
            params = run_params(self)
            vars(self).update(
                result_attributes(engine, plan.data, self.classes_, self.ipc, seconds, params)
            )
        if engine.status == "interrupted":
            warn_interrupted(engine, checkpointed=folder is not None)
