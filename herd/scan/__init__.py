"""The scan pool: orchestrator, dispatch queue, workers and their scripts."""
