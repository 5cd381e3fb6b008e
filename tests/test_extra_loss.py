"""Extra loss terms recorded during forward passes reach search steps and `nas train`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nascore.extra_loss import pop_extra_loss, record_extra_loss
from nascore.testing import make_strategy, tiny_data
from nascore.training.fit import fit_epoch


class Penalised(nn.Module):
    """Multiplies by one weight and records ``weight ** 2`` as an extra loss."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(3.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        record_extra_loss(self, self.weight**2)
        return x * self.weight


def test_records_are_summed_cleared_and_only_made_when_training_with_gradients():
    net = nn.Sequential(Penalised(), Penalised())
    net(torch.ones(1))
    assert float(pop_extra_loss(net).detach()) == 18.0
    assert pop_extra_loss(net) is None  # cleared
    net.eval()
    net(torch.ones(1))
    assert pop_extra_loss(net) is None
    net.train()
    with torch.no_grad():
        net(torch.ones(1))
    assert pop_extra_loss(net) is None


def test_fit_epoch_adds_the_recorded_term_to_the_loss():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = Penalised()
            self.head = nn.Linear(2, 2)

        def forward(self, x):
            return self.head(self.scale(x))

    torch.manual_seed(0)
    net = Net()
    batches = [(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    stats = fit_epoch(net, batches, optimizer, nn.CrossEntropyLoss(), torch.device("cpu"))
    with torch.no_grad():
        plain = nn.functional.cross_entropy(net(batches[0][0]), batches[0][1])
    assert stats.loss == pytest.approx(float(plain) + 9.0, rel=1e-5)


def test_supernet_extra_loss_enters_weights_and_arch_losses():
    strategy = make_strategy("darts")
    term = Penalised()
    strategy.supernet.cells[0].add_module("penalised", term)
    original = strategy.supernet.cells[0].forward

    def forward(s0, s1, selections):
        term(torch.ones(1))
        return original(s0, s1, selections)

    strategy.supernet.cells[0].forward = forward
    batch = next(tiny_data().batches("weights", 16, 0))
    metrics = strategy.search_step(batch, batch, 0)
    assert metrics["loss"] > 9.0 and metrics["arch_loss"] > 9.0
    assert pop_extra_loss(strategy.supernet) is None  # nothing left over
