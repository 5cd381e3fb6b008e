"""Eq. 7-8: importance from the split nodes of fitted trees, normalised over the forest."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from nascore_mipbpe import (
    fit_forest,
    forest_importances,
    hyperparameter_importances,
    split_importances,
)
from sklearn.tree import DecisionTreeRegressor

# Four budgets (x0, x1) -> r_s: (0,0) 0, (0,1) 0, (1,0) 1, (1,1) 3.
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([0.0, 0.0, 1.0, 3.0])


def two_split_tree() -> SimpleNamespace:
    """The tree of X, Y by hand. Root: 4 samples, mean 1, H = (1+1+0+4)/4 = 1.5. It splits on
    x0 (decrease 4, against 1 for x1) into a pure leaf {0, 0} and {1, 3} (mean 2, H = 1), which
    splits on x1 into two pure leaves."""
    return SimpleNamespace(
        children_left=np.array([1, -1, 3, -1, -1]),
        children_right=np.array([2, -1, 4, -1, -1]),
        feature=np.array([0, -2, 1, -2, -2]),
        impurity=np.array([1.5, 0.0, 1.0, 0.0, 0.0]),
        weighted_n_node_samples=np.array([4.0, 2.0, 2.0, 1.0, 1.0]),
    )


def test_eq7_on_a_hand_built_two_split_tree() -> None:
    # Root: 4 * 1.5 - 2 * 0 - 2 * 1 = 4 (x0); inner node: 2 * 1 - 1 * 0 - 1 * 0 = 2 (x1).
    assert split_importances(two_split_tree(), 2) == pytest.approx([4.0, 2.0])
    assert forest_importances([two_split_tree()], 2) == pytest.approx([2 / 3, 1 / 3])


def test_scikit_learn_grows_the_same_tree_and_its_tree_gives_the_same_importance() -> None:
    fitted = DecisionTreeRegressor(random_state=0).fit(X, Y).tree_
    hand = two_split_tree()
    assert fitted.node_count == 5
    assert sorted(fitted.feature[fitted.children_left >= 0]) == [0, 1]
    assert fitted.impurity[0] == pytest.approx(hand.impurity[0])
    assert split_importances(fitted, 2) == pytest.approx([4.0, 2.0])


def test_eq8_normalises_once_over_the_forest_not_per_tree() -> None:
    # A second tree with one split on x1 worth 1: Eq. 8 gives x0 4/7, x1 3/7; averaging
    # per-tree shares (scikit-learn's feature_importances_) would give x0 (2/3 + 0) / 2 = 1/3.
    stump = SimpleNamespace(
        children_left=np.array([1, -1, -1]), children_right=np.array([2, -1, -1]),
        feature=np.array([1, -2, -2]), impurity=np.array([0.25, 0.0, 0.0]),
        weighted_n_node_samples=np.array([4.0, 2.0, 2.0]),
    )
    assert split_importances(stump, 2) == pytest.approx([0.0, 1.0])
    assert forest_importances([two_split_tree(), stump], 2) == pytest.approx([4 / 7, 3 / 7])


def test_forest_importance_reads_every_fitted_tree() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(40, 3)).astype(float)
    y = 2.0 * x[:, 1] + 0.1 * rng.normal(size=40)
    forest = fit_forest(x, y, trees=20, seed=0)
    expected = forest_importances([t.tree_ for t in forest.estimators_], 3)
    found = hyperparameter_importances(x, y, trees=20, seed=0)
    assert found == pytest.approx(expected)
    assert found.sum() == pytest.approx(1.0)
    assert int(np.argmax(found)) == 1
    assert not np.allclose(found, forest.feature_importances_)  # Eq. 8 is not sklearn's mean


def test_nothing_to_explain_gives_zero_importance() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert hyperparameter_importances(x, [0.5, 0.5, 0.5], 10, 0).tolist() == [0.0, 0.0]
    assert hyperparameter_importances(x[:1], [0.5], 10, 0).tolist() == [0.0, 0.0]
    assert forest_importances([], 2).tolist() == [0.0, 0.0]
