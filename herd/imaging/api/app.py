"""The imaging REST API (klein): the seed's endpoint table, to the letter.

Every answer is JSON except an image download. Every endpoint but ``/login`` and
``/openapi.json`` takes ``Authorization: Bearer <token>``. A user sees only their own
workloads and images (others' are 404); a worker's token sees every one and is the only
one that may upload ``filtered`` images.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from herd.imaging.accounts import Accounts, BadCredentials, BadToken, InThread, Principal
from herd.imaging.api.errors import (ApiError, BadRequest, Conflict, Forbidden, NotFound,
                                     TooMany, Unauthorized, error_body, json_body)
from herd.imaging.api.openapi import document
from herd.imaging.api.params import Params, basic, bearer
from herd.imaging.api.uploads import Limits, inspect_and_save
from herd.imaging.controller.scheduler import QueueFull, Scheduler
from herd.imaging.controller.store import Store
from herd.imaging.model import (DEFAULT_FILTER, FILTERED, FILTERS, IMAGE_TYPES, ORIGINAL, Job,
                                StoredImage, Workload, is_id, new_id, parse_tags,
                                sanitize_name)


class ImagingAPI:
    """The HTTP face of the imaging system."""

    app = Klein()
    log = Logger()

    def __init__(self, store: Store, accounts: Accounts, scheduler: Scheduler,
                 clock: IReactorTime, data: Path, in_thread: InThread,
                 limits: Limits = Limits(), system_name: str = "DPIP") -> None:
        self._store = store
        self._accounts = accounts
        self._scheduler = scheduler
        self._clock = clock
        self._images = Path(data) / "images"
        self._in_thread = in_thread
        self.limits = limits
        self.system_name = system_name

    def resource(self) -> Any:
        """The IResource to serve."""
        return self.app.resource()

    # helpers
    def _principal(self, request: IRequest) -> Principal:
        try:
            return self._accounts.authenticate(bearer(request))
        except BadToken as error:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="imaging"')
            raise Unauthorized(str(error)) from None

    def _workload(self, principal: Principal, workload_id: str) -> Workload:
        workload = self._store.workload(workload_id) if is_id(workload_id) else None
        if workload is None or not (principal.is_worker or workload.owner == principal.subject):
            raise NotFound(f"no workload {workload_id!r}")
        return workload

    def _describe(self, workload: Workload) -> dict[str, object]:
        counts = self._store.counts(workload.id)
        return {"workload_id": workload.id, "filter": workload.filter,
                "workload_name": workload.name, "status": counts.status(),
                "running_jobs": counts.running,
                "filtered_images": self._store.filtered_ids(workload.id),
                "tags": list(workload.tags)}

    # endpoints
    @app.route("/login", methods=["POST"], strict_slashes=False)
    async def login(self, request: IRequest) -> bytes:
        """HTTP Basic credentials -> ``user``, ``token``."""
        credentials = basic(request)
        if credentials is None:
            request.setHeader(b"WWW-Authenticate", b'Basic realm="imaging"')
            raise Unauthorized("HTTP Basic credentials are required (curl -u USER:PASSWORD)")
        try:
            token = await self._accounts.login(*credentials)
        except BadCredentials:
            request.setHeader(b"WWW-Authenticate", b'Basic realm="imaging"')
            raise Unauthorized("wrong user name or password") from None
        self.log.info("{user} logged in", user=credentials[0])
        return json_body(request, 200, {"user": credentials[0], "token": token})

    @app.route("/logout", methods=["DELETE"], strict_slashes=False)
    def logout(self, request: IRequest) -> bytes:
        """Revoke this request's token -> ``logout_message``."""
        principal = self._principal(request)
        self._accounts.revoke_principal(principal)
        return json_body(request, 200, {
            "logout_message": f"Bye {principal.subject}, your token has been revoked"})

    @app.route("/status", methods=["GET"], strict_slashes=False)
    def status(self, request: IRequest) -> bytes:
        """``system_name``, ``server_time`` and the caller's workloads not completed."""
        principal = self._principal(request)
        owner = None if principal.is_worker else principal.subject
        now = self._clock.seconds()
        return json_body(request, 200, {
            "system_name": self.system_name,
            "server_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "active_workloads": [self._describe(w) for w in self._store.active_workloads(owner)],
        })

    @app.route("/workloads", methods=["POST"], strict_slashes=False)
    def create_workload(self, request: IRequest) -> bytes:
        """A new workload (``filter``, ``workload_name``, ``tags``, all optional) -> 201."""
        principal = self._principal(request)
        params = Params(request)
        chosen = params.text("filter", DEFAULT_FILTER)
        if chosen not in FILTERS:
            raise BadRequest(f"unknown filter {chosen!r}: use grayscale or blur", "bad_filter")
        workload_id = new_id()
        name = params.text("workload_name", f"workload-{workload_id[:8]}") or ""
        tags = parse_tags(params.text("tags", "", limit=1024))
        directory = f"{workload_id}-{sanitize_name(name)}"
        (self._images / directory).mkdir(parents=True, exist_ok=True)
        workload = Workload(workload_id, name, chosen, tags, principal.subject, directory)
        self._store.add_workload(workload, self._clock.seconds())
        self.log.info("{user} created workload {id} ({name!r}, {filter})",
                      user=principal.subject, id=workload_id, name=name, filter=chosen)
        return json_body(request, 201, self._describe(workload))

    @app.route("/workloads/<workload_id>", methods=["GET"], strict_slashes=False)
    def get_workload(self, request: IRequest, workload_id: str) -> bytes:
        """A workload as it is now."""
        principal = self._principal(request)
        return json_body(request, 200, self._describe(self._workload(principal, workload_id)))

    @app.route("/images", methods=["POST"], strict_slashes=False)
    async def upload(self, request: IRequest) -> bytes:
        """Store an original (and queue its job) or a worker's filtered result -> 201."""
        principal = self._principal(request)
        params = Params(request)
        spelled = params.text("type", ORIGINAL) or ORIGINAL
        kind = IMAGE_TYPES.get(spelled)
        if kind is None:
            raise BadRequest(f"unknown type {spelled!r}: use original or filtered", "bad_type")
        workload_id = params.text("workload_id")
        if not workload_id:
            raise BadRequest("workload_id is required", "missing_parameter")
        if not is_id(workload_id):
            raise BadRequest(f"malformed workload_id {workload_id!r} (32 hex digits expected)",
                             "bad_parameter")
        data = params.file("data")
        if data is None:
            raise BadRequest("the image goes in the multipart field 'data'", "missing_parameter")
        workload = self._workload(principal, workload_id)
        job_id = ""
        if kind == FILTERED:
            if not principal.is_worker:
                raise Forbidden("only a worker may upload a filtered image")
            job_id = params.text("job_id") or ""
            job = self._store.job(job_id)
            if job is None or job[0] != workload.id:
                raise NotFound(f"no job {job_id!r} in workload {workload.id}")
        else:
            try:
                self._scheduler.check_room()
            except QueueFull as error:
                raise TooMany(f"the queue is full ({error}); retry later") from None
        image_id = new_id()
        info, path = await self._in_thread(inspect_and_save, data, self.limits,
                                           self._images / workload.directory, image_id,
                                           kind == ORIGINAL)
        image = StoredImage(image_id, workload.id, kind, str(path), info.content_type)
        now = self._clock.seconds()
        if kind == ORIGINAL:
            job_id = new_id()
            self._store.add_original(image, len(data), job_id, now)
            self._scheduler.submit(Job(job_id, workload.id, image_id, workload.filter,
                                       workload.tags))
        elif not self._store.complete_job(job_id, image, len(data), now):
            path.unlink(missing_ok=True)
            raise Conflict(f"job {job_id} already has its filtered image", "already_filtered")
        return json_body(request, 201, {"workload_id": workload.id, "image_id": image_id,
                                        "type": spelled})

    @app.route("/images/<image_id>", methods=["GET"], strict_slashes=False)
    def download(self, request: IRequest, image_id: str) -> bytes:
        """The image's bytes with its Content-Type."""
        principal = self._principal(request)
        image = self._store.image(image_id) if is_id(image_id) else None
        if image is not None:
            self._workload(principal, image.workload_id)  # 404 unless theirs
        if image is None:
            raise NotFound(f"no image {image_id!r}")
        try:
            data = Path(image.path).read_bytes()
        except OSError as error:
            raise ApiError(f"image {image_id} is lost: {error.strerror}") from None
        request.setHeader(b"Content-Type", image.content_type.encode("ascii"))
        return data

    @app.route("/openapi.json", methods=["GET"], strict_slashes=False)
    def openapi(self, request: IRequest) -> bytes:
        """The OpenAPI 3 document."""
        return json_body(request, 200, document())

    # errors
    @app.handle_errors(ApiError)
    def api_error(self, request: IRequest, failure: Failure) -> bytes:
        """A refusal of ours, as JSON."""
        error: ApiError = failure.value  # type: ignore[assignment]
        if error.status >= 500:
            self.log.failure("internal error on {uri}", failure, uri=request.uri)
        return error_body(request, error.status, error.error, error.message)

    @app.handle_errors(HTTPException)
    def routing_error(self, request: IRequest, failure: Failure) -> bytes:
        """No such path (404) or method (405), as JSON."""
        error: HTTPException = failure.value  # type: ignore[assignment]
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            request.setHeader(b"Allow", ", ".join(error.valid_methods).encode("ascii"))
        name = (error.name or "error").lower().replace(" ", "_")
        message = {404: "no such endpoint", 405: "method not allowed here"}.get(
            error.code or 500, error.description or name)
        return error_body(request, error.code or 500, name, message)

    @app.handle_errors(Exception)
    def crash(self, request: IRequest, failure: Failure) -> bytes:
        """Our own failure: logged once, 500 as JSON."""
        self.log.failure("internal error on {uri}", failure, uri=request.uri)
        return error_body(request, 500, "internal_error", "internal error (logged)")
