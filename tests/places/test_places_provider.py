"""Places providers: Google Nearby Search over a stub treq, and the offline GeoNames data."""

from __future__ import annotations

import json
import math
import random
from typing import Any, Optional

from treq.client import HTTPClient
from treq.testing import StubTreq
from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.task import Clock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from herd.places.server.provider import (
    GooglePlaces,
    OfflinePlaces,
    error_response,
    make_provider,
)
from herd.places.server.lazy import key_from_environment
from herd.testing.fake_places import BAD_KEY_MESSAGE, NearbySearch, fake_places_root

UCLA = (34.068930, -118.445127)
SECRET = "AIzaSecret+Key/With=Chars"


class Canned(Resource):
    """Always the same answer, whatever the request; or no answer at all."""

    isLeaf = True

    def __init__(self, body: Optional[bytes], code: int = 200) -> None:
        super().__init__()
        self.body, self.code = body, code

    def render_GET(self, request: Request) -> Any:
        if self.body is None:
            return NOT_DONE_YET
        request.setResponseCode(self.code)
        return self.body


class FailingAgent:
    """An IAgent whose every request fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def request(self, *args: object, **kwargs: object) -> Deferred[object]:
        return fail(self.error)


class CapturedLog:
    """Every event logged while installed, formatted and raw."""

    def __init__(self, case: SynchronousTestCase) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.observe)
        case.addCleanup(globalLogPublisher.removeObserver, self.observe)

    def observe(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    def texts(self) -> list[str]:
        return [formatEvent(e) + " " + repr(e) for e in self.events]


class GooglePlacesTests(SynchronousTestCase):
    """Answers pass through unchanged; every failure becomes a clear Google-shaped error."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.endpoint = NearbySearch()
        self.log = CapturedLog(self)

    def ask(
        self, key: str = "good-key", root: Optional[Resource] = None, max_bytes: int = 2 * 1024 * 1024,
        where: tuple[float, float, float] = (*UCLA, 10_000),
    ) -> dict[str, Any]:
        http = StubTreq(root if root is not None else fake_places_root(self.endpoint))
        provider = GooglePlaces(http, key, self.clock, "http://places.test/", max_bytes=max_bytes)
        d = provider.nearby(*where)
        http.flush()
        result = self.successResultOf(d)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        return result

    def canned(self, body: Optional[bytes], code: int = 200, **kwargs: Any) -> dict[str, Any]:
        return self.ask(SECRET, fake_places_root(Canned(body, code)), **kwargs)  # type: ignore[arg-type]

    def assertError(self, answer: dict[str, Any], message: str) -> None:
        self.assertEqual(answer, error_response("UNKNOWN_ERROR", message))
        self.assertNoKeyLogged()

    def assertNoKeyLogged(self) -> None:
        warnings = [e for e in self.log.events if e.get("log_level") == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        for text in self.log.texts():
            for form in (SECRET, "AIzaSecret%2BKey", "Secret+Key"):
                self.assertNotIn(form, text)

    def test_ok_passes_through(self) -> None:
        answer = self.ask()
        self.assertEqual(answer["status"], "OK")
        self.assertEqual(len(answer["results"]), 20)
        self.assertEqual(answer["results"][0]["name"], "Fake Place 1")
        sent = {"location": "34.06893,-118.445127", "radius": "10000", "key": "good-key"}
        self.assertEqual(self.endpoint.requests, [sent])
        self.assertEqual(self.log.events, [])

    def test_radius_is_whole_meters_at_most_50_km(self) -> None:
        self.ask(where=(0.00001, -0.5, 75_000.4))
        self.ask(where=(-1e-9, 180.0, 0.2))
        self.assertEqual(
            [(r["location"], r["radius"]) for r in self.endpoint.requests],
            [("0.00001,-0.5", "50000"), ("-0,180", "1")],
        )

    def test_request_denied_passes_through(self) -> None:
        answer = self.ask("bad-key")
        denied = {"html_attributions": [], "results": [], "status": "REQUEST_DENIED"}
        self.assertEqual(answer, {"error_message": BAD_KEY_MESSAGE, **denied})
        [event] = self.log.events
        self.assertEqual((event["log_level"], event["status"]), (LogLevel.warn, "REQUEST_DENIED"))
        self.assertNotIn("bad-key", formatEvent(event))

    def test_zero_results_pass_through_quietly(self) -> None:
        body = {"html_attributions": [], "results": [], "status": "ZERO_RESULTS"}
        self.assertEqual(self.canned(json.dumps(body).encode()), body)
        self.assertEqual(self.log.events, [])

    def test_denied_message_holding_the_key_is_redacted(self) -> None:
        body = {"results": [], "status": "REQUEST_DENIED", "error_message": f"key {SECRET} is invalid"}
        answer = self.canned(json.dumps(body).encode())
        self.assertEqual(answer["error_message"], "key <key> is invalid")
        self.assertNoKeyLogged()

    def test_http_error(self) -> None:
        self.assertError(self.canned(b"<html>oops</html>", 500), "places provider answered HTTP 500")

    def test_not_json(self) -> None:
        self.assertError(self.canned(b'{"results": [ {"na'), "places provider sent a malformed answer")

    def test_json_array(self) -> None:
        self.assertError(self.canned(b"[]"), "places provider sent a malformed answer")

    def test_missing_status(self) -> None:
        self.assertError(self.canned(b'{"results": []}'), "places provider sent a malformed answer")

    def test_results_not_a_list(self) -> None:
        answer = self.canned(b'{"results": 3, "status": "OK"}')
        self.assertError(answer, "places provider sent a malformed answer")

    def test_fake_server_misbehaviours(self) -> None:
        for key in ("malformed", "array", "no-status"):
            self.assertEqual(self.ask(key)["error_message"], "places provider sent a malformed answer")
        self.assertEqual(self.ask("http-500")["error_message"], "places provider answered HTTP 500")

    def test_timeout(self) -> None:
        http = StubTreq(fake_places_root(Canned(None)))
        provider = GooglePlaces(http, SECRET, self.clock, "http://places.test")
        d = provider.nearby(*UCLA, 5000)
        http.flush()
        self.clock.advance(9.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        http.flush()
        self.assertError(self.successResultOf(d), "places provider did not answer within 10 s")

    def test_fake_server_hangs(self) -> None:
        http = StubTreq(fake_places_root(self.endpoint))
        d = GooglePlaces(http, "hang", self.clock, "http://places.test", timeout=2.5).nearby(*UCLA, 5000)
        http.flush()
        self.assertNoResult(d)
        self.assertEqual(len(self.endpoint.hanging), 1)
        self.clock.advance(2.5)
        answer = self.successResultOf(d)
        self.assertEqual(answer["error_message"], "places provider did not answer within 2.5 s")

    def test_body_over_the_size_limit(self) -> None:
        answer = self.canned(b'{"status": "OK", "results": []}' + b" " * 5000, max_bytes=1000)
        self.assertError(answer, "places provider sent an answer larger than the limit of 1000 bytes")

    def test_connection_errors(self) -> None:
        for error, message in [
            (ConnectionRefusedError(), "places provider refused the connection"),
            (DNSLookupError("maps.googleapis.com"), "the places provider's host name could not be resolved"),
            (ValueError(f"surprise at https://x/?key={SECRET}"), "places request failed (ValueError: "
             "surprise at https://x/?key=<key>)"),
        ]:
            self.log.events.clear()
            provider = GooglePlaces(HTTPClient(FailingAgent(error)), SECRET, self.clock)
            self.assertError(self.successResultOf(provider.nearby(*UCLA, 1000)), message)


class ChoiceTests(SynchronousTestCase):
    """The key decides the provider."""

    def test_key_from_environment(self) -> None:
        self.assertEqual(key_from_environment({"GOOGLE_PLACES_API_KEY": "a", "GOOGLE_API_KEY": "b"}), "a")
        self.assertEqual(key_from_environment({"GOOGLE_PLACES_API_KEY": " ", "GOOGLE_API_KEY": "b"}), "b")
        self.assertIsNone(key_from_environment({}))

    def test_make_provider(self) -> None:
        http = StubTreq(Resource())
        self.assertIsInstance(make_provider(http, Clock(), "k", "http://x"), GooglePlaces)
        for key in (None, ""):
            self.assertIsInstance(make_provider(http, Clock(), key, "http://x"), OfflinePlaces)

    def test_unknown_population_threshold(self) -> None:
        self.assertRaises(ValueError, OfflinePlaces, 2000)


OFFLINE = OfflinePlaces()  # loaded on first use, shared by every test below


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine, written again here so that the provider's is checked."""
    a = math.sin(math.radians(lat2 - lat1) / 2) ** 2 + math.cos(math.radians(lat1)) * math.cos(
        math.radians(lat2)
    ) * math.sin(math.radians(lng2 - lng1) / 2) ** 2
    return 2 * 6371.0088 * math.atan2(math.sqrt(a), math.sqrt(1 - a))


class OfflinePlacesTests(SynchronousTestCase):
    """GeoNames cities shaped like Nearby Search results."""

    def near(self, lat: float, lng: float, radius_km: float) -> tuple[dict[str, Any], list[float]]:
        answer = self.successResultOf(OFFLINE.nearby(lat, lng, radius_km * 1000))
        self.assertEqual(set(answer), {"html_attributions", "results", "status"})
        self.assertEqual(answer["status"], "OK" if answer["results"] else "ZERO_RESULTS")
        self.assertLessEqual(len(answer["results"]), 20)
        distances = []
        for place in answer["results"]:
            self.assertEqual(set(place), {"geometry", "name", "place_id", "types", "vicinity"})
            self.assertEqual(place["types"], ["locality", "political"])
            self.assertRegex(place["place_id"], r"\Ageonames:\d+\Z")
            where = place["geometry"]["location"]
            distances.append(distance_km(lat, lng, where["lat"], where["lng"]))
        self.assertEqual(distances, sorted(distances))
        self.assertTrue(all(d <= radius_km + 1e-6 for d in distances), distances)
        json.dumps(answer, allow_nan=False)
        return answer, distances

    def names(self, answer: dict[str, Any]) -> list[str]:
        return [place["name"] for place in answer["results"]]

    def test_near_ucla(self) -> None:
        answer, _ = self.near(*UCLA, 10)
        names = self.names(answer)
        for name in ("Westwood", "Beverly Hills", "Santa Monica", "West Hollywood", "Culver City"):
            self.assertIn(name, names)
        self.assertEqual(names[0], "Bel Air")
        self.assertEqual(answer["results"][0]["vicinity"], "CA, US")
        self.assertNotIn("Pasadena", names)

    def test_smaller_radius_fewer_places(self) -> None:
        answer, distances = self.near(*UCLA, 3)
        self.assertEqual(self.names(answer), ["Bel Air", "Westwood", "Century City"])

    def test_middle_of_the_pacific(self) -> None:
        answer, _ = self.near(-40.0, -130.0, 50)
        self.assertEqual(answer, {"html_attributions": [], "results": [], "status": "ZERO_RESULTS"})

    def test_at_most_20(self) -> None:
        answer, _ = self.near(48.8566, 2.3522, 50)
        self.assertEqual(len(answer["results"]), 20)
        self.assertIn("Paris", self.names(answer))
        self.assertEqual(answer["results"][0]["vicinity"], "France, FR")

    def test_radius_capped_at_50_km(self) -> None:
        self.assertEqual(
            self.successResultOf(OFFLINE.nearby(*UCLA, 5_000_000)),
            self.successResultOf(OFFLINE.nearby(*UCLA, 50_000)),
        )

    def test_fiji_near_the_antimeridian(self) -> None:
        answer, _ = self.near(-16.6, 179.6, 50)
        self.assertEqual(self.names(answer), ["Labasa", "Savusavu"])
        self.assertEqual(self.names(self.near(-18.2, -178.9, 50)[0]), ["Tubou"])

    def test_across_the_antimeridian(self) -> None:
        # Egvekinot (Chukotka) is at 179.118 W; these points are east of 180 or on it.
        for lng in (179.9, 180.0, -180.0, -179.5):
            answer, _ = self.near(66.32, lng, 50)
            self.assertEqual(self.names(answer), ["Egvekinot"], lng)
            self.assertEqual(answer["results"][0]["vicinity"], "Russia, RU")

    def test_poles(self) -> None:
        for lat in (90.0, -90.0, 89.9):
            self.assertEqual(self.near(lat, 0.0, 50)[0]["status"], "ZERO_RESULTS")
        self.assertEqual(self.names(self.near(78.2, 15.6, 50)[0]), ["Longyearbyen"])
        # Up here 1.35 degrees of longitude are 31 km: the search must look two cells west.
        self.assertEqual(self.names(self.near(78.22, 17.0, 50)[0]), ["Longyearbyen"])

    def test_loaded_once(self) -> None:
        OFFLINE.load()
        cells = OFFLINE._cells
        self.successResultOf(OFFLINE.nearby(0, 0, 1000))
        OFFLINE.load()
        self.assertIs(OFFLINE._cells, cells)
        self.assertGreater(len(OFFLINE._names), 100_000)

    def test_grid_finds_what_a_full_scan_finds(self) -> None:
        rng = random.Random(2018)
        cities = len(OFFLINE._names)
        points = [(66.32, 179.9), (-18.2, 179.95), (89.7, 10.0), (-89.8, -170.0), (0.0, -180.0)]
        for _ in range(40):
            i = rng.randrange(cities)
            points.append((max(-90, min(90, OFFLINE._lat[i] + rng.uniform(-0.4, 0.4))),
                           (OFFLINE._lng[i] + rng.uniform(-0.6, 0.6) + 540) % 360 - 180))
        for lat, lng in points:
            radius_km = rng.choice([0.5, 5, 20, 50])
            band = [i for i, city_lat in enumerate(OFFLINE._lat) if abs(city_lat - lat) <= 0.5]
            near = sorted(
                (d, OFFLINE._names[i], i)
                for i in band
                if (d := distance_km(lat, lng, OFFLINE._lat[i], OFFLINE._lng[i])) <= radius_km
            )
            expected = [f"geonames:{OFFLINE._ids[i]}" for _, _, i in near[:20]]
            answer, _ = self.near(lat, lng, radius_km)
            self.assertEqual([r["place_id"] for r in answer["results"]], expected, (lat, lng, radius_km))

    def test_invalid_location(self) -> None:
        for where in [(91.0, 0.0, 1000.0), (0.0, float("nan"), 1000.0), (0.0, 0.0, float("nan"))]:
            answer = self.successResultOf(OFFLINE.nearby(*where))
            self.assertEqual(answer["status"], "INVALID_REQUEST")
            self.assertEqual(answer["results"], [])


class FakeServerTests(SynchronousTestCase):
    """The fake Nearby Search server answers like Google does."""

    def get(self, **params: str) -> tuple[int, Any]:
        http = StubTreq(fake_places_root())
        d = http.get("http://places.test/maps/api/place/nearbysearch/json", params=params)
        http.flush()
        response = self.successResultOf(d)
        body = self.successResultOf(http.content(response))
        return response.code, json.loads(body)

    def test_results_within_radius_nearest_first(self) -> None:
        code, answer = self.get(location="-16.8,179.99", radius="2000", key="k")
        self.assertEqual((code, answer["status"], len(answer["results"])), (200, "OK", 20))
        distances = [
            distance_km(-16.8, 179.99, r["geometry"]["location"]["lat"], r["geometry"]["location"]["lng"])
            for r in answer["results"]
        ]
        self.assertEqual(distances, sorted(distances))
        self.assertLess(max(distances), 2.0)
        self.assertTrue(all(-180 <= r["geometry"]["location"]["lng"] <= 180 for r in answer["results"]))

    def test_requests_google_refuses(self) -> None:
        self.assertEqual(self.get(location="1,2", radius="10")[1]["status"], "REQUEST_DENIED")
        for params in [{"location": "1,2", "radius": "50001"}, {"location": "1;2", "radius": "10"}, {}]:
            self.assertEqual(self.get(key="k", **params)[1]["status"], "INVALID_REQUEST")
