"""Property tests for the scan wire format: parsers never crash, formatters round-trip."""

from __future__ import annotations

import math

from hypothesis import example, given, settings, strategies as st

from herd.protocols.scan import (
    MAX_AD_ID,
    MAX_DATAGRAM,
    MAX_REPLY,
    MAX_WORKER_ID,
    CheckRequest,
    HitsRequest,
    ProtocolError,
    RegisterRequest,
    StatusRequest,
    parse_check,
    parse_request,
)
from herd.protocols.scan_replies import (
    Failed,
    Found,
    NotFound,
    StatusPage,
    WorkerStatus,
    format_error,
    format_status,
    parse_hits,
    parse_result,
    parse_status,
)

FUZZ = settings(max_examples=300, deadline=None)

VISIBLE = "".join(chr(c) for c in range(0x21, 0x7F))  # ! to ~

# ---------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------

_TOKENS = [
    b"CHECK", b"check", b"REGISTER", b"STATUS", b"POOL_STATUS", b"HITS", b"GET_HITS",
    b"LAST_HITS", b"http://h/", b"https://ns-mn1.cse.nd.edu/x", b"ftp://h/", b"http://[::1",
    b"IRISH_CSE", b"S1", b"..", b"::1", b"0", b"1", b"5", b"6", b"65535", b"65536", b"-1",
    b"200", b"400", b"YES", b"NO", b"OK", b"ERROR", b"page", b"1/1", b"1/", b"/", b"workers",
    b"queued", b"-", b"2026-11-24T09:05:03Z", b"9999-99-99T99:99:99Z", b"0000-01-01T00:00:00Z",
    b"idle", b"\xc3\xa9", b"\xff", b"\x00",
]
_SEPARATORS = [b" ", b"  ", b"\t", b"\n", b"\r\n", b"\r\n\r\n", b""]

token_soup = st.lists(
    st.tuples(st.sampled_from(_TOKENS), st.sampled_from(_SEPARATORS)), max_size=25
).map(lambda parts: b"".join(t + s for t, s in parts))
"""Messages made of words the parsers know, so the fuzzing gets past the first check."""

messages = st.one_of(st.binary(max_size=2000), token_soup)

_LABEL = r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?"
safe_hosts = st.from_regex(rf"{_LABEL}(\.{_LABEL}){{0,3}}", fullmatch=True)
url_paths = st.text(alphabet=VISIBLE, max_size=200).map(lambda p: "/" + p)
urls = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}{path}",
    st.sampled_from(["http", "https", "HTTP", "Https"]),
    safe_hosts,
    url_paths,
)
ad_ids = st.text(alphabet=VISIBLE, min_size=1, max_size=MAX_AD_ID)
site_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", fullmatch=True)
checks = st.builds(CheckRequest, urls, ad_ids, site_ids)

blanks = st.text(alphabet=" \t", min_size=1, max_size=4)
terminators = st.sampled_from(["", "\n", "\r\n", "\r\n\r\n", " ", "\t\r\n"])

# Times up to the end of 2099, with fractions of a second, or none yet.
times = st.none() | st.floats(min_value=0, max_value=4102444799.0, allow_nan=False)
workers = st.builds(
    WorkerStatus,
    worker_id=st.text(alphabet=VISIBLE, min_size=1, max_size=MAX_WORKER_ID),
    host=st.from_regex(r"[A-Za-z0-9._:-]{1,253}", fullmatch=True),
    port=st.integers(1, 65535),
    last_sent=times,
    last_result=times,
    state=st.sampled_from(["idle", "busy", "unreachable"]),
    jobs_done=st.integers(0, 10**9),
)


def _at_second(w: WorkerStatus) -> WorkerStatus:
    def cut(t):
        return None if t is None else float(math.floor(t))

    return WorkerStatus(
        w.worker_id, w.host, w.port, cut(w.last_sent), cut(w.last_result), w.state, w.jobs_done
    )


# ---------------------------------------------------------------------------------------
# Parsers never crash
# ---------------------------------------------------------------------------------------

REQUEST_TYPES = (CheckRequest, RegisterRequest, StatusRequest, HitsRequest)


@FUZZ
@given(messages)
@example(b"CHECK http://[::1/ a S1")
@example(b"CHECK http://[zz]/ a S1")
@example(b"REGISTER h " + b"9" * 1380 + b" w")
def test_parse_request_returns_a_request_or_raises_protocol_error(data):
    try:
        request = parse_request(data)
    except ProtocolError as error:
        assert str(error)
    else:
        assert isinstance(request, REQUEST_TYPES)
        assert len(data) <= MAX_DATAGRAM


@FUZZ
@given(messages)
def test_parse_check_returns_a_check_or_raises_protocol_error(data):
    try:
        request = parse_check(data)
    except ProtocolError as error:
        assert str(error)
    else:
        assert isinstance(request, CheckRequest)


@FUZZ
@given(messages)
def test_parse_result_returns_a_result_or_raises_protocol_error(data):
    try:
        result = parse_result(data)
    except ProtocolError as error:
        assert str(error)
    else:
        assert isinstance(result, (Found, NotFound, Failed))


@FUZZ
@given(messages)
@example(b"200 STATUS page x/1 workers 0 queued 0\n")
@example(b"200 STATUS page 1/1 workers 1 queued 0\nw h port - - idle 0\n")
@example(b"200 STATUS page 1/1 workers 1 queued 0\nw h 1 0000-01-01T00:00:00Z - idle 0\n")
def test_parse_status_returns_a_page_or_raises_value_error(data):
    try:
        page = parse_status(data)
    except Exception as error:  # ProtocolError, or ValueError for a bad number
        assert isinstance(error, ValueError), repr(error)
    else:
        assert isinstance(page, StatusPage)
        assert all(isinstance(w, WorkerStatus) for w in page.workers)


@FUZZ
@given(messages)
@example(b"200 HITS x\n")
@example(b"200 HITS 1\nw S A 9999-99-99T99:99:99Z f\n")
def test_parse_hits_returns_hits_or_raises_value_error(data):
    try:
        hits = parse_hits(data)
    except Exception as error:  # ProtocolError, or ValueError for a bad number
        assert isinstance(error, ValueError), repr(error)
    else:
        assert isinstance(hits, list)


# ---------------------------------------------------------------------------------------
# Formatters round-trip
# ---------------------------------------------------------------------------------------


@FUZZ
@given(checks)
def test_valid_check_round_trips_through_to_line(request):
    line = request.to_line()
    assert parse_request(line) == request
    assert parse_check(line) == request


@FUZZ
@given(checks, st.booleans(), blanks, blanks, blanks, blanks, terminators)
def test_valid_check_parses_in_any_dialect(request, lower, lead, s1, s2, s3, end):
    """Verb case, runs of blanks between fields and any terminator give the same request."""
    verb = "check" if lower else "CHECK"
    text = f"{lead}{verb}{s1}{request.url}{s2}{request.ad_id}{s3}{request.site_id}{end}"
    assert parse_request(text.encode("ascii")) == request


@FUZZ
@given(st.text(max_size=3000))
@example("line one\r\nline two\n")
@example("\u2028\u0085\x1c\x1d\x1e\x1f")
@example("é" * 2000)
def test_format_error_is_one_ascii_line_within_max_reply(reason):
    reply = format_error(reason)
    reply.decode("ascii")
    assert reply.startswith(b"400 ERROR")
    assert reply.endswith(b"\n") and reply.count(b"\n") == 1
    assert b"\r" not in reply
    assert len(reply) <= MAX_REPLY


@FUZZ
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from(" \t\r\n"),
        max_size=3000,
    )
)
def test_format_error_without_control_characters_parses_as_failed(reason):
    """Any printable reason (control characters aside: see the xfail in the other file)."""
    result = parse_result(format_error(reason))
    assert isinstance(result, Failed)
    if reason.strip() and len(reason) < 500 and reason.isascii():
        assert result.reason == " ".join(reason.split())


@FUZZ
@given(st.lists(workers, max_size=60), st.integers(0, 10**6))
def test_status_pages_fit_and_recover_every_worker(pool, queued):
    first = parse_status(format_status(pool, 1, queued))
    seen = []
    for number in range(1, first.pages + 1):
        reply = format_status(pool, number, queued)
        assert len(reply) <= MAX_REPLY
        page = parse_status(reply)
        assert (page.page, page.pages, page.total, page.queued) == (
            number,
            first.pages,
            len(pool),
            queued,
        )
        seen.extend(page.workers)
    assert seen == [_at_second(w) for w in pool]
    assert format_status(pool, first.pages + 1, queued).startswith(b"400 ERROR ")
