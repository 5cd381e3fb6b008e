"""Hyper-parameter importance from a random forest (Eq. 3-8 of MIP-BPE).

The forest is scikit-learn's :class:`~sklearn.ensemble.RandomForestRegressor` (bootstrap samples
D_s, squared-error impurity H of Eq. 4, every feature tried at every split as in Eq. 6). The
importance is read from each fitted tree's ``tree_`` arrays:

* Eq. 7, per split node m: ``I_m = |Q_m| H(Q_m) - |Q_left| H(Q_left) - |Q_right| H(Q_right)``,
  with ``|Q|`` the node's (bootstrap-weighted) sample count and ``H`` its impurity;
* Eq. 8: ``I_i = sum of I_m over the nodes of the whole forest that split on i / sum of all I_m``.

This differs from scikit-learn's ``feature_importances_``, which normalises each tree before
averaging; Eq. 8 normalises once over the forest, so trees that explain more variance weigh more.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.ensemble import RandomForestRegressor


def split_importances(tree: Any, n_features: int) -> np.ndarray:
    """Eq. 7 summed per feature over the split nodes of one tree (unnormalised).

    ``tree`` is a fitted tree's ``tree_`` or anything with its arrays ``children_left``,
    ``children_right``, ``feature``, ``impurity`` and ``weighted_n_node_samples``.
    """
    totals = np.zeros(n_features)
    weighted = np.asarray(tree.weighted_n_node_samples, dtype=float) * np.asarray(tree.impurity)
    for node, (left, right) in enumerate(zip(tree.children_left, tree.children_right,
                                             strict=True)):
        if left < 0:  # a leaf
            continue
        totals[tree.feature[node]] += weighted[node] - weighted[left] - weighted[right]
    return totals


def forest_importances(trees: Iterable[Any], n_features: int) -> np.ndarray:
    """Eq. 8: every feature's share of the impurity decrease of all split nodes of the forest
    (all zeros when no tree splits)."""
    totals = sum((split_importances(tree, n_features) for tree in trees), np.zeros(n_features))
    grand = totals.sum()
    return totals / grand if grand > 0 else np.zeros(n_features)


def fit_forest(x: ArrayLike, y: ArrayLike, trees: int, seed: int) -> RandomForestRegressor:
    """A random forest regressor of ``y`` (r_s) on ``x`` (budgets, one column per
    hyper-parameter), bootstrap on, every feature considered at every split."""
    forest = RandomForestRegressor(
        n_estimators=trees, max_features=1.0, bootstrap=True, random_state=seed, n_jobs=1
    )
    return forest.fit(np.asarray(x, dtype=float), np.asarray(y, dtype=float))


def hyperparameter_importances(x: ArrayLike, y: ArrayLike, trees: int, seed: int) -> np.ndarray:
    """Eq. 8 importances of the columns of ``x`` for predicting ``y`` (zeros when ``y`` is
    constant or has fewer than two samples: nothing to explain)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(y) < 2 or np.ptp(y) == 0:
        return np.zeros(x.shape[1])
    forest = fit_forest(x, y, trees, seed)
    return forest_importances((tree.tree_ for tree in forest.estimators_), x.shape[1])
