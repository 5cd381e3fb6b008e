"""The ``projection`` handler inside tiny searches: the Phase I/II schedule, in-place projection,
bounds met by the derived network, and the combinations the plugin promises."""

from __future__ import annotations

import pytest
import torch
from nascore_rcdarts import Projection

from nascore.testing import drive

#: Short phases so that a 3-step epoch projects (and short projections), at one level (the
#: tiny 3-cell space has one normal cell; the default is the paper's three levels).
FAST = {"phase1_steps": 2, "warm_start_steps": 3, "projection_steps": 100}
ONE_LEVEL = {"preset": "wo_mls_cc"}
#: Bounds that exclude what the tiny unconstrained search derives (checked below).
BOUNDS = ("params:5000..8000", "flops:80000..140000")


def _inside(measured: tuple[int, int], bounds: tuple[str, str]) -> bool:
    for value, spec in zip(measured, bounds, strict=True):
        low, high = (float(x) for x in spec.partition(":")[2].split(".."))
        if not low <= value <= high:
            return False
    return True


@pytest.mark.parametrize("arch_first", [False, True], ids=["weights-first", "arch-first"])
def test_phase_one_and_two_alternate_every_e_u_iterations(
    arch_first, make_space, make_search
) -> None:
    search = make_search("rcdarts", make_space(), BOUNDS, epochs=2,
                         arch_step_first=arch_first, **FAST, **ONE_LEVEL)
    handler = search.part(Projection.name)
    log: list[str] = []

    def spy(method, mark):
        def wrapped(*args, **kwargs):
            result = method(*args, **kwargs)
            log.append(mark)
            return result

        return wrapped

    search.weights_step = spy(search.weights_step, "w")
    search.arch_steps = spy(search.arch_steps, "a")
    handler.project = spy(handler.project, "P")
    metrics = drive(search, range(2))
    step = "aw" if arch_first else "wa"
    # 6 iterations: warm start of 3, then every 2; the search ends with a Phase II (Alg. 1)
    assert "".join(log) == step * 3 + "P" + step * 2 + "P" + step + "P"
    assert handler.projections == 3 and handler.iterations == 0
    # lambda: 100 in epoch 0, 90 in epoch 1, and 0 for the Phase II after the last epoch
    assert metrics[0]["projection"]["lambdas"] == [100.0]
    assert metrics[1]["projection"]["lambdas"] == pytest.approx([90.0, 0.0])
    assert metrics[1]["projection"]["steps"][-1] == 0


def test_the_last_phase_two_leaves_theta_as_phase_one_left_it(make_space, make_search) -> None:
    # Sec. 3.2.2: "At the end of training, lambda -> 0 and theta_p := theta"
    search = make_search("rcdarts", make_space(), ("params:..3000",), epochs=1,
                         **{**FAST, **ONE_LEVEL, "warm_start_steps": 2})
    handler = search.part(Projection.name)
    seen: list[dict[str, torch.Tensor]] = []
    project = handler.project

    def watched(*args, **kwargs):
        before = {n: search.params.alphas[n].detach().clone() for n in handler.groups}
        result = project(*args, **kwargs)
        seen.append({n: search.params.alphas[n].detach() - before[n] for n in handler.groups})
        return result

    handler.project = watched
    metrics = drive(search, range(1))[0]["projection"]
    # 3 iterations, warm start 2: one projection at lambda 100, then the last at lambda 0
    assert metrics["lambdas"] == [100.0, 0.0] and metrics["steps"][0] > 0
    assert any(bool(d.abs().max() > 0) for d in seen[0].values())  # the bound binds
    assert all(bool((d == 0).all()) for d in seen[1].values())  # theta_p := theta
    after = metrics["expected_after"][-1]["params:..3000"]
    assert metrics["expected_before"][-1]["params:..3000"] == after > 3000


def test_projection_replaces_the_alphas_in_place_and_leaves_adam_alone(
    make_space, make_search
) -> None:
    search = make_search("rcdarts", make_space(), ("params:..3000",), epochs=2, **ONE_LEVEL)
    drive(search, range(1))  # 3 iterations, no projection yet (warm start 300)
    handler = search.part(Projection.name)
    assert handler.projections == 0
    params = search.params
    objects = {n: params.alphas[n] for n in handler.groups}
    before = {n: a.detach().clone() for n, a in objects.items()}
    adam = {s: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
            for s, state in params.optimizers[0].state.items()}
    result = handler.project()
    assert result.violation_before > 0 and result.steps > 0
    assert handler.groups == ["normal", "reduce"]
    for name, alpha in objects.items():
        assert params.alphas[name] is alpha  # the same parameters, new values
        assert not torch.equal(alpha.detach(), before[name])
    for param, state in params.optimizers[0].state.items():
        assert all(torch.equal(state[k], adam[param][k]) for k in ("exp_avg", "exp_avg_sq"))
    assert result.violation_after < result.violation_before


def test_a_tiny_search_meets_bounds_that_exclude_the_unconstrained_result(
    make_space, make_search, measure
) -> None:
    space = make_space()
    free = make_search("rcdarts", space, (), epochs=2, **ONE_LEVEL)
    drive(free, range(2))
    assert not _inside(measure(space, free.derive()), BOUNDS)
    search = make_search("rcdarts", space, BOUNDS, epochs=2, **FAST, **ONE_LEVEL)
    metrics = drive(search, range(2))
    assert sum(m["projection"]["count"] for m in metrics) == 3
    assert metrics[1]["projection"]["lambda"] == pytest.approx(90.0)  # 100 * 0.9 ** 1
    arch = search.derive()
    assert _inside(measure(space, arch), BOUNDS)
    # whether the argmax met the bounds or the repair changed it, for result.json
    repair = search.derivation_report()["constraint_repair"]
    assert repair["handler"] == "projection" and set(repair["expected"]) == set(BOUNDS)
    assert list(repair["derived"].values()) == list(measure(space, arch))
    assert repair["argmax_met"] == (not repair["changed"])


@pytest.mark.parametrize(
    ("strategy", "config"),
    [("pcdarts", {"warmup_epochs": 0}), ("gdas", {}), ("eoinas", {"epochs": 3, "prune_every": 1})],
)
def test_projection_under_other_one_shot_strategies(
    strategy, config, make_space, make_search, measure
) -> None:
    space = make_space()
    search = make_search(strategy, space, BOUNDS, constraint_handler="projection",
                         **{"epochs": 2, **FAST, **config})
    assert isinstance(search.parts[-1], Projection)
    metrics = drive(search, range(search.num_epochs))
    assert sum(m["projection"]["count"] for m in metrics) >= 2
    assert _inside(measure(space, search.derive()), BOUNDS)


def test_kept_edges_honour_edge_normalisation_and_pruning(make_space, make_search) -> None:
    search = make_search("pcdarts", make_space(), ("params:..3000",),
                         constraint_handler="projection", warmup_epochs=0)
    handler = search.part(Projection.name)
    with torch.no_grad():
        alphas = search.params.alphas["normal"]
        alphas.zero_()
        alphas[2, 4] = 3.0  # n3<-0 would be node 3's strongest edge by its op weights ...
        betas = search.params.tensors["normal.edges"]
        betas.zero_()
        betas[2] = -6.0  # ... but edge normalisation weighs it down
    search.prune("normal", 5, "sep_conv_5x5")
    kept = handler.kept()["normal"]
    plain = search.context.space.kept_mask(search.probabilities())["normal"]
    assert plain[2].any() and not kept[2].any()
    before = search.params.alphas["normal"].detach().clone()
    assert handler.project().steps > 0
    after = search.params.alphas["normal"].detach()
    assert torch.equal(after[2], before[2])  # not kept: no cost gradient, not moved
    assert after[5, 5] == before[5, 5]  # pruned: never moved
    assert not torch.equal(after, before)


def test_multi_level_search_on_adarts_meets_its_bounds(make_space, make_search, measure) -> None:
    space = make_space("adarts", layers=4, connection_cell=True)  # normal cells 0 and 3
    bounds = ("params:8000..14000", "flops:100000..200000")
    search = make_search("rcdarts", space, bounds, levels=2, epochs=1, joint_arch_step=True,
                         **FAST)
    handler = search.part(Projection.name)
    assert handler.groups == ["normal", "normal_2", "reduce", "connection", "normal.act",
                              "normal_2.act", "reduce.act"]
    drive(search, range(1))
    assert handler.projections == 1
    arch = search.derive()
    assert {"normal_2", "normal_2_act", "connection"} <= set(arch.spec)
    assert _inside(measure(space, arch), bounds)
    deeper = space.build_network(arch, layers=8)
    assert [cell.key for cell in deeper.cells] == [
        "normal", "normal", "reduce", "normal", "normal_2", "reduce", "normal_2", "normal_2",
    ]


def test_resumed_search_continues_identically(make_space, make_search) -> None:
    space = make_space()
    whole = make_search("rcdarts", space, BOUNDS, epochs=2, **FAST, **ONE_LEVEL)
    drive(whole, range(2))
    first = make_search("rcdarts", space, BOUNDS, epochs=2, **FAST, **ONE_LEVEL)
    drive(first, range(1))
    state = first.state_dict()
    assert state["parts"]["projection"]["projections"] == 1
    resumed = make_search("rcdarts", space, BOUNDS, epochs=2, **FAST, **ONE_LEVEL)
    resumed.load_state_dict(state)
    drive(resumed, range(1, 2))
    for name, alpha in whole.params.alphas.items():
        assert torch.equal(alpha, resumed.params.alphas[name])
