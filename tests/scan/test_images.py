"""Which images a page references: every <img src>, any case, quoted or not, resolved."""

import pytest

from herd.scan.worker.images import image_urls

PAGE_URL = "http://site.test/dir/page.html"


@pytest.mark.parametrize(
    "html, expected",
    [
        (b'<img src="a.png">', ["http://site.test/dir/a.png"]),
        (b"<IMG SRC='b.png'>", ["http://site.test/dir/b.png"]),
        (b"<Img Src=c.png>", ["http://site.test/dir/c.png"]),
        (b'<img\n   src = "d.png"\n/>', ["http://site.test/dir/d.png"]),
        (b'<img src="/root.png">', ["http://site.test/root.png"]),
        (b'<img src="../up.png">', ["http://site.test/up.png"]),
        (b'<img src="//cdn.test/x.png">', ["http://cdn.test/x.png"]),
        (b'<img src="https://other.test/y.png" srcset="z.png 2x" loading="lazy">', ["https://other.test/y.png"]),
        (b'<img srcset="z.png 2x" src="after.png">', ["http://site.test/dir/after.png"]),
        (b'<img alt="src=fake.png >" src="real.png">', ["http://site.test/dir/real.png"]),
        (b'<img src="q.png?a=1&amp;b=2#frag">', ["http://site.test/dir/q.png?a=1&b=2"]),
        (b'<img src="with space.png">', ["http://site.test/dir/with%20space.png"]),
        (b'<img src="a.png"><img src="a.png">', ["http://site.test/dir/a.png"]),
    ],
)
def test_found(html: bytes, expected: list[str]) -> None:
    assert image_urls(html, PAGE_URL) == expected


@pytest.mark.parametrize(
    "html",
    [
        b'<div data-src="no.png"></div>',
        b'<img data-src="no.png">',
        b'<picture><source srcset="no.png"></picture>',
        b'<imgx src="no.png">',
        b'<img src="">',
        b'<img src="data:image/png;base64,AAAA">',
        b'<img src="javascript:alert(1)">',
        b"&lt;img src=no.png&gt;",
        b'<img src="unterminated.png',
        b'<a href="no.png">',
    ],
)
def test_not_images(html: bytes) -> None:
    assert image_urls(html, PAGE_URL) == []


def test_base_href_changes_the_base() -> None:
    html = b'<head><base href="http://cdn.test/assets/"></head><img src="p.png">'
    assert image_urls(html, PAGE_URL) == ["http://cdn.test/assets/p.png"]


def test_page_order_is_kept() -> None:
    html = b'<img src="3.png"> text <IMG SRC="1.png"> <img src=2.png>'
    assert [u.rsplit("/", 1)[1] for u in image_urls(html, PAGE_URL)] == ["3.png", "1.png", "2.png"]


def test_non_utf8_page_does_not_crash() -> None:
    html = b'<img src="caf\xe9.png"><img src="\xff\xfe.png">'
    assert image_urls(html, PAGE_URL) == [
        "http://site.test/dir/caf%E9.png",
        "http://site.test/dir/%FF%FE.png",
    ]
