"""The zero-cost estimators: one per proxy of :mod:`nascore_zerocost.proxies`, by its own name.

Each estimate builds the architecture's network at the space's size (``space.build_network``)
with weights initialised from ``estimator.seed`` and the architecture (so a score is a property
of the architecture: the same whatever was scored before, in every process), and scores it once:
``synflow``, ``params`` and ``flops`` need no data; the others look at one minibatch of the run's
training data (the first batch of the weights split, ``estimator.batch_size`` images). Scores are
cached per architecture within the process (a benchmark scoring the same cell again, e.g. in
another repeat's warm-up, reuses it). Nothing is trained, so a budget is refused.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch
from torch import nn

import nascore
from nascore import Architecture, Estimate
from nascore.config import positive
from nascore_zerocost import proxies

if TYPE_CHECKING:
    from nascore.context import SearchContext

#: Scores already computed in this process, keyed by :meth:`ZeroCostEstimator.cache_key`.
_SCORES: dict[tuple[Any, ...], float] = {}


@attrs.frozen
class ZeroCostConfig:
    """Settings shared by every proxy."""

    batch_size: int = nascore.field(
        64, "images of the one minibatch a data-dependent proxy looks at (Abdelfattah et al., "
        "ICLR 2021, Sec. 4: one minibatch of 64; synflow, params and flops use none)",
        validator=positive,
    )
    seed: int = nascore.field(
        0, "seed of the networks' initialisation, combined with the architecture so every "
        "architecture is scored at one fixed initialisation")


class ZeroCostEstimator(nascore.Estimator):
    """Base of the proxies: build, seed, score once, cache; ``needs_data`` says whether the
    proxy looks at a minibatch."""

    config_cls = ZeroCostConfig
    requires = frozenset({"network"})
    needs_data: ClassVar[bool] = True

    def __init__(self, config: ZeroCostConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        if context.budget is not None:
            raise self.refusal()
        if self.needs_data and context.data is None:
            raise nascore.DataError(
                f"estimator {self.name} scores a network on one minibatch and this run has no "
                "data; give the run a dataset (data.dataset)")
        self._batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def refusal(self) -> nascore.ConfigError:
        """The one-line error for a budget."""
        return nascore.ConfigError(
            f"estimator {self.name} is a zero-cost proxy and trains nothing; drop the budget "
            "(--budget / [budget]) or use --estimator train")

    def score(self, network: nn.Module) -> float:
        """The proxy's value of a freshly built network."""
        raise NotImplementedError

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The run's minibatch (the first of the weights split; the same for every estimate)."""
        if self._batch is None:
            assert self.context.data is not None
            x, y = next(self.context.data.batches("weights", self.config.batch_size, 0))
            self._batch = (x.to(self.context.device), y.to(self.context.device))
        return self._batch

    def input_shape(self) -> tuple[int, int, int]:
        """One image of the space's data: ``(channels, size, size)``."""
        info = self.context.space.data
        return (info.in_channels, info.image_size, info.image_size)

    def cache_key(self, arch: Architecture) -> tuple[Any, ...]:
        """What the score depends on: proxy, settings, space, data (when used) and ``arch``."""
        space = self.context.space
        data = None
        if self.needs_data and self.context.data is not None:
            data = (repr(self.context.data.config), self.context.data.seed)
        return (self.name, repr(self.config), space.name, repr(space.config),
                repr(space.data), data, arch.key())

    def estimate(self, arch: Architecture, budget: nascore.Budget | None = None) -> Estimate:
        """The proxy's score of ``arch`` (``cost_seconds``: the time it took, 0 when cached)."""
        if budget is not None:
            raise self.refusal()
        key = self.cache_key(arch)
        began = time.perf_counter()
        if key not in _SCORES:
            seed = zlib.crc32(f"{self.config.seed}:{arch.key()}".encode())
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                network = self.context.space.build_network(arch).to(self.context.device)
                value = self.score(network)
            _SCORES[key] = -math.inf if math.isnan(value) else value
        return Estimate(score=_SCORES[key], cost_seconds=time.perf_counter() - began)


def _proxy(name: str, doc: str, needs_data: bool,
           score: Callable[[ZeroCostEstimator, nn.Module], float]) -> type[ZeroCostEstimator]:
    return type(name.title().replace("_", ""), (ZeroCostEstimator,), {
        "__doc__": doc, "__module__": __name__, "name": name, "needs_data": needs_data,
        "score": lambda self, network: score(self, network)})


Synflow = _proxy("synflow", "Synaptic flow: |weights|, all-ones input, double precision, no "
                 "batch statistics (Tanaka et al., 2020); no data.", False,
                 lambda self, net: proxies.synflow(net, self.input_shape()))
GradNorm = _proxy("grad_norm", "Sum over layers of the loss gradient's norm on one minibatch "
                  "(Abdelfattah et al., 2021).", True,
                  lambda self, net: proxies.grad_norm(net.train(), *self.batch()))
Snip = _proxy("snip", "Sum of |theta * dloss/dtheta| on one minibatch (Lee et al., 2019).", True,
              lambda self, net: proxies.snip(net.train(), *self.batch()))
Grasp = _proxy("grasp", "Sum of -theta * Hg on one minibatch (Wang et al., 2020).", True,
               lambda self, net: proxies.grasp(net.train(), *self.batch()))
Fisher = _proxy("fisher", "Sum of the per-channel Fisher signal of every layer output on one "
                "minibatch (Turner et al., 2020).", True,
                lambda self, net: proxies.fisher(net.train(), *self.batch()))
JacobCov = _proxy("jacob_cov", "Correlation of the input Jacobians of one minibatch (Mellor et "
                  "al., arXiv:2006.04647v1).", True,
                  lambda self, net: proxies.jacob_cov(net.train(), self.batch()[0]))
Naswot = _proxy("naswot", "log|det K| of the ReLU activation patterns of one minibatch "
                "(Mellor et al., ICML 2021).", True,
                lambda self, net: proxies.naswot(net.train(), self.batch()[0]))
Params = _proxy("params", "Number of parameters (baseline).", False,
                lambda self, net: proxies.params(net))
Flops = _proxy("flops", "Multiply-adds of one image (baseline).", False,
               lambda self, net: proxies.flops(net, self.input_shape()))

#: Every proxy estimator, by name.
PROXIES: dict[str, type[ZeroCostEstimator]] = {
    cls.name: cls for cls in (Synflow, GradNorm, Snip, Grasp, Fisher, JacobCov, Naswot, Params,
                              Flops)
}
