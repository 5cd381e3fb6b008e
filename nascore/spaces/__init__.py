"""Search spaces shipped with the core."""
