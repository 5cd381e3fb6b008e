"""The core's strategies on the ``adarts`` supernet compute what they compute on the naive
mixture supernet (each parameterized op applying the edge's activation to its input itself,
with ``every_relu`` at each of its sites, instead of once per edge; no shared pools).

The searched activations leave out ``rrelu``: random in training, it draws its noise once per
edge input when shared (the paper's Figure 2) and once per op in the naive supernet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from nascore import testing
from nascore.bench.naive import naive_differences, random_batches

#: Deterministic activations, one with parameters (prelu).
ACTIVATIONS = {"activations": ["relu", "prelu", "elu", "swish"]}


@pytest.mark.parametrize(
    ("strategy", "channels", "space_options"),
    [
        ("darts", 4, ACTIVATIONS),
        ("darts", 4, {**ACTIVATIONS, "activation_sites": "every_relu"}),
        ("darts", 4, {"fixed_activation": "relu"}),
        ("pcdarts", 8, ACTIVATIONS),
        ("gdas", 4, ACTIVATIONS),
    ],
    ids=["darts", "darts-every-relu", "darts-fixed-activation", "pcdarts", "gdas"],
)
def test_same_loss_gradients_and_updates_as_the_naive_supernet(
    make_space, strategy, channels, space_options
):
    def make(extra: Mapping[str, Any]):
        space = make_space(channels=channels, layers=4, **space_options)
        return testing.make_strategy(strategy, space=space, warmup_epochs=0, **extra)

    diffs = naive_differences(make, random_batches(2, 6, (1, 8, 8)))
    assert set(diffs) == {"loss", "weight_grads", "arch_grads", "weights", "arch"}
    assert all(value < 1e-10 for value in diffs.values()), diffs
