"""The OpenAPI 3 document of the imaging API, served at ``/openapi.json``.

Kept true by tests: every route of ``ImagingAPI`` is here with every status it answers,
and a schemathesis run checks live answers against it.
"""

from __future__ import annotations

import copy
from typing import Any

from herd.imaging.model import COMPLETED, FILTERS, RUNNING, SCHEDULING

_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(status_description: str, schema: str) -> dict[str, Any]:
    return {"description": status_description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


_AUTH = {"401": _error("Missing, wrong, expired or revoked token")}
_FORM_WORKLOAD = {
    "type": "object",
    "properties": {
        "filter": {"type": "string", "enum": list(FILTERS), "default": "grayscale"},
        "workload_name": {"type": "string", "maxLength": 256,
                          "description": "Default: workload-<first 8 digits of the id>"},
        "tags": {"type": "string", "maxLength": 1024,
                 "description": "Comma-separated; only workers carrying every tag run it"},
    },
}

_JSON_WORKLOAD = copy.deepcopy(_FORM_WORKLOAD)
_JSON_WORKLOAD["properties"]["tags"] = {
    "oneOf": [{"type": "string", "maxLength": 1024},
              {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 16}]}

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "herd imaging (DPIP)", "version": "1.0.0",
             "description": "Distributed and parallel image processing: upload images to a "
                            "workload; workers filter them (grayscale or blur)."},
    "components": {
        "securitySchemes": {
            "basic": {"type": "http", "scheme": "basic"},
            "bearer": {"type": "http", "scheme": "bearer"},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error", "message"],
                      "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
            "Login": {"type": "object", "required": ["user", "token"],
                      "properties": {"user": {"type": "string"}, "token": {"type": "string"}}},
            "Logout": {"type": "object", "required": ["logout_message"],
                       "properties": {"logout_message": {"type": "string"}}},
            "Workload": {
                "type": "object",
                "required": ["workload_id", "filter", "workload_name", "status",
                             "running_jobs", "filtered_images"],
                "properties": {
                    "workload_id": _ID,
                    "filter": {"type": "string", "enum": list(FILTERS)},
                    "workload_name": {"type": "string"},
                    "status": {"type": "string", "enum": [SCHEDULING, RUNNING, COMPLETED]},
                    "running_jobs": {"type": "integer", "minimum": 0},
                    "filtered_images": {"type": "array", "items": _ID},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Status": {
                "type": "object",
                "required": ["system_name", "server_time", "active_workloads"],
                "properties": {
                    "system_name": {"type": "string"},
                    "server_time": {"type": "string", "format": "date-time"},
                    "active_workloads": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/Workload"}},
                },
            },
            "Uploaded": {
                "type": "object", "required": ["workload_id", "image_id", "type"],
                "properties": {"workload_id": _ID, "image_id": _ID,
                               "type": {"type": "string",
                                        "enum": ["original", "orginal", "filtered"]}},
            },
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/login": {"post": {
            "summary": "Log in with HTTP Basic credentials; get a bearer token",
            "security": [{"basic": []}],
            "responses": {"200": _ok("A new token", "Login"),
                          "401": _error("Missing or wrong credentials")}}},
        "/logout": {"delete": {
            "summary": "Revoke the token of this request",
            "responses": {"200": _ok("Logged out", "Logout"), **_AUTH}}},
        "/status": {"get": {
            "summary": "System name, server time and the workloads not completed",
            "responses": {"200": _ok("Status", "Status"), **_AUTH}}},
        "/workloads": {"post": {
            "summary": "Create a workload (every parameter optional)",
            "requestBody": {"required": False, "content": {
                "application/x-www-form-urlencoded": {"schema": _FORM_WORKLOAD},
                "multipart/form-data": {"schema": _FORM_WORKLOAD},
                "application/json": {"schema": _JSON_WORKLOAD}}},
            "responses": {"201": _ok("The new workload", "Workload"),
                          "400": _error("Unknown filter or malformed parameter"), **_AUTH}}},
        "/workloads/{workload_id}": {"get": {
            "summary": "A workload as it is now",
            "parameters": [{"name": "workload_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": _ok("The workload", "Workload"), **_AUTH,
                          "404": _error("No such workload (or not yours)")}}},
        "/images": {"post": {
            "summary": "Upload an image to a workload (originals are filtered by workers)",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["data", "workload_id"],
                "properties": {
                    "data": {"type": "string", "format": "binary"},
                    "workload_id": {"type": "string"},
                    "type": {"type": "string", "enum": ["original", "orginal", "filtered"],
                             "default": "original"},
                    "job_id": {"type": "string",
                               "description": "filtered only: the job it answers"},
                }}}}},
            "responses": {
                "201": _ok("Stored", "Uploaded"),
                "400": _error("Missing or malformed parameter, bad type, truncated or corrupt image"),
                **_AUTH,
                "403": _error("A user's token uploading a filtered image"),
                "404": _error("No such workload or job"),
                "409": _error("That job has its filtered image already"),
                "413": _error("Over the size or pixel limit"),
                "415": _error("Not an image"),
                "429": _error("The queue is full")}}},
        "/images/{image_id}": {"get": {
            "summary": "Download an image (original or filtered)",
            "parameters": [{"name": "image_id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {
                "200": {"description": "The image", "content": {
                    f"image/{kind}": {"schema": {"type": "string", "format": "binary"}}
                    for kind in ("png", "jpeg", "gif", "bmp", "tiff", "webp")}},
                **_AUTH, "404": _error("No such image (or not yours)")}}},
        "/openapi.json": {"get": {
            "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document",
                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    },
}


def document() -> dict[str, Any]:
    """A copy of the OpenAPI document."""
    return copy.deepcopy(_DOCUMENT)
