"""The demo web sites: templates in ``demo/``, rendered for a server's base URL.

A template is a folder of pages and images plus a ``manifest.json`` listing the scans to run
against it. Pages hold ``{{BASE}}`` wherever they need an absolute URL to the demo server;
:func:`render_site` copies the folder and replaces it with the real base URL, such as
``http://127.0.0.1:8800``, once ``twistd web --path DEST`` has a port.

    python -m herd.scan.demosite TEMPLATE DEST BASE_URL

renders TEMPLATE into DEST and prints one tab-separated line per manifest entry:
site ID, page URL, ad ID, ``found`` or ``absent``, number of images to save.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import attrs

PLACEHOLDER = b"{{BASE}}"
"""What pages hold in place of the server's base URL."""

MANIFEST = "manifest.json"

_DEMO = Path(__file__).resolve().parent.parent.parent / "demo"
SITE = _DEMO / "site"
"""The demo's own site: ad placements, relative URLs, big pages, a missing image."""
COURSE = _DEMO / "course"
"""The scan course's published test pages, rewritten to be served locally."""


@attrs.frozen
class DemoPage:
    """One scan to run against a demo site, and what it must produce.

    ``images`` and ``missing`` are paths relative to the site root (``img/a.png``):
    the images a worker must save, in page order (empty unless ``found``), and the
    ``<img`` sources that answer 404.
    """

    page: str
    ad_id: str
    site_id: str
    found: bool
    images: tuple[str, ...]
    missing: tuple[str, ...]

    def url(self, base: str) -> str:
        """The page's URL on a server whose base URL is ``base``."""
        return f"{base.rstrip('/')}/{self.page}"


def load_manifest(template: Path) -> list[DemoPage]:
    """The scans listed in ``template/manifest.json``."""
    entries = json.loads((template / MANIFEST).read_text(encoding="utf-8"))
    return [
        DemoPage(
            page=e["page"],
            ad_id=e["ad_id"],
            site_id=e["site_id"],
            found=bool(e["found"]),
            images=tuple(e["images"]),
            missing=tuple(e["missing"]),
        )
        for e in entries
    ]


def render_site(template: Path, dest: Path, base_url: str) -> list[DemoPage]:
    """Copy ``template`` into ``dest`` with ``{{BASE}}`` replaced in ``.html`` files.

    ``dest`` may exist: files are overwritten, others left alone. The replacement is done
    on bytes, so pages keep their own encoding. Returns the template's manifest.
    """
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://: {base_url!r}")
    pages = load_manifest(template)
    for src in sorted(template.rglob("*")):
        out = dest / src.relative_to(template)
        if src.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif src.suffix.lower() == ".html":
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(src.read_bytes().replace(PLACEHOLDER, base.encode("ascii")))
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
    return pages


def main(argv: list[str] | None = None) -> int:
    """Render a template for a base URL and print its scans, one per line."""
    parser = argparse.ArgumentParser(
        prog="python -m herd.scan.demosite",
        description="Render a demo site template for a server's base URL.",
    )
    parser.add_argument("template", type=Path, help=f"template folder, e.g. {SITE}")
    parser.add_argument("dest", type=Path, help="folder to write (served by twistd web --path)")
    parser.add_argument("base_url", help="the server's base URL, e.g. http://127.0.0.1:8800")
    args = parser.parse_args(argv)
    try:
        pages = render_site(args.template, args.dest, args.base_url)
    except (OSError, ValueError, KeyError) as e:
        parser.exit(1, f"demosite: {e}\n")
    for p in pages:
        state = "found" if p.found else "absent"
        print(f"{p.site_id}\t{p.url(args.base_url)}\t{p.ad_id}\t{state}\t{len(p.images)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
