"""Search strategies shipped with the core.

One-shot: ``darts``, ``pcdarts``, ``gdas`` (declarations on the loop of :mod:`nascore.oneshot`).
Discrete: ``random_search``, ``evolution``, ``reinforce`` on the shared base in ``discrete``.
``oneshot``, ``sampling``, ``schedules``, ``edgenorm``, ``unrolled`` and ``testing`` are
deprecated aliases of their plugin API 1 names (now in :mod:`nascore.oneshot` and
:mod:`nascore.testing`).
"""
