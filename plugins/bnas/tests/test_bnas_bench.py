"""``nas bench bnas``: registered under ``nas bench``; step times for every K of the plan and the
bits of binarized networks against their float twins."""

from __future__ import annotations

from nascore_bnas.bench import bench_bits, bench_command, bench_steps

from nascore import Architecture, DataInfo, count_params, registry

INFO = DataInfo(in_channels=3, image_size=8, num_classes=10)


def _space(name: str):
    cls = registry().get("space", name)
    return cls(cls.config_cls(), INFO)


def test_bench_times_search_and_sampling_steps_as_k_shrinks():
    rows, derived = bench_steps(channels=4, layers=3, image_size=8, batch_size=4, steps=1)
    kinds = [(r["kind"], r["ops_per_edge"]) for r in rows]
    assert kinds[:2] == [("search", 8), ("sample", 8)]
    assert sorted(k for kind, k in kinds if kind == "search") == list(range(1, 9))
    assert sorted(k for kind, k in kinds if kind == "sample") == list(range(2, 9))
    assert rows[0]["vs_first_search_step"] == 1.0 and all(r["seconds_per_step"] > 0 for r in rows)
    assert _space("bnas").validate(derived) == derived


def test_bench_bits_compares_binarized_networks_with_their_float_twins():
    darts_v2 = registry().get("architecture", "darts_v2")
    rows = bench_bits({"darts_v2": darts_v2}, [(4, 3)], image_size=8)
    assert [r["binarize"] for r in rows] == ["xnor", "pcnn"]
    float_net = _space("darts").build_network(Architecture("darts", darts_v2.spec), 4, 3)
    for row in rows:
        assert row["float_bits"] == 32 * count_params(float_net) == 32 * row["float_params"]
        assert row["bits"] < row["float_bits"]
        assert row["float_over_binary"] == round(row["float_bits"] / row["bits"], 2)


def test_bench_command_is_a_plugin_command_under_nas_bench():
    assert registry().get("command", "bnas").real is bench_command  # imported when first used
    assert bench_command.nascore_group == "bench"
