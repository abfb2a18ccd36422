"""The API's endpoints, one by one, through StubTreq: fields, statuses, JSON errors."""

from __future__ import annotations

import base64
import json

from herd.imaging.api.openapi import document
from herd.imaging.api.uploads import Limits
from herd.imaging.model import is_id
from herd.testing.imaging import bomb_png, frame
from herd.testing.imaging import ApiCase

WORKLOAD_FIELDS = {"workload_id", "filter", "workload_name", "status", "running_jobs",
                   "filtered_images"}


class LoginTests(ApiCase):
    def test_login_gives_user_and_token(self) -> None:
        token = self.login()
        self.assertGreaterEqual(len(token), 32)
        self.assertIsNone(self.store.token(token))  # only the digest is stored

    def test_wrong_or_missing_credentials_are_401_json(self) -> None:
        for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"alice:builder").decode()},
                        {"Authorization": "Basic " + base64.b64encode(b"carol:x").decode()},
                        {"Authorization": "Basic !!!"}, {"Authorization": "Bearer x"}):
            code, body, response = self.call("POST", "/login", headers=headers)
            self.assertEqual(code, 401, headers)
            self.assertEqual(set(body), {"error", "message"})
            self.assertTrue(response.headers.hasHeader(b"www-authenticate"))

    def test_every_endpoint_but_login_wants_a_token(self) -> None:
        for method, path in (("DELETE", "/logout"), ("GET", "/status"), ("POST", "/workloads"),
                             ("GET", "/workloads/" + "0" * 32), ("POST", "/images"),
                             ("GET", "/images/" + "0" * 32)):
            for token in (None, "not-a-token"):
                code, body, _ = self.call(method, path, token)
                self.assertEqual(code, 401, (method, path))
                self.assertEqual(body["error"], "unauthorized")

    def test_token_expires_after_ttl(self) -> None:
        token = self.login()
        self.clock.advance(3599)
        self.assertEqual(self.call("GET", "/status", token)[0], 200)
        self.clock.advance(1)
        code, body, _ = self.call("GET", "/status", token)
        self.assertEqual((code, body["message"]), (401, "token expired"))

    def test_logout_revokes_at_once(self) -> None:
        token, other = self.login(), self.login()
        code, body, _ = self.call("DELETE", "/logout", token)
        self.assertEqual(code, 200)
        self.assertEqual(list(body), ["logout_message"])
        self.assertEqual(self.call("GET", "/status", token)[1]["message"], "token revoked")
        self.assertEqual(self.call("GET", "/status", other)[0], 200)

    def test_user_removed_from_the_file_loses_their_tokens(self) -> None:
        token = self.login("bob", "builder")
        self.accounts.set_users({"alice": self.store.password_hash("alice")})
        self.assertEqual(self.call("GET", "/status", token)[0], 401)


class WorkloadTests(ApiCase):
    def test_create_with_defaults_from_a_bare_post(self) -> None:
        token = self.login()
        code, body, _ = self.call("POST", "/workloads", token)
        self.assertEqual(code, 201)
        self.assertTrue(WORKLOAD_FIELDS <= set(body))
        self.assertEqual((body["filter"], body["status"], body["running_jobs"], body["filtered_images"]),
                         ("grayscale", "scheduling", 0, []))
        self.assertEqual(body["workload_name"], "workload-" + body["workload_id"][:8])

    def test_create_from_form_json_and_its_directory(self) -> None:
        token = self.login()
        made = self.workload(token, filter="blur", workload_name="../../etc passwd", tags="gpu, big")
        self.assertEqual((made["filter"], made["workload_name"], made["tags"]),
                         ("blur", "../../etc passwd", ["big", "gpu"]))
        folders = [p.name for p in (self.data / "images").iterdir()]
        self.assertEqual(folders, [made["workload_id"] + "-etc-passwd"])
        code, body, _ = self.call("POST", "/workloads", token, {"Content-Type": "application/json"},
                                  data=json.dumps({"filter": "blur", "workload_name": "j"}).encode())
        self.assertEqual((code, body["filter"], body["workload_name"]), (201, "blur", "j"))

    def test_unknown_filter_and_bad_json_are_400(self) -> None:
        token = self.login()
        code, body, _ = self.call("POST", "/workloads", token, data={"filter": "sepia"})
        self.assertEqual((code, body["error"]), (400, "bad_filter"))
        code, body, _ = self.call("POST", "/workloads", token, {"Content-Type": "application/json"},
                                  data=b"[1")
        self.assertEqual(code, 400)

    def test_get_workload_and_404s(self) -> None:
        alice, bob = self.login(), self.login("bob", "builder")
        made = self.workload(alice, workload_name="mine")
        code, body, _ = self.call("GET", f"/workloads/{made['workload_id']}", alice)
        self.assertEqual((code, body), (200, made))
        for path in (f"/workloads/{'f' * 32}", "/workloads/nope"):
            self.assertEqual(self.call("GET", path, alice)[0], 404)
        self.assertEqual(self.call("GET", f"/workloads/{made['workload_id']}", bob)[0], 404)

    def test_status_lists_active_workloads_of_the_caller(self) -> None:
        alice, bob = self.login(), self.login("bob", "builder")
        made = self.workload(alice)
        self.workload(bob)
        code, body, _ = self.call("GET", "/status", alice)
        self.assertEqual(code, 200)
        self.assertEqual(body["system_name"], "DPIP")
        self.assertEqual(body["server_time"], "2027-01-15T08:00:00Z")
        self.assertEqual([w["workload_id"] for w in body["active_workloads"]], [made["workload_id"]])


class ImageTests(ApiCase):
    def setUp(self) -> None:
        super().setUp()
        self.token = self.login()
        self.workload_id = self.workload(self.token)["workload_id"]

    def test_upload_original_schedules_it_and_download_returns_it(self) -> None:
        data = frame(1)
        code, body = self.upload(self.token, self.workload_id, data)
        self.assertEqual(code, 201)
        self.assertEqual(set(body), {"workload_id", "image_id", "type"})
        self.assertEqual((body["workload_id"], body["type"]), (self.workload_id, "original"))
        self.assertTrue(is_id(body["image_id"]))
        self.assertEqual(len(self.scheduler.queue), 1)
        state = self.call("GET", f"/workloads/{self.workload_id}", self.token)[1]
        self.assertEqual((state["status"], state["running_jobs"]), ("scheduling", 0))
        code, got, response = self.call("GET", f"/images/{body['image_id']}", self.token)
        self.assertEqual((code, got), (200, data))
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [b"image/png"])

    def test_the_seed_spelling_orginal_is_accepted_and_echoed(self) -> None:
        code, body = self.upload(self.token, self.workload_id, frame(2), type="orginal")
        self.assertEqual((code, body["type"]), (201, "orginal"))

    def test_a_user_may_not_upload_filtered(self) -> None:
        code, body = self.upload(self.token, self.workload_id, frame(2), type="filtered")
        self.assertEqual((code, body["error"]), (403, "forbidden"))

    def test_bad_uploads(self) -> None:
        cases = [
            ({"workload_id": self.workload_id}, None, 400),           # no data part
            ({}, frame(1), 400),                                      # no workload_id
            ({"workload_id": self.workload_id, "type": "thumb"}, frame(1), 400),
            ({"workload_id": "f" * 32}, frame(1), 404),
            ({"workload_id": "../../etc"}, frame(1), 400),
            ({"workload_id": self.workload_id}, b"%PDF-1.4 not an image", 415),
            ({"workload_id": self.workload_id}, frame(1)[:-40], 400),  # truncated
            ({"workload_id": self.workload_id}, b"", 400),
            ({"workload_id": self.workload_id}, bomb_png(), 413),      # over Pillow's own limit
            ({"workload_id": self.workload_id}, bomb_png(8000, 8000), 413),  # over ours
        ]
        from herd.imaging.multipart import encode_multipart
        for fields, data, status in cases:
            files = {"data": ("x.png", "image/png", data)} if data is not None else {}
            body, ctype = encode_multipart(fields, files)
            code, answer, _ = self.call("POST", "/images", self.token, {"Content-Type": ctype}, data=body)
            self.assertEqual(code, status, (fields, answer))
            self.assertEqual(set(answer), {"error", "message"})
        self.assertEqual(len(self.scheduler.queue), 0)
        self.assertEqual(list((self.data / "images").glob("*/*")), [])

    def test_download_404(self) -> None:
        for path in ("/images/" + "a" * 32, "/images/..%2Fimaging.sqlite", "/images/x"):
            code, body, _ = self.call("GET", path, self.token)
            self.assertEqual((code, body["error"]), (404, "not_found"), path)

    def test_another_users_image_is_404(self) -> None:
        image = self.upload(self.token, self.workload_id, frame(3))[1]["image_id"]
        bob = self.login("bob", "builder")
        self.assertEqual(self.call("GET", f"/images/{image}", bob)[0], 404)


class LimitTests(ApiCase):
    limits = Limits(max_bytes=2000, max_pixels=100_000)
    max_queue = 2

    def test_too_many_bytes_is_413_and_a_full_queue_429(self) -> None:
        token = self.login()
        workload = self.workload(token)["workload_id"]
        big = frame(1, (200, 200))
        self.assertEqual(self.upload(token, workload, big)[0], 413)
        small = frame(1, (8, 8))
        self.assertEqual([self.upload(token, workload, small)[0] for _ in range(3)], [201, 201, 429])


class RoutingTests(ApiCase):
    def test_wrong_method_is_405_json_and_unknown_path_404_json(self) -> None:
        token = self.login()
        code, body, response = self.call("PUT", "/status", token)
        self.assertEqual((code, body["error"]), (405, "method_not_allowed"))
        self.assertIn(b"GET", response.headers.getRawHeaders(b"allow")[0])
        self.assertEqual(self.call("GET", "/login")[0], 405)
        self.assertEqual(self.call("GET", "/nowhere", token)[1]["error"], "not_found")

    def test_a_trailing_slash_is_the_same_endpoint(self) -> None:
        token = self.login()
        self.assertEqual(self.call("POST", "/workloads/", token)[0], 201)
        self.assertEqual(self.call("GET", "/status/", token)[0], 200)

    def test_openapi_describes_every_route(self) -> None:
        code, served, _ = self.call("GET", "/openapi.json")
        self.assertEqual((code, served), (200, document()))
        routes = {}
        for rule in self.api.app.url_map.iter_rules():
            path = rule.rule.replace("<", "{").replace(">", "}")
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
        documented = {path: set(ops) for path, ops in served["paths"].items()}
        self.assertEqual(routes, documented)
