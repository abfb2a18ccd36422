"""The scan pool's wire format, as a client or a worker sees it.

Requests (``herd.protocols.scan``): every form the protocol accepts parses to the right typed
message, and every form it refuses raises ProtocolError with a reason worth sending back.
Replies (``herd.protocols.scan_replies``): acknowledgements, errors, job results, pool status
pages and hits are ASCII, fit in MAX_REPLY bytes and parse back to what was formatted.
"""

from __future__ import annotations

import pytest

from herd.protocols.scan import (
    MAX_AD_ID,
    MAX_DATAGRAM,
    MAX_REPLY,
    MAX_SITE_ID,
    MAX_WORKER_ID,
    CheckRequest,
    HitsRequest,
    ProtocolError,
    RegisterRequest,
    StatusRequest,
    decode_message,
    make_check,
    parse_check,
    parse_request,
)
from herd.protocols.scan_replies import (
    Ack,
    JobState,
    Refusal,
    Failed,
    Found,
    Hit,
    NotFound,
    StatusPage,
    WorkerStatus,
    format_error,
    format_hits,
    format_job,
    format_ok,
    format_result,
    format_status,
    format_time,
    parse_ack,
    parse_hits,
    parse_job,
    parse_result,
    parse_status,
    parse_time,
)

EXAMPLE_URL = "http://ns-mn1.cse.nd.edu/cse30264/ads/file1.html"
EXAMPLE = CheckRequest(EXAMPLE_URL, "IRISH_CSE", "S1")
EXAMPLE_LINE = b"CHECK " + EXAMPLE_URL.encode() + b" IRISH_CSE S1"

# 2026-11-24T09:05:03Z
T0 = 1795511103.0


def refused(data: bytes, parse=parse_request) -> str:
    """The reason ``parse`` gives for refusing ``data`` (fails if it is accepted)."""
    with pytest.raises(ProtocolError) as info:
        parse(data)
    return str(info.value)


# --------------------------------------------------------------------------------------
# Requests: accepted forms
# --------------------------------------------------------------------------------------


class TestCheckAccepted:
    @pytest.mark.parametrize(
        "data",
        [
            EXAMPLE_LINE,
            EXAMPLE_LINE + b"\n",
            EXAMPLE_LINE + b"\r\n",
            EXAMPLE_LINE + b"\r\n\r\n",
            b"  " + EXAMPLE_LINE + b"  ",
            b"\t" + EXAMPLE_LINE + b"\t\r\n",
            b" \t \r\n" + EXAMPLE_LINE + b" \t\n\n",
            b"CHECK   " + EXAMPLE_URL.encode() + b"\t\tIRISH_CSE \t S1",
            b"check " + EXAMPLE_URL.encode() + b" IRISH_CSE S1",
            b"Check " + EXAMPLE_URL.encode() + b" IRISH_CSE S1\r\n\r\n",
        ],
        ids=[
            "bare",
            "lf",
            "crlf",
            "crlfcrlf",
            "spaces-around",
            "tabs-around",
            "blank-lines-around",
            "runs-of-blanks-between",
            "lowercase-verb",
            "mixed-case-verb",
        ],
    )
    def test_example_in_every_dialect(self, data):
        assert parse_request(data) == EXAMPLE
        assert parse_check(data) == EXAMPLE

    @pytest.mark.parametrize(
        "url",
        [
            "http://ns-mn1.cse.nd.edu/cse30264/ads/file1.html",
            "https://ns-mn1.cse.nd.edu/cse30264/ads/file1.html",
            "HTTPS://EXAMPLE.COM/",
            "http://127.0.0.1:8800/site/page.html?x=1&y=2#top",
            "http://[::1]:8800/",
            "http://localhost",
        ],
    )
    def test_http_and_https_urls(self, url):
        assert parse_request(f"CHECK {url} IRISH_CSE S1".encode()) == CheckRequest(
            url, "IRISH_CSE", "S1"
        )

    @pytest.mark.parametrize(
        "ad_id, site_id",
        [
            ("A", "S"),
            ("<!--ad-->", "site_1.v2-x"),
            ("a" * MAX_AD_ID, "S" * MAX_SITE_ID),
            ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "0"),
            ("IRISH_CSE", "a..b"),  # dots inside a name are harmless: no '/' possible
        ],
    )
    def test_ad_id_and_site_id_limits(self, ad_id, site_id):
        data = f"CHECK http://h/ {ad_id} {site_id}".encode()
        assert parse_request(data) == CheckRequest("http://h/", ad_id, site_id)

    def test_datagram_of_exactly_max_size_is_accepted(self):
        head = b"CHECK http://h/"
        tail = b" IRISH_CSE S1"
        data = head + b"p" * (MAX_DATAGRAM - len(head) - len(tail)) + tail
        assert len(data) == MAX_DATAGRAM
        request = parse_request(data)
        assert request.url == data.split()[1].decode()
        assert (request.ad_id, request.site_id) == ("IRISH_CSE", "S1")

    def test_make_check_takes_the_three_fields(self):
        assert make_check([EXAMPLE_URL, "IRISH_CSE", "S1"]) == EXAMPLE


class TestOtherRequestsAccepted:
    @pytest.mark.parametrize(
        "data, expected",
        [
            (b"REGISTER 10.0.0.7 54001 w1", RegisterRequest("10.0.0.7", 54001, "w1")),
            (
                b"REGISTER student04.cse.nd.edu 65535 worker-A\r\n\r\n",
                RegisterRequest("student04.cse.nd.edu", 65535, "worker-A"),
            ),
            (b"register ::1 1 w\n", RegisterRequest("::1", 1, "w")),
            (
                b"  REGISTER\tfe80::1:2\t  8080  " + b"W" * MAX_WORKER_ID + b"  ",
                RegisterRequest("fe80::1:2", 8080, "W" * MAX_WORKER_ID),
            ),
            (b"STATUS", StatusRequest(1)),
            (b"status\r\n\r\n", StatusRequest(1)),
            (b"POOL_STATUS", StatusRequest(1)),
            (b"pool_status\n", StatusRequest(1)),
            (b"STATUS 2", StatusRequest(2)),
            (b"POOL_STATUS 7\r\n", StatusRequest(7)),
            (b"HITS", HitsRequest(5)),
            (b"hits\r\n\r\n", HitsRequest(5)),
            (b"HITS 5", HitsRequest(5)),
            (b"GET_HITS 3", HitsRequest(3)),
            (b"get_hits", HitsRequest(5)),
            (b"LAST_HITS 1", HitsRequest(1)),
            (b"Last_Hits\t2 \n", HitsRequest(2)),
        ],
    )
    def test_parses_to_typed_message(self, data, expected):
        assert parse_request(data) == expected

    def test_defaults(self):
        assert StatusRequest().page == 1
        assert HitsRequest().count == 5


# --------------------------------------------------------------------------------------
# Requests: refused forms
# --------------------------------------------------------------------------------------


def _check(url=EXAMPLE_URL, ad_id="IRISH_CSE", site_id="S1") -> bytes:
    return f"CHECK {url} {ad_id} {site_id}".encode()


class TestRefused:
    @pytest.mark.parametrize(
        "data, keyword",
        [
            # the datagram itself
            (b"", "empty"),
            (b" \t\r\n\r\n", "empty"),
            (b"HELLO", "unknown command"),
            (b"GET / HTTP/1.0\r\n\r\n", "unknown command"),
            (b"CHECKS http://h/ a S1", "unknown command"),
            (_check(ad_id="café"), "not ASCII"),  # UTF-8 é
            (_check() + b"\xff", "not ASCII"),
            (b"\xff\xfe", "not ASCII"),
            (b"CHECK http://h/\x00 IRISH_CSE S1", "control characters"),
            (b"\x00", "control characters"),
            (b"STATUS\x07", "control characters"),
            (b"HITS\x1b[0m", "control characters"),
            (b"HITS\x7f", "control characters"),
            (b"HITS\x0b", "control characters"),
            (b"HITS\x0c", "control characters"),
            # wrong number of fields, for each verb
            (b"CHECK", "wrong number of arguments"),
            (b"CHECK http://h/ IRISH_CSE", "wrong number of arguments"),
            (_check() + b" extra", "wrong number of arguments"),
            (b"REGISTER", "wrong number of arguments"),
            (b"REGISTER host 54001", "wrong number of arguments"),
            (b"REGISTER host 54001 w1 extra", "wrong number of arguments"),
            (b"STATUS 1 2", "wrong number of arguments"),
            (b"POOL_STATUS 1 2", "wrong number of arguments"),
            (b"HITS 1 2", "wrong number of arguments"),
            (b"GET_HITS 1 2", "wrong number of arguments"),
            (b"LAST_HITS 1 2", "wrong number of arguments"),
            # URL
            (_check(url="ftp://ns-mn1.cse.nd.edu/file"), "URL"),
            (_check(url="file:///etc/passwd"), "URL"),
            (_check(url="ns-mn1.cse.nd.edu/cse30264/ads/file1.html"), "URL"),
            (_check(url="//ns-mn1.cse.nd.edu/x"), "URL"),
            (_check(url="http://"), "URL"),
            (_check(url="http:///path"), "URL"),
            (_check(url="http:/path"), "URL"),
            (_check(url="http://[::1/"), "URL"),
            (_check(url="javascript:alert(1)"), "URL"),
            # SiteID
            (_check(site_id="a/b"), "SiteID"),
            (_check(site_id="/"), "SiteID"),
            (_check(site_id=".."), "SiteID"),
            (_check(site_id="../etc"), "SiteID"),
            (_check(site_id=".hidden"), "SiteID"),
            (_check(site_id="-rf"), "SiteID"),
            (_check(site_id="_x"), "SiteID"),
            (_check(site_id="a\\b"), "SiteID"),
            (_check(site_id="S" * (MAX_SITE_ID + 1)), "SiteID"),
            # AdID
            (_check(ad_id="a" * (MAX_AD_ID + 1)), "AdID"),
            # REGISTER fields
            (b"REGISTER host 54001 " + b"w" * (MAX_WORKER_ID + 1), "Identifier"),
            (b"REGISTER host/x 54001 w1", "Hostname"),
            (b"REGISTER [::1] 54001 w1", "Hostname"),
            (b"REGISTER " + b"h" * 254 + b" 54001 w1", "Hostname"),
            (b"REGISTER host 0 w1", "Port"),
            (b"REGISTER host 65536 w1", "Port"),
            (b"REGISTER host abc w1", "Port"),
            (b"REGISTER host -1 w1", "Port"),
            (b"REGISTER host +80 w1", "Port"),
            # HITS / STATUS counts
            (b"HITS 0", "N must be an integer from 1 to 5"),
            (b"HITS 6", "N must be an integer from 1 to 5"),
            (b"GET_HITS x", "N must be an integer from 1 to 5"),
            (b"LAST_HITS -1", "N must be an integer from 1 to 5"),
            (b"STATUS 0", "page must be an integer"),
            (b"POOL_STATUS two", "page must be an integer"),
        ],
    )
    def test_refused_with_reason(self, data, keyword):
        assert keyword in refused(data)

    def test_usage_is_in_the_reason(self):
        assert "CHECK <URL> <AdID> <SiteID>" in refused(b"CHECK http://h/")
        assert "REGISTER <Hostname> <Port> <Identifier>" in refused(b"REGISTER h")

    def test_unknown_verb_is_quoted_and_cut(self):
        reason = refused(b"X" * 500)
        assert "'XXXXXXXXXXXXXXXXXXXX'" in reason
        assert len(reason) < 100

    def test_one_byte_over_max_size_is_refused(self):
        head = b"CHECK http://h/"
        tail = b" IRISH_CSE S1"
        data = head + b"p" * (MAX_DATAGRAM + 1 - len(head) - len(tail)) + tail
        assert len(data) == MAX_DATAGRAM + 1
        assert "too long" in refused(data)
        assert "1401" in refused(data)

    def test_size_is_checked_before_anything_else(self):
        assert "too long" in refused(b"\xff" * 5000)

    def test_decode_message_limit_is_a_parameter(self):
        assert decode_message(b"200 NO\n", 7) == ["200", "NO"]
        with pytest.raises(ProtocolError, match="too long"):
            decode_message(b"200 NO\n", 6)


class TestWorkerParse:
    """A worker's parse_check takes CHECK only, validated like the orchestrator does."""

    @pytest.mark.parametrize("data", [b"STATUS", b"HITS 3", b"REGISTER h 1 w", b"PING"])
    def test_other_verbs_refused(self, data):
        assert "only takes CHECK" in refused(data, parse_check)

    @pytest.mark.parametrize(
        "data, keyword",
        [
            (b"", "empty"),
            (b"CHECK http://h/ a", "wrong number of arguments"),
            (_check(site_id=".."), "SiteID"),
            (_check(url="ftp://h/"), "URL"),
        ],
    )
    def test_bad_check_refused(self, data, keyword):
        assert keyword in refused(data, parse_check)


class TestToLine:
    @pytest.mark.parametrize(
        "request_",
        [
            EXAMPLE,
            CheckRequest("https://h.example/a?b=c#d", "a" * MAX_AD_ID, "S" * MAX_SITE_ID),
            CheckRequest("HTTP://[::1]:54000/", "<!--IRISH_CSE-->", "x.y-z_1"),
        ],
    )
    def test_round_trips_through_parse_check(self, request_):
        line = request_.to_line()
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert parse_check(line) == request_
        assert parse_request(line) == request_

    def test_example_line(self):
        assert EXAMPLE.to_line() == EXAMPLE_LINE + b"\n"

    def test_longest_request_survives_as_the_worker_reads_it(self):
        """The worker splits off the newline before parsing, so a 1400-byte request fits.

        ``to_line()`` adds one byte, so parsing the whole line (newline included) of a
        1400-byte request would be refused; the worker never does that.
        """
        head, tail = b"CHECK http://h/", b" IRISH_CSE S1"
        data = head + b"p" * (MAX_DATAGRAM - len(head) - len(tail)) + tail
        request = parse_request(data)
        line = request.to_line()
        assert len(line) == MAX_DATAGRAM + 1
        assert parse_check(line.rstrip(b"\n")) == request


# --------------------------------------------------------------------------------------
# Replies: OK, errors and job results
# --------------------------------------------------------------------------------------


class TestOkAndError:
    def test_ok(self):
        assert format_ok() == b"200 OK\n"
        assert format_ok(None) == b"200 OK\n"
        assert format_ok(0) == b"200 OK 0\n"
        assert format_ok(42) == b"200 OK 42\n"

    def test_plain_reason(self):
        assert format_error("site did not answer") == b"400 ERROR site did not answer\n"

    def test_other_code(self):
        assert format_error("busy", "503 ERROR") == b"503 ERROR busy\n"

    def test_huge_reason_is_cut_to_max_reply(self):
        reply = format_error("x" * 10_000)
        assert len(reply) == MAX_REPLY
        assert reply.startswith(b"400 ERROR xxx")
        assert reply.endswith(b"x\n")
        assert reply.count(b"\n") == 1

    def test_non_ascii_reason_is_made_ascii(self):
        reply = format_error("café ☕ naïve")
        assert reply == b"400 ERROR caf? ? na?ve\n"
        reply.decode("ascii")

    def test_huge_non_ascii_reason(self):
        reply = format_error("é" * 5000)
        assert len(reply) <= MAX_REPLY
        assert reply.endswith(b"?\n")
        reply.decode("ascii")

    @pytest.mark.parametrize(
        "reason",
        [
            "line one\nline two",
            "line one\r\nline two\r\n",
            "line one\r\n\r\nline two",
            "\n\nline one\tline two\n",
            "line one \u2028 line two",
        ],
    )
    def test_newlines_collapse_to_one_line(self, reason):
        reply = format_error(reason)
        assert reply.count(b"\n") == 1 and b"\r" not in reply
        assert reply.startswith(b"400 ERROR line one ") and reply.endswith(b"line two\n")

    def test_error_reply_parses_back(self):
        assert parse_result(format_error("no such host")) == Failed("no such host")


class TestAcks:
    """The answers to CHECK, REGISTER and HEARTBEAT, as client-v2 and workers read them."""

    def test_ok_parses_back(self):
        assert parse_ack(format_ok()) == Ack()
        assert parse_ack(format_ok(42)) == Ack(42)
        assert parse_ack(b"200 OK 7\r\n\r\n") == Ack(7)

    @pytest.mark.parametrize("reply, code, reason", [
        (format_error("unknown worker w1: REGISTER first", "404 UNKNOWN"), "404 UNKNOWN",
         "unknown worker w1: REGISTER first"),
        (format_error("token missing", "403 ERROR"), "403 ERROR", "token missing"),
        (format_error("queue full (2 jobs waiting), try again later", "503 BUSY"), "503 BUSY",
         "queue full (2 jobs waiting), try again later"),
        (b"500 ERROR\n", "500 ERROR", ""),
    ])
    def test_refusals_parse_back(self, reply, code, reason):
        assert parse_ack(reply) == Refusal(code, reason)

    @pytest.mark.parametrize("reply", [
        b"", b"200", b"200 OK x", b"200 OK 1 2", b"200 NO", b"OK", b"HTTP/1.1 200 OK", b"\xff",
        b"20 ERROR x", b"200 STATUS page 1/1 workers 0 queued 0",
    ])
    def test_other_replies_are_refused(self, reply):
        with pytest.raises(ProtocolError):
            parse_ack(reply)


class TestJobReplies:
    @pytest.mark.parametrize("state, words, detail", [
        ("queued", ["attempts", "0"], "attempts 0"),
        ("running", ["w1", "attempt", "1", "since", "2026-11-24T09:05:03Z"],
         "w1 attempt 1 since 2026-11-24T09:05:03Z"),
        ("done", ["w1", "YES", "S1", "2026-11-24-09-05-03"], "w1 YES S1 2026-11-24-09-05-03"),
        ("done", ["w1", "ERROR", "page  http://h/ answered HTTP 404"],
         "w1 ERROR page  http://h/ answered HTTP 404"),
        ("dead", ["attempts", "3", "no worker answered after 3 attempts (last: w1: refused)"],
         "attempts 3 no worker answered after 3 attempts (last: w1: refused)"),
    ])
    def test_job_replies_parse_back(self, state, words, detail):
        reply = format_job(12, state, words)
        assert parse_job(reply) == JobState(12, state, detail)
        assert parse_job(reply).to_line() == reply.decode()[len("200 JOB "):].rstrip("\n")

    @pytest.mark.parametrize("reply", [b"404 ERROR no job 99\n", b"200 JOB x queued", b"200 JOB 1", b""])
    def test_other_replies_are_refused_with_their_text(self, reply):
        assert refused(reply, parse_job) == reply.decode().strip()


class TestResults:
    @pytest.mark.parametrize(
        "result, wire",
        [
            (Found("S1", "2026-11-24-09-05-03"), b"200 YES S1 2026-11-24-09-05-03\n"),
            (Found("S" * MAX_SITE_ID, "2026-11-24-09-05-03-12"), None),
            (NotFound(), b"200 NO\n"),
            (Failed("site did not answer"), b"400 ERROR site did not answer\n"),
        ],
    )
    def test_round_trip(self, result, wire):
        data = format_result(result)
        if wire is not None:
            assert data == wire
        assert len(data) <= MAX_REPLY
        assert parse_result(data) == result

    @pytest.mark.parametrize(
        "data, expected",
        [
            (b"200 YES S1 2026-11-24-09-05-03", Found("S1", "2026-11-24-09-05-03")),
            (b"200 YES S1 2026-11-24-09-05-03\r\n", Found("S1", "2026-11-24-09-05-03")),
            (b"  200   NO  \r\n\r\n", NotFound()),
            (b"400 ERROR", Failed("unspecified error")),
            (b"400 ERROR  a   b \r\n", Failed("a b")),
        ],
    )
    def test_tolerant_of_whitespace(self, data, expected):
        assert parse_result(data) == expected

    @pytest.mark.parametrize(
        "data, keyword",
        [
            (b"HELLO", "unexpected answer"),
            (b"200 YES S1", "unexpected answer"),
            (b"200 YES S1 2026-11-24-09-05-03 extra", "unexpected answer"),
            (b"200 NO extra", "unexpected answer"),
            (b"200 OK", "unexpected answer"),
            (b"200", "unexpected answer"),
            (b"yes", "unexpected answer"),
            (b"200 yes S1 f", "unexpected answer"),
            (b"200 YES S\xc3\xa9 2026-11-24-09-05-03", "not ASCII"),
            (b"200 NO\xff", "not ASCII"),
            (b"200 NO\x00", "control characters"),
            (b"", "empty"),
            (b"\r\n", "empty"),
            (b"200 NO " + b" " * MAX_REPLY, "too long"),
        ],
    )
    def test_garbage_refused(self, data, keyword):
        assert keyword in refused(data, parse_result)

    @pytest.mark.parametrize(
        "reason", ["bad byte \x00 in reply", "bell\x07", "\x1b[31mred\x1b[0m", "del\x7f"]
    )
    def test_failed_with_control_characters_round_trips(self, reason):
        """A worker's error reply must be readable by the orchestrator whatever the reason:
        format_error replaces control characters with ``?``."""
        result = parse_result(format_result(Failed(reason)))
        assert isinstance(result, Failed)
        assert "?" in result.reason


# --------------------------------------------------------------------------------------
# Replies: pool status, with paging
# --------------------------------------------------------------------------------------


def _worker(i: int, host_len: int = 60) -> WorkerStatus:
    """Worker ``i`` with a 32-character id and a ``host_len``-character host name."""
    wid = f"worker-{i:03d}-".ljust(MAX_WORKER_ID, "x")
    host = f"h{i:03d}.".ljust(host_len - 4, "a") + ".edu"
    sent = None if i % 3 == 0 else T0 + i + 0.75
    result = None if i % 4 == 0 else T0 + 2 * i + 0.25
    return WorkerStatus(wid, host, 54000 + i, sent, result, ("idle", "busy", "unreachable")[i % 3], i * 1000)


def _at_second(w: WorkerStatus) -> WorkerStatus:
    """``w`` with its times truncated to whole seconds, as they travel."""

    def cut(t):
        return None if t is None else float(int(t))

    return WorkerStatus(
        w.worker_id, w.host, w.port, cut(w.last_sent), cut(w.last_result), w.state, w.jobs_done
    )


def _all_pages(workers, queued=0) -> list[bytes]:
    first = format_status(workers, 1, queued)
    pages = parse_status(first).pages
    return [first] + [format_status(workers, p, queued) for p in range(2, pages + 1)]


class TestStatus:
    def test_no_workers(self):
        reply = format_status([], 1, 0)
        assert reply == b"200 STATUS page 1/1 workers 0 queued 0\n"
        assert parse_status(reply) == StatusPage(1, 1, 0, 0, [])

    def test_no_workers_second_page_is_an_error(self):
        reply = format_status([], 2, 0)
        assert reply.startswith(b"400 ERROR ")
        assert b"no page 2" in reply

    def test_one_worker(self):
        w = WorkerStatus("w1", "10.0.0.7", 54001, T0, None, "busy", 3)
        reply = format_status([w], 1, 4)
        assert reply == (
            b"200 STATUS page 1/1 workers 1 queued 4\n"
            b"w1 10.0.0.7 54001 2026-11-24T09:05:03Z - busy 3 0/1\n"
        )
        assert parse_status(reply) == StatusPage(1, 1, 1, 4, [w])

    @pytest.mark.parametrize("host_len", [60, 253])
    def test_forty_long_workers_page_within_max_reply(self, host_len):
        workers = [_worker(i, host_len) for i in range(40)]
        assert all(len(w.worker_id) == MAX_WORKER_ID for w in workers)
        assert all(len(w.host) == host_len for w in workers)
        replies = _all_pages(workers, queued=123456)
        assert len(replies) > 1
        seen = []
        for number, reply in enumerate(replies, 1):
            assert len(reply) <= MAX_REPLY
            reply.decode("ascii")
            page = parse_status(reply)
            assert (page.page, page.pages, page.total, page.queued) == (
                number,
                len(replies),
                40,
                123456,
            )
            assert page.workers, "no page may be empty"
            seen.extend(page.workers)
        assert seen == [_at_second(w) for w in workers]

    def test_page_past_the_end_is_an_error(self):
        workers = [_worker(i) for i in range(40)]
        pages = len(_all_pages(workers))
        reply = format_status(workers, pages + 1, 0)
        assert reply.startswith(b"400 ERROR ")
        assert f"no page {pages + 1}".encode() in reply
        assert f"{pages} page(s)".encode() in reply
        with pytest.raises(ProtocolError, match=f"no page {pages + 1}"):
            parse_status(reply)

    def test_times_at_one_second_precision_and_none_as_dash(self):
        w = WorkerStatus("w", "h", 1, T0 + 0.999, None, "idle", 0)
        reply = format_status([w], 1, 0)
        assert b" 2026-11-24T09:05:03Z - idle 0 0/1\n" in reply
        (back,) = parse_status(reply).workers
        assert back.last_sent == T0 and back.last_result is None

    @pytest.mark.parametrize(
        "data",
        [
            b"200 OK\n",
            b"200 STATUS page 1/1 workers 0\n",
            b"200 STATUS 1/1 workers 0 queued 0 x\n",
            b"200 STATUS page 1/1 workers 1 queued 0\nw h 1 - - idle\n",
            b"200 STATUS page 1/1 workers 1 queued 0\nw h 1 yesterday - idle 0\n",
            b"",
            b"200 STATUS page 1/1 workers 0 queued 0\n\xff\n",
        ],
    )
    def test_parse_status_refuses_garbage(self, data):
        with pytest.raises(ProtocolError):
            parse_status(data)


# --------------------------------------------------------------------------------------
# Replies: hits
# --------------------------------------------------------------------------------------

FOLDER = "2026-11-24-09-05-03-12"


def _long_hit(i: int) -> Hit:
    return Hit(
        f"w{i}".ljust(MAX_WORKER_ID, "w"),
        f"S{i}".ljust(MAX_SITE_ID, "s"),
        f"A{i}".ljust(MAX_AD_ID, "a"),
        T0 - 60 * i,
        FOLDER,
    )


class TestHits:
    def test_empty(self):
        assert format_hits([]) == b"200 HITS 0\n"
        assert parse_hits(b"200 HITS 0\n") == []

    def test_one(self):
        hit = Hit("w1", "S1", "IRISH_CSE", T0, "2026-11-24-09-05-03")
        reply = format_hits([hit])
        assert reply == b"200 HITS 1\nw1 S1 IRISH_CSE 2026-11-24T09:05:03Z 2026-11-24-09-05-03\n"
        assert parse_hits(reply) == [hit]

    def test_five_longest_hits_fit_and_round_trip(self):
        hits = [_long_hit(i) for i in range(5)]
        reply = format_hits(hits)
        assert len(reply) <= MAX_REPLY
        assert reply.startswith(b"200 HITS 5\n")
        assert parse_hits(reply) == hits  # order kept: newest first

    def test_fetch_time_travels_at_one_second_precision(self):
        hit = Hit("w", "S", "A", T0 + 0.6, "f")
        assert parse_hits(format_hits([hit]))[0].fetched == T0

    def test_error_reply_raises_with_its_reason(self):
        with pytest.raises(ProtocolError, match="N must be an integer"):
            parse_hits(b"400 ERROR N must be an integer from 1 to 5\n")

    @pytest.mark.parametrize(
        "data",
        [
            b"200 HITS 2\nw S A 2026-11-24T09:05:03Z f\n",
            b"200 HITS 0\nw S A 2026-11-24T09:05:03Z f\n",
            b"200 HITS 1\n",
        ],
    )
    def test_count_mismatch_raises(self, data):
        with pytest.raises(ProtocolError, match="not a HITS reply"):
            parse_hits(data)

    @pytest.mark.parametrize(
        "data",
        [
            b"200 OK\n",
            b"200 HITS\n",
            b"200 HITS 1\nw S A 2026-11-24T09:05:03Z\n",
            b"200 HITS 1\nw S A 24/11/2026 f\n",
            b"",
        ],
    )
    def test_garbage_raises(self, data):
        with pytest.raises(ProtocolError):
            parse_hits(data)


class TestTimes:
    @pytest.mark.parametrize(
        "when, text",
        [
            (None, "-"),
            (0.0, "1970-01-01T00:00:00Z"),
            (T0, "2026-11-24T09:05:03Z"),
            (T0 + 0.999, "2026-11-24T09:05:03Z"),
        ],
    )
    def test_format(self, when, text):
        assert format_time(when) == text

    @pytest.mark.parametrize("when", [None, 0.0, T0, 4102444799.0])
    def test_round_trip(self, when):
        assert parse_time(format_time(when)) == when

    @pytest.mark.parametrize("text", ["", "now", "2026-11-24 09:05:03", "2026-13-01T00:00:00Z"])
    def test_bad_time(self, text):
        with pytest.raises(ProtocolError, match="bad time"):
            parse_time(text)


def test_status_lines_without_running_still_parse():
    """A seven-field worker line (the first version's) reads as 0 running of 1."""
    page = parse_status(b"200 STATUS page 1/1 workers 1 queued 0\nw h 1 - - idle 0\n")
    assert (page.workers[0].running, page.workers[0].capacity) == (0, 1)
