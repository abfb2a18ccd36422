"""The scan pool's command-line scripts (``bin/client-v2``, ``bin/pool-status``, ...)."""
