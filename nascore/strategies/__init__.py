"""Search strategies shipped with the core."""
