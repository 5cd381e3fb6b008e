"""The ``bnas`` pieces with other components: the space under ``darts``, ``pcdarts`` and ``gdas``
(L_A in the loss of the ops that ran), the reduction part under ``pcdarts`` on ``adarts``, and a
``bits`` bound under the core's penalty handler, reported by ``nas show``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from nascore_bnas.binary import PCNNConv2d
from nascore_bnas.bits import model_bits
from nascore_bnas.reduction_part import SpaceReduction

from nascore import testing
from nascore.oneshot import reachable_range
from nascore.runner import resolve_config, start_run
from nascore.show import show_run

#: Strategy settings of one tiny epoch with architecture steps.
ONE_EPOCH = {"epochs": 1, "warmup_epochs": 0, "valid_batches": 1}


def _first_weights_step(make_space, strategy: str, theta: float) -> tuple[float, float]:
    """The loss of a first weights step on the ``bnas`` space with ``amplitude_theta = theta``,
    and ``L_A`` of the PCNN convolutions that ran in it (measured as they ran)."""
    search = testing.make_strategy(strategy, space=make_space(amplitude_theta=theta), **ONE_EPOCH)
    terms: list[torch.Tensor] = []
    for module in search.supernet.modules():
        if isinstance(module, PCNNConv2d):
            module.register_forward_pre_hook(
                lambda m, _args: terms.append(m.amplitude_loss(theta).detach()))
    batch = next(testing.tiny_data().batches("weights", 16, 0))
    loss = search.search_step(batch, None, 0)["loss"]
    return loss, float(sum(terms))


@pytest.mark.parametrize("strategy", ["darts", "pcdarts", "gdas"])
def test_bnas_space_under_one_shot_strategies(make_space, strategy: str) -> None:
    plain, _ = _first_weights_step(make_space, strategy, 0.0)
    loss, amplitude = _first_weights_step(make_space, strategy, 5.0)
    assert amplitude > 0
    assert loss - plain == pytest.approx(amplitude, rel=1e-4)  # Eq. 7: L = L_S + L_A
    search = testing.make_strategy(strategy, space=make_space(), **ONE_EPOCH)
    alphas = search.alphas["normal"].detach().clone()
    (summary,) = testing.drive(search, [0])
    assert summary["arch_loss"] > 0 and not torch.equal(alphas, search.alphas["normal"])
    arch = search.derive()
    assert arch.space == "bnas" and search.context.space.validate(arch) == arch


def test_reduction_part_under_pcdarts_on_adarts(make_search, make_space) -> None:
    search = make_search("pcdarts", make_space("adarts"), parts=[SpaceReduction.name])
    part = search.part(SpaceReduction.name)
    assert [g.name for g in part.groups] == ["normal", "reduce"]
    beta = search.alphas["normal.act"].detach().clone()
    testing.drive(search, range(search.num_epochs))
    assert search.masks["normal"].sum(dim=1).tolist() == [1] * 14
    assert search.masks["reduce"].sum(dim=1).tolist() == [1] * 14
    assert search.masks["normal.act"].all() and search.masks["reduce.act"].all()
    assert not torch.equal(beta, search.alphas["normal.act"])  # beta trained in search epochs
    arch = search.derive()
    assert arch.space == "adarts" and search.context.space.validate(arch) == arch


def test_bits_bound_under_the_penalty_handler_and_nas_show_reports_bits(
    make_space, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = make_space()
    low, high = reachable_range(space, space.cost_table("bits"))
    bound = int(low + 0.05 * (high - low))
    tree = resolve_config(
        "darts", "bnas",
        flags={"epochs": 2, "channels": 4, "layers": 3, "batch_size": 16},
        file_tree={"run": {"constraints": [f"bits:..{bound}"]}},
        overrides=["data.subset=96", "strategy.valid_batches=1", "space.reductions=[1]"],
    )
    run, arch = start_run(tree, tmp_path / "run", progress=False)
    bits = model_bits(space.build_network(arch))
    assert bits <= bound
    result = (run.path / "result.json").read_text()
    assert f'"bits:..{bound}"' in result and '"satisfied": true' in result
    capsys.readouterr()
    show_run(str(run.path))
    shown = capsys.readouterr().out
    assert f"{bits:,} bits" in shown
