"""DistilledClassifier: distil the training set, then fit a classifier on the synthetic set."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, _fit_context, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._distiller import BarycentricDistiller

MSG_IMAGES_NEED_ESTIMATOR = (
    "the distilled samples are images, which the default LogisticRegression cannot take; pass "
    "an estimator that accepts arrays of shape {shape} (e.g. a pipeline that flattens them)."
)


def _estimator_has(attr):
    """Whether the fitted (or, before fitting, the given) estimator has ``attr``."""

    def check(self):
        est = getattr(self, "estimator_", None)
        if est is None:
            est = self.estimator if self.estimator is not None else LogisticRegression()
        return hasattr(est, attr)

    return check


class DistilledClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Distil the training data, then train a classifier on the synthetic set.

    ``fit`` runs ``distiller`` (a :class:`BarycentricDistiller`) on ``(X, y,
    sensitive_features)`` and fits a clone of ``estimator`` on the synthetic samples;
    ``predict``, ``predict_proba``, ``decision_function`` and ``score`` use that classifier. It
    works as the last step of a :class:`~sklearn.pipeline.Pipeline`, inside
    :class:`~sklearn.model_selection.GridSearchCV` (e.g. over ``distiller__target``) and in
    ``cross_val_score``; with scikit-learn's metadata routing enabled, ``sensitive_features`` is
    requested by default (``set_fit_request(sensitive_features=False)`` to leave it out).

    Parameters
    ----------
    distiller : BarycentricDistiller, default=None
        The (unfitted) distiller; ``BarycentricDistiller()`` when None.
    estimator : scikit-learn classifier, default=None
        Trained on the synthetic set; ``LogisticRegression(max_iter=1000)`` when None.

    Attributes
    ----------
    distiller_ : BarycentricDistiller
        The fitted clone of ``distiller``, holding the synthetic set.
    estimator_ : classifier
        The fitted clone of ``estimator``.
    classes_ : ndarray
        Class labels.
    n_features_in_ : int
        Number of features (tabular input).
    feature_names_in_ : ndarray of str
        Column names (DataFrame input).

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import BarycentricDistiller, DistilledClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 4)); y = (X[:, 0] > 0).astype(int)
    >>> A = rng.integers(0, 2, 300)
    >>> clf = DistilledClassifier(BarycentricDistiller(ipc=5, n_iter=20, random_state=0))
    >>> clf.fit(X, y, sensitive_features=A).score(X, y) > 0.8
    True
    """

    __metadata_request__fit = {"sensitive_features": True}  # the groups, as the distiller's
    _parameter_constraints: dict = {
        "distiller": [HasMethods(["fit_resample"]), None],
        "estimator": [HasMethods(["fit", "predict"]), None],
    }

    def __init__(self, distiller=None, estimator=None):
        self.distiller = distiller
        self.estimator = estimator

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, *, sensitive_features=None):
        """Distil ``(X, y)`` and fit the classifier on the synthetic set.

        Parameters
        ----------
        X : array-like, DataFrame or Tensor
            Training samples (see :meth:`BarycentricDistiller.fit`).
        y : array-like of shape (n_samples,)
            Class labels.
        sensitive_features : array-like, default=None
            Protected groups of the samples.

        Returns
        -------
        self : DistilledClassifier
            The fitted estimator.
        """
        if y is None:
            raise ValueError("requires y to be passed, but the target y is None.")
        if not hasattr(y, "iloc"):  # keep pandas labels (and their name) as they are
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        distiller = self.distiller if self.distiller is not None else BarycentricDistiller()
        self.distiller_ = clone(distiller)
        X_syn, y_syn = self.distiller_.fit_resample(X, y, sensitive_features=sensitive_features)
        if self.estimator is None:
            if np.ndim(X_syn) > 2:
                raise ValueError(MSG_IMAGES_NEED_ESTIMATOR.format(shape=tuple(np.shape(X_syn))))
            estimator = LogisticRegression(max_iter=1000)
        else:
            estimator = self.estimator
        self.estimator_ = clone(estimator).fit(X_syn, y_syn)
        self.classes_ = self.distiller_.classes_
        for attr in ("n_features_in_", "feature_names_in_"):
            if hasattr(self.distiller_, attr):
                setattr(self, attr, getattr(self.distiller_, attr))
        return self

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict class labels with the classifier trained on the synthetic set.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted labels.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the classifier trained on the synthetic set.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the classifier trained on the synthetic set.

        Parameters
        ----------
        X : array-like
            Samples.

        Returns
        -------
        ndarray
            Scores.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def score(self, X, y, sample_weight=None):
        """Accuracy of the classifier trained on the synthetic set.

        Parameters
        ----------
        X : array-like
            Samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        float
            Fraction of correctly predicted samples (weighted).
        """
        return super().score(X, y, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # trained on a handful of synthetic samples per class: accuracy is not full-data grade
        tags.classifier_tags.poor_score = True
        return tags
