"""The lottery's scripts: ``agency``, ``lottery-up``, the compose generator."""
