"""One-epoch searches on the ``adarts`` space with the core's one-shot strategies (tri-level)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from nascore import Architecture, SearchContext
from nascore.data import DataConfig, SearchData
from nascore.events import EventLog
from nascore.oneshot import OneShotStrategy
from nascore.strategies.darts import DartsStrategy
from nascore.strategies.gdas import GDASStrategy
from nascore.strategies.pcdarts import PCDartsStrategy
from nascore.testing import record_steps

SETTINGS: dict[str, Any] = {"epochs": 1, "batch_size": 16, "valid_batches": 1}


@pytest.fixture(scope="module")
def data() -> SearchData:
    return SearchData(DataConfig(subset=64), seed=0)


def _search(cls: type[OneShotStrategy], space: Any, data: SearchData, **config: Any):
    """Run one epoch of ``cls`` on ``space``; return the strategy and the stages stepped."""
    context = SearchContext(
        space=space, seed=0, device=torch.device("cpu"), events=EventLog(), data=data
    )
    strategy = cls(cls.configure({**SETTINGS, **config}), context)
    recorder = record_steps(strategy)
    initial = {name: p.detach().clone() for name, p in strategy.params.tensors.items()}
    for _ in strategy.run_epoch(0):
        pass
    metrics = strategy.end_epoch(0)
    changed = {
        name for name, p in strategy.params.tensors.items() if not torch.equal(p, initial[name])
    }
    stages = [r.stage for r in recorder.records if r.split == "arch"]
    return strategy, stages, changed, metrics


@pytest.mark.parametrize(
    ("cls", "config"),
    [(DartsStrategy, {}), (PCDartsStrategy, {"warmup_epochs": 0}), (GDASStrategy, {})],
    ids=["darts", "pcdarts", "gdas"],
)
def test_one_epoch_search_trains_alpha_then_beta_and_derives_a_valid_architecture(
    cls: type[OneShotStrategy], config: dict[str, Any], data: SearchData, make_space
) -> None:
    space = make_space()
    strategy, stages, changed, metrics = _search(cls, space, data, **config)
    # tri-level: weights step, then alpha (stage 0), then beta (stage 1), every step
    steps = data.num_batches("weights", 16)
    assert sorted(strategy.params.optimizers) == [0, 1]
    assert stages == [0, 1] * steps
    assert {"normal", "reduce", "normal.act", "reduce.act"} <= changed
    assert len(metrics["arch_weights"]["normal.act"][0]) == 9
    arch = strategy.derive()
    assert space.validate(arch) == arch
    assert any(act is not None for act in arch.spec["normal_act"] + arch.spec["reduce_act"])
    if cls is PCDartsStrategy:  # edge normalisation on the op groups only (A-PC-DARTS)
        assert set(strategy.edge_norm.nodes) == {"normal", "reduce"}
        assert strategy.supernet.cells[0].edges[0].mixed.partial_channels == 4


def test_fixed_activation_search_trains_alpha_only(data: SearchData, make_space) -> None:
    space = make_space(fixed_activation="selu")
    strategy, stages, changed, _ = _search(DartsStrategy, space, data)
    assert sorted(strategy.params.optimizers) == [0] and set(stages) == {0}
    assert changed == {"normal", "reduce"}
    arch = strategy.derive()
    assert set(arch.spec["normal_act"] + arch.spec["reduce_act"]) <= {"selu", None}


def test_the_adarts_strategy_carries_the_papers_recipe(data: SearchData, make_space) -> None:
    from nascore_adarts import ADartsStrategy

    config = ADartsStrategy.configure({})
    assert (config.epochs, config.lr, config.lr_min, config.batch_size) == (25, 0.05, 0.001, 64)
    assert (config.arch_lr, config.arch_betas, config.arch_weight_decay) == (6e-4, (0.5, 0.999),
                                                                             1e-3)
    assert config.arch_step_first is False and config.second_order is False
    fields = {f.name: f for f in __import__("attrs").fields(type(config))}
    assert "A-DARTS, Sec. 4.1" in fields["lr"].metadata["help"]
    strategy, stages, changed, _ = _search(ADartsStrategy, make_space(), data)
    assert stages == [0, 1] * data.num_batches("weights", 16)  # alpha, then beta, every step
    assert {"normal", "normal.act"} <= changed


@pytest.mark.slow
def test_a_discarded_normal_cell_is_reported_and_derived_again_by_the_suggested_resume(
    tmp_path, monkeypatch, capsys
) -> None:
    from nascore import InfeasibleError
    from nascore.runner import resolve_config, resume_run, start_run
    from nascore.show import show_run
    from nascore.spaces.darts import DartsSpace

    def without_skip(self, scores):  # the DARTS rule's outcome: sep convs only, no skip
        cell = [["sep_conv_3x3", 0], ["sep_conv_3x3", 1]] * 4
        return Architecture("darts", {"normal": cell, "normal_concat": [2, 3, 4, 5],
                                      "reduce": cell, "reduce_concat": [2, 3, 4, 5]})

    monkeypatch.setattr(DartsSpace, "derive", without_skip)
    tree = resolve_config(
        "adarts", "adarts", flags={"epochs": 1, "channels": 4, "layers": 3, "batch_size": 16},
        overrides=["data.subset=64", "strategy.valid_batches=1", "space.activations=relu,selu",
                   "space.require_skip_in_normal=true"],
    )
    run = tmp_path / "run"
    with pytest.raises(InfeasibleError, match="no skip_connect") as info:
        start_run(tree, run, progress=False)
    assert f"`nas resume {run} --set SECTION.KEY=VALUE`" in str(info.value)
    assert not (run / "result.json").exists()
    show_run(str(run))
    out = capsys.readouterr().out
    assert "the search ended, deriving failed: the derived normal cell has no skip_connect" in out
    assert "--set space.require_skip_in_normal=false" in out
    assert f"`nas resume {run} --set SECTION.KEY=VALUE`" in out
    # the suggested resume derives again without the check (no more training)
    arch = resume_run(run, ["space.require_skip_in_normal=false"], progress=False)
    assert arch.spec["normal"][0] == ["sep_conv_3x3", 0] and arch.spec["normal_act"][0]
    assert (run / "result.json").exists()
