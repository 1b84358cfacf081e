"""BarycentricDistiller: fair dataset distillation behind a scikit-learn estimator."""

from __future__ import annotations

import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from ._data import check_lengths, encode_groups, encode_labels, fit_codec, scalar
from ._sampling import ClassGroupIndex
from .methods import METHODS
from .nn import min_image_size
from .targets import TARGETS

MSG_DEVICE_UNKNOWN = (
    "device={device!r} is not a device torch knows; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
)
MSG_NO_CUDA = (
    "device={device!r} was requested but CUDA is not available on this machine; "
    "use device='cpu', or device='auto' to take CUDA only when it is there."
)
MSG_ONE_CLASS = "y has a single class ({cls!r}); distillation needs at least two classes."
MSG_SMALL_CLASS = (
    "class {cls!r} has {n} sample(s) but ipc={ipc} synthetic samples per class were requested. "
    "Lower ipc to at most {limit}, drop or merge this class, or collect more samples of it."
)
MSG_TINY_CLASS = (
    "class {cls!r} has a single sample; distilling a class needs at least 2. Drop or merge "
    "this class, or collect more samples of it."
)
MSG_SMALL_IMAGE = (
    "images of size {h}x{w} are too small for a ConvNet of net_depth={depth}, which halves "
    "the size {depth} times; pass images of at least {m}x{m} or lower net_depth."
)
MSG_NONFINITE_LOSS = (
    "the matching loss became {value} at iteration {it}; the synthetic set of the last good "
    "iteration is kept on the estimator. Lower lr (now {lr}) and fit again."
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
    - ``"cobra"``: the barycenter (mean) of the group means (COBRA).

    Parameters
    ----------
    method : {"dm"}, default="dm"
        Matching method. ``"dm"`` matches mean embeddings of a freshly drawn random network
        (ConvNet for images, MLP for tables) with the squared L2 distance.
    target : {"vanilla", "uniform", "fairdd", "cobra"}, default="cobra"
        How group statistics combine into the matched target.
    ipc : int, default=10
        Synthetic samples per class.
    n_iter : int, default=500
        Optimisation iterations.
    batch_real : int, default=256
        Real samples per class per iteration. Group-aware targets draw a group-stratified
        batch: every group of the class contributes ``ceil(batch_real / G_y)`` samples, or all
        of its samples when it has fewer.
    lr : float, default=1.0
        Learning rate of the synthetic samples (SGD, momentum 0.5), in standardised units.
    init : {"real", "random_real", "noise"}, default="real"
        ``"real"``: real samples of the class, cycling through its groups (group-balanced);
        ``"random_real"``: real samples of the class drawn at random; ``"noise"``: standard
        normal noise in standardised units.
    net_width, net_depth : int or None, default=None
        Size of the embedding network; ``None`` uses the reference values (ConvNet 128/3 for
        images, MLP 256/2 for tables).
    device : str or torch.device, default="auto"
        ``"auto"`` takes CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Fixes every random draw (initial samples, batches, networks). The same value on the
        same CPU gives a bit-identical synthetic set.
    verbose : int, default=0
        Show a progress bar and a summary of the groups when positive.

    Attributes
    ----------
    X_synthetic_ : ndarray, DataFrame or Tensor
        The synthetic samples, in the input's container, layout, dtype and value range.
    y_synthetic_ : ndarray or Series
        Their labels, with the dtype of ``y``; ``ipc`` per class, ordered by class.
    classes_ : ndarray
        Class labels.
    groups_ : ndarray
        Group names (one per combination when several sensitive columns are given).
    group_counts_ : DataFrame
        Class x group table of training-sample counts.
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
        "method": [StrOptions(set(METHODS))],
        "target": [StrOptions(set(TARGETS))],
        "ipc": [Interval(Integral, 1, None, closed="left")],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "batch_real": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "init": [StrOptions({"real", "random_real", "noise"})],
        "net_width": [Interval(Integral, 1, None, closed="left"), None],
        "net_depth": [Interval(Integral, 1, None, closed="left"), None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        method="dm",
        target="cobra",
        ipc=10,
        *,
        n_iter=500,
        batch_real=256,
        lr=1.0,
        init="real",
        net_width=None,
        net_depth=None,
        device="auto",
        random_state=None,
        verbose=0,
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
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, sensitive_features=None):
        """Learn the synthetic set.

        Parameters
        ----------
        X : array-like, DataFrame or Tensor
            ``(n_samples, n_features)`` numbers, or images ``(N, H, W)``, ``(N, C, H, W)`` or
            ``(N, H, W, C)``, uint8 or float.
        y : array-like of shape (n_samples,)
            Class labels (numbers or strings).
        sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attrs), default=None
            Protected group of every sample; several columns give intersectional groups
            (one group per observed combination). ``None`` puts every sample in one group,
            where all targets coincide with ``"vanilla"``.

        Returns
        -------
        self : BarycentricDistiller
            The fitted estimator.
        """
        data = self._validate_inputs(X, y, sensitive_features)
        self._fit_synthetic(**data)
        return self

    def transform(self, X=None):
        """Return the synthetic set ``(X_synthetic, y_synthetic)`` (copies).

        Parameters
        ----------
        X : ignored
            Present for API symmetry; the synthetic set does not depend on new data.

        Returns
        -------
        X_synthetic : ndarray, DataFrame or Tensor
            Synthetic samples in the input's container, layout, dtype and value range.
        y_synthetic : ndarray or Series
            Their labels.
        """
        check_is_fitted(self, "X_synthetic_")
        return _copy(self.X_synthetic_), _copy(self.y_synthetic_)

    def fit_transform(self, X, y, *, sensitive_features=None):
        """Fit, then return the synthetic set ``(X_synthetic, y_synthetic)``.

        Parameters
        ----------
        X, y, sensitive_features
            As in :meth:`fit`.

        Returns
        -------
        X_synthetic, y_synthetic
            As in :meth:`transform`.
        """
        return self.fit(X, y, sensitive_features=sensitive_features).transform()

    # ------------------------------------------------------------------ validation
    def _validate_inputs(self, X, y, sensitive_features):
        check_lengths(X=X, y=y, sensitive_features=sensitive_features)
        codec = fit_codec(X)
        if codec.kind == "image":
            depth = self.net_depth or 3
            h, w = codec.sample_shape[1:]
            if min(h, w) < min_image_size(depth):
                raise ValueError(
                    MSG_SMALL_IMAGE.format(h=h, w=w, depth=depth, m=min_image_size(depth))
                )
        classes, y_codes = encode_labels(y)
        if classes.shape[0] < 2:
            raise ValueError(MSG_ONE_CLASS.format(cls=scalar(classes[0])))
        class_sizes = np.bincount(y_codes, minlength=classes.shape[0])
        for cls, size in zip(classes, class_sizes):
            if size < 2:
                raise ValueError(MSG_TINY_CLASS.format(cls=scalar(cls)))
            if size < self.ipc:
                limit = int(class_sizes.min())
                msg = MSG_SMALL_CLASS.format(cls=scalar(cls), n=size, ipc=self.ipc, limit=limit)
                raise ValueError(msg)
        groups, g_codes = encode_groups(sensitive_features, y_codes.shape[0])
        device = resolve_device(self.device)
        return dict(
            X=X,
            y=y,
            codec=codec,
            classes=classes,
            y_codes=y_codes,
            groups=groups,
            g_codes=g_codes,
            device=device,
        )

    # ------------------------------------------------------------------ fitting
    def _fit_synthetic(self, X, y, codec, classes, y_codes, groups, g_codes, device):
        n_classes, n_groups = classes.shape[0], groups.shape[0]
        index = ClassGroupIndex(y_codes, g_codes, n_classes, n_groups)
        self._record_data_attributes(X, codec, classes, groups, index)

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.default_rng(seed)
        target = TARGETS[self.target]()
        method = METHODS[self.method](
            codec.sample_shape,
            n_classes,
            net_width=self.net_width,
            net_depth=self.net_depth,
            device=device,
        )

        real = codec.encode(X)
        if device.type == "cuda":
            real = real.pin_memory()
        synthetic = self._initial_synthetic(real, index, rng).to(device).requires_grad_(True)
        optimizer = torch.optim.SGD([synthetic], lr=self.lr, momentum=0.5)

        last_good = synthetic.detach().clone()
        losses, seconds = [], []
        start = time.perf_counter()
        progress = tqdm(range(self.n_iter), disable=not self.verbose, desc="distilling")
        try:
            for it in progress:
                batch = index.sample(rng, self.batch_real, target.stratified)
                plan = target.plan(y_codes[batch], g_codes[batch], n_classes, n_groups)
                x_real = real[batch].to(device, non_blocking=True)
                method.begin_iteration(int(rng.integers(2**62)))
                optimizer.zero_grad(set_to_none=True)
                value = method.match(x_real, plan, synthetic, self.ipc).item()
                if not math.isfinite(value):
                    raise FloatingPointError(
                        MSG_NONFINITE_LOSS.format(value=value, it=it, lr=self.lr)
                    )
                optimizer.step()
                losses.append(value)
                seconds.append(time.perf_counter() - start)
                progress.set_postfix(loss=f"{value:.4g}", refresh=False)
                if not torch.isfinite(synthetic).all():
                    raise FloatingPointError(
                        MSG_NONFINITE_LOSS.format(value="non-finite", it=it, lr=self.lr)
                    )
                last_good = synthetic.detach().clone()
        except KeyboardInterrupt:
            warnings.warn(
                f"fit interrupted after {len(losses)} of {self.n_iter} iterations; the "
                "estimator holds the synthetic set of the last completed iteration.",
                RuntimeWarning,
                stacklevel=3,
            )
        finally:
            progress.close()
            self._store_synthetic(last_good, codec, y)
            self.n_iter_ = len(losses)
            self.fit_time_ = time.perf_counter() - start
            self.history_ = pd.DataFrame(
                {"iteration": np.arange(1, len(losses) + 1), "loss": losses, "seconds": seconds}
            )
        return self

    def _store_synthetic(self, synthetic, codec, y):
        self.X_synthetic_ = codec.decode(synthetic)
        labels = self.classes_[np.arange(self.classes_.shape[0]).repeat(self.ipc)]
        if isinstance(y, pd.Series):
            labels = pd.Series(labels, name=y.name, dtype=y.dtype)
        self.y_synthetic_ = labels

    def _record_data_attributes(self, X, codec, classes, groups, index):
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
        if self.verbose:
            print(
                f"[skdistill] {len(classes)} classes x {len(groups)} groups, "
                f"{len(self.absent_cells_)} empty (class, group) cell(s) skipped"
            )

    def _initial_synthetic(self, real, index, rng):
        """The starting synthetic set, ``ipc`` samples per class, ordered by class."""
        if self.init == "noise":
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            shape = (index.n_classes * self.ipc, *real.shape[1:])
            return torch.randn(shape, generator=gen)
        chosen = []
        for cls in range(index.n_classes):
            if self.init == "random_real":
                members = index.members(cls)
                chosen.append(rng.choice(members, self.ipc, replace=False))
            else:
                chosen.append(index.balanced_pick(cls, self.ipc, rng))
        return real[np.concatenate(chosen)].clone()


def _copy(obj):
    if isinstance(obj, torch.Tensor):
        return obj.clone()
    return obj.copy()
