"""The demo site templates render correctly and agree with their manifests."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from herd.scan.demosite import COURSE, SITE, DemoPage, load_manifest, main, render_site

BASE = "http://127.0.0.1:8800"
TEMPLATES = {"site": SITE, "course": COURSE}

_IMG_TAG = re.compile(rb"<img(?=[\s/>])[^>]*>", re.IGNORECASE)
_SRC = re.compile(rb"""[\s"']src\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def assert_png(data: bytes) -> None:
    """Fail unless ``data`` is a PNG with good CRCs whose pixels inflate to the right size."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, kinds, idat = 8, [], b""
    width = height = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 2)
        elif kind == b"IDAT":
            idat += body
        kinds.append(kind)
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)


def img_sources(page: str, data: bytes) -> list[str]:
    """Site-root-relative paths of the page's ``<img src>``, in order, without repeats."""
    paths: list[str] = []
    for tag in _IMG_TAG.findall(data):
        match = _SRC.search(tag)
        assert match, tag
        src = next(g for g in match.groups() if g is not None).decode("ascii")
        url = urljoin(f"{BASE}/{page}", src)
        assert url.startswith(BASE + "/"), (page, src)
        path = unquote(urlsplit(url).path).lstrip("/")
        if path not in paths:
            paths.append(path)
    return paths


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def rendered(request, tmp_path_factory) -> tuple[Path, Path, list[DemoPage]]:
    """(template, rendered folder, manifest), for each template."""
    template = TEMPLATES[request.param]
    dest = tmp_path_factory.mktemp(request.param)
    return template, dest, render_site(template, dest, BASE)


def test_render_substitutes_base(rendered) -> None:
    template, dest, _ = rendered
    copied = 0
    for src in template.rglob("*"):
        if src.is_file():
            data = (dest / src.relative_to(template)).read_bytes()
            expected = src.read_bytes()
            if src.suffix == ".html":  # other files (README.md) are copied as they are
                assert b"{{BASE}}" not in data, src
                expected = expected.replace(b"{{BASE}}", BASE.encode())
            assert data == expected, src
            copied += 1
    assert copied > 10


def test_manifest_is_sane(rendered) -> None:
    template, _, pages = rendered
    assert pages == load_manifest(template)
    assert len({p.site_id for p in pages}) == len(pages)
    html = {f.relative_to(template).as_posix() for f in template.rglob("*.html")}
    assert {p.page for p in pages} == (html - {"index.html"} if template == SITE else html)
    for p in pages:
        assert p.found or not p.images
        assert len({Path(i).name for i in p.images}) == len(p.images), p.page


def test_found_matches_page(rendered) -> None:
    _, dest, pages = rendered
    for p in pages:
        assert (p.ad_id.encode() in (dest / p.page).read_bytes()) == p.found, p


def test_images_exist_and_missing_do_not(rendered) -> None:
    _, dest, pages = rendered
    for p in pages:
        for image in p.images:
            assert_png((dest / image).read_bytes())
        for gone in p.missing:
            assert not (dest / gone).exists(), gone


def test_images_are_the_img_sources(rendered) -> None:
    """Each ``<img src>`` exists or is listed missing; ``images`` are exactly the others."""
    _, dest, pages = rendered
    for p in pages:
        sources = img_sources(p.page, (dest / p.page).read_bytes())
        present = [s for s in sources if (dest / s).is_file()]
        assert [s for s in sources if s not in present] == list(p.missing), p.page
        assert list(p.images) == (present if p.found else []), p.page


def test_course_img_sources_all_resolve(tmp_path: Path) -> None:
    render_site(COURSE, tmp_path, BASE)
    count = 0
    for page in tmp_path.glob("*.html"):
        for source in img_sources(page.name, page.read_bytes()):
            assert_png((tmp_path / source).read_bytes())
            count += 1
    assert count == 2 + 2 + 14 + 2  # file1, file2, file3, file5


def test_site_images_all_differ() -> None:
    images = [f.read_bytes() for t in TEMPLATES.values() for f in t.rglob("*") if f.suffix in (".png", ".jpg")]
    assert len(set(images)) == len(images)
    assert all(100 <= len(i) <= 20 * 1024 for i in images)


def test_render_overwrites_and_strips_slash(tmp_path: Path) -> None:
    (tmp_path / "ad-comment.html").write_bytes(b"stale")
    (tmp_path / "extra.txt").write_bytes(b"kept")
    render_site(SITE, tmp_path, BASE + "/")
    page = (tmp_path / "ad-comment.html").read_bytes()
    assert f'src="{BASE}/img/shamrock-banner.png"'.encode() in page
    assert (tmp_path / "extra.txt").read_bytes() == b"kept"


def test_render_rejects_bad_base(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_site(SITE, tmp_path, "127.0.0.1:8800")


def test_page_url() -> None:
    page = DemoPage("deep/relative-deep.html", "IRISH_CSE", "S7", True, (), ())
    assert page.url(BASE) == f"{BASE}/deep/relative-deep.html"
    assert page.url(BASE + "/") == f"{BASE}/deep/relative-deep.html"


def test_main_prints_one_line_per_scan(tmp_path: Path, capsys) -> None:
    assert main([str(COURSE), str(tmp_path), BASE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(load_manifest(COURSE))
    assert lines[0].split("\t") == ["S1", f"{BASE}/file1.html", "IRISH_CSE", "found", "2"]
