"""Search strategies shipped with the core.

One-shot: ``oneshot`` (the shared base and its extension points), ``darts``, ``pcdarts``,
``gdas``; shared pieces in ``sampling``, ``schedules``, ``edgenorm``, ``unrolled``; tiny test
set-ups in ``testing``. Discrete: ``random_search``, ``evolution``, ``reinforce``.
"""
