"""What a worker reports about itself: CPU and memory (psutil), running jobs, GPU (none).

``psutil.cpu_percent(interval=None)`` never blocks: it measures since its previous call,
so sampling it from a ``LoopingCall`` gives the average over each report interval.
"""

from __future__ import annotations

from typing import Callable

import psutil

from herd.protocols.imaging import NO_GPU


class LoadSampler:
    """Samples this machine's load."""

    def __init__(self, running_jobs: Callable[[], int]) -> None:
        self._running_jobs = running_jobs
        psutil.cpu_percent(interval=None)  # the first call only starts the measure

    def sample(self) -> dict[str, float | int]:
        """The arguments of a ``Report``."""
        return {"cpu": float(psutil.cpu_percent(interval=None)),
                "memory": float(psutil.virtual_memory().percent),
                "running_jobs": self._running_jobs(), "gpu": NO_GPU}
