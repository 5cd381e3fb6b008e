"""Executors: where independent evaluations run (discrete strategies' candidates, the budget
search of ``nas bpe search``).

Three kinds, chosen by the run config's ``[executor]`` section (``--executor``, ``--workers``):
``inline`` (this process, the default), ``process`` (:mod:`.process`, a pool of processes on this
machine) and ``ray`` (:mod:`.ray_cluster`, a local Ray instance or an existing Ray cluster; the
optional extra ``nascore[ray]``). The interface is :class:`Executor`; estimators use it through
``Estimator.estimate_many`` (:mod:`.estimation`), so strategies and plugins need no changes.
"""

from nascore.executors.base import (
    Executor,
    ExecutorConfig,
    Failure,
    InlineExecutor,
    TaskFailed,
    make_executor,
)

__all__ = [
    "Executor",
    "ExecutorConfig",
    "Failure",
    "InlineExecutor",
    "TaskFailed",
    "make_executor",
]
