"""The course's bet data set: five agencies' CSV files in ``dataset.zip``."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

DATASET_ZIP = Path(__file__).resolve().parent / "data" / "dataset.zip"
"""The course's data set, shipped with herd (a copy of ``../shared/data/lottery/dataset.zip``:
``agency-1.csv`` to ``agency-5.csv``, one bet per row, CRLF line endings)."""


def course_dataset(workdir: Path, zip_path: Path = DATASET_ZIP) -> dict[int, Path]:
    """Unzip the course's data set into ``workdir/.data``; its files by agency id."""
    data = workdir / ".data"
    data.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist():
            match = re.search(r"agency-(\d+)\.csv$", name)
            if match:
                (data / f"agency-{match.group(1)}.csv").write_bytes(archive.read(name))
    return {int(p.stem.split("-")[1]): p for p in sorted(data.glob("agency-*.csv"))}
