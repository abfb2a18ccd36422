"""The course's bet data set: five agencies' CSV files in ``dataset.zip``."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import herd

DATASET_ZIP = Path(herd.__file__).resolve().parent.parent.parent / "shared" / "data" / "lottery" / "dataset.zip"
"""The course's data set (``../shared/data/lottery/dataset.zip`` from the project's root)."""


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
