"""EoiNAS on nascore's lean supernet computes what it computes on the naive mixture supernet."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from nascore import testing
from nascore.bench.naive import naive_differences, random_batches


@pytest.mark.parametrize("options", [{}, {"preset": "code"}], ids=["hard", "soft-code-preset"])
def test_same_loss_gradients_and_updates_as_the_naive_supernet(make_space, options):
    def make(extra: Mapping[str, Any]):
        return testing.make_strategy(
            "eoinas", space=make_space(layers=4), warmup_epochs=0, **options, **extra
        )

    diffs = naive_differences(make, random_batches(2, 6, (1, 8, 8)))
    assert all(value < 1e-10 for value in diffs.values()), diffs
