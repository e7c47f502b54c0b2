"""A strict Kubernetes API emulator for the test bed, plain HTTP and TLS on one port: the real `kubernetes` client
and `kubectl` work against it with default flags. Deviations from a real kube-apiserver are in tests/testbed/README.md.

Run standalone: `python -m tests.testbed.apiserver --port P [--rbac-dir manifests] --audit audit.jsonl
--token TOKEN=USER ...` (until SIGTERM). Tests in other processes drive it through `/_testbed/` (control.py).
"""
from __future__ import annotations

import argparse
import base64
import bisect
import io
import json
import queue
import re
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.testbed import k8s_events as events
from tests.testbed import k8s_kinds as kinds
from tests.testbed import k8s_resources as res
from tests.testbed.certificates import self_signed_pem
from tests.testbed.k8s_cluster import STRICT, Cluster, validation_mode
from tests.testbed.k8s_errors import (
    ApiError,
    bad_request,
    conflict,
    forbidden,
    forbidden_path,
    injected,
    method_not_allowed,
    no_such_path,
    unauthorized,
    unsupported_media_type,
)
from tests.testbed.k8s_patch import PATCH_TYPES
from tests.testbed.k8s_rbac import Authorizer, rbac_documents
from tests.testbed.k8s_selectors import field_matcher, label_matcher
from tests.testbed.k8s_store import Watcher, WatchEvent, parse_resource_version

ADMIN_TOKEN_USER = "admin"
SCALERD_USER = "system:serviceaccount:scalerd:scalerd"
ANONYMOUS_USER = "system:anonymous"
CONTROL_PREFIX = "/_testbed/"
_TLS_HANDSHAKE = b"\x16"
_IDLE = object()  # no watch event arrived in time: a deadline or bookmark check is due
FAULT_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "*")


@dataclass
class _Fault:
    verb: str
    path_pattern: re.Pattern[str]
    status: int | None
    remaining: int
    retry_after: int | None
    stall_seconds: float
    lose_answer: bool


@dataclass(frozen=True)
class _Request:
    """What a resource URL asks for, in the terms RBAC and the audit log use."""
    verb: str
    resource: res.ResourceType
    namespace: str | None  # None: every namespace (or a cluster-scoped resource)
    name: str
    subresource: str


class ApiServer:
    def __init__(self, *, audit_path: Path, tokens: Mapping[str, str], rbac_dir: Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, status_delay: float = 0.0, history_limit: int = 1000,
                 bookmark_interval: float = 1.0, certificate_path: Path | None = None):
        """`rbac_dir`: the RBAC objects of its `*.yaml` files are created at start, as if an administrator had
        applied them; RBAC decisions then follow the stored objects, however they change."""
        self._authorizer: Authorizer | None = None
        self._authorizer_revision: tuple[int, ...] = ()
        self._audit_path = Path(audit_path)
        self._audit_lock = threading.Lock()
        self._audit_file = None
        self._tokens = dict(tokens)
        self._address = (host, port)
        self._tls, self._certificate_pem = _self_signed_tls(host)
        self._certificate_path = certificate_path
        self._bookmark_interval = bookmark_interval
        self._faults: list[_Fault] = []
        self._faults_fired = 0
        self._faults_lock = threading.Lock()
        self.cluster = Cluster(status_delay=status_delay, history_limit=history_limit)
        if rbac_dir is not None:
            self._create_rbac(Path(rbac_dir))
        self._http: _HttpServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _create_rbac(self, directory: Path) -> None:
        kinds_by_name = {resource.kind: resource for resource in res.RBAC_RESOURCES}
        for document in rbac_documents(directory):
            resource = kinds_by_name[document["kind"]]
            namespace = (document.get("metadata") or {}).get("namespace", "") if resource.namespaced else ""
            if namespace and self.cluster.store.get(res.NAMESPACES.key, "", namespace) is None:
                self.cluster.create(res.NAMESPACES, "", {"metadata": {"name": namespace}}, field_validation=STRICT)
            self.cluster.create(resource, namespace, document, field_validation=STRICT)

    # -- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._audit_path.parent.mkdir(parents=True, exist_ok=True)
        self._audit_file = self._audit_path.open("a", encoding="utf-8")
        if self._certificate_path is not None:
            self._certificate_path.parent.mkdir(parents=True, exist_ok=True)
            self._certificate_path.write_bytes(self._certificate_pem)
        self._http = _HttpServer(self._address, _Handler, api=self, tls=self._tls)
        self.cluster.start()
        self._serve_thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1},
                                              name="apiserver", daemon=True)
        self._serve_thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self.cluster.store.drop_watches()
            self._http.close_connections()
            self._http.server_close()
            self._serve_thread.join(timeout=5)
            self._http = None
        self.cluster.stop()
        with self._audit_lock:
            if self._audit_file is not None:
                self._audit_file.close()
                self._audit_file = None

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def https_url(self) -> str:
        """The same port over TLS; kubectl needs it, as it sends no bearer token over plain HTTP."""
        return self.url.replace("http://", "https://", 1)

    @property
    def certificate_pem(self) -> bytes:
        """The self-signed certificate of https_url, for a kubeconfig's certificate-authority-data."""
        return self._certificate_pem

    @property
    def bookmark_interval(self) -> float:
        return self._bookmark_interval

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # -- controls (also served under /_testbed/) --------------------------------------------------------------

    def inject_fault(self, *, verb: str, path_pattern: str, status: int | None = None, count: int = 1,
                     retry_after: int | None = None, stall_seconds: float = 0.0, lose_answer: bool = False) -> None:
        if verb not in FAULT_VERBS:
            raise ValueError(f"verb: must be one of {', '.join(FAULT_VERBS)}, not {verb!r}")
        if status is None and stall_seconds <= 0 and not lose_answer:
            raise ValueError("a fault needs a status, a stall_seconds above 0, lose_answer, or a combination")
        if lose_answer and (status is not None or verb == "watch"):
            raise ValueError("lose_answer: the request is served normally (no status) and is not a watch")
        if count < 1:
            raise ValueError(f"count: must be at least 1, not {count}")
        try:
            pattern = re.compile(path_pattern)
        except re.error as error:
            raise ValueError(f"path_pattern: {error}") from None
        with self._faults_lock:
            self._faults.append(_Fault(verb=verb, path_pattern=pattern, status=status, remaining=count,
                                       retry_after=retry_after, stall_seconds=stall_seconds,
                                       lose_answer=lose_answer))

    def clear_faults(self) -> None:
        with self._faults_lock:
            self._faults.clear()

    def faults_fired(self) -> int:
        with self._faults_lock:
            return self._faults_fired

    def drop_watches(self) -> int:
        return self.cluster.store.drop_watches()

    def set_pod_metrics(self, *, namespace: str, pod: str, cpu_millicores: int | None) -> None:
        self.cluster.set_pod_metrics(namespace=namespace, pod=pod, cpu_millicores=cpu_millicores)

    def set_status_delay(self, seconds: float) -> None:
        self.cluster.set_status_delay(seconds)

    def set_pod_ready(self, *, namespace: str, pod: str, ready: bool) -> None:
        self.cluster.set_pod_ready(namespace=namespace, pod=pod, ready=ready)

    # -- used by the handler ----------------------------------------------------------------------------------

    def user_for(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        return self._tokens.get(authorization[len("Bearer "):].strip())

    def take_fault(self, verb: str, path: str) -> _Fault | None:
        with self._faults_lock:
            for fault in self._faults:
                if fault.verb in ("*", verb) and fault.path_pattern.search(path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    self._faults_fired += 1
                    return fault
        return None

    def authorize(self, user: str, request: _Request) -> None:
        if user == ADMIN_TOKEN_USER:
            return
        resource = request.resource
        plural = f"{resource.plural}/{request.subresource}" if request.subresource else resource.plural
        # A namespace object is authorized in its own namespace, as the real RequestInfo resolver does.
        namespace = request.name if resource is res.NAMESPACES and request.name else (request.namespace or "")
        if not self._current_authorizer().allows(user=user, verb=request.verb, group=resource.group, resource=plural,
                                       namespace=namespace, name=request.name):
            raise forbidden(user=user, verb=request.verb, plural=resource.plural, subresource=request.subresource,
                            group=resource.group, namespace=namespace, name=request.name)

    def _current_authorizer(self) -> Authorizer:
        """Rebuilt from the stored RBAC objects after any of them changed (the real authorizer's informers lag a
        little; the emulator's decisions follow each write at once)."""
        store = self.cluster.store
        with store.lock:
            revision = tuple(store.revision(resource.key) for resource in res.RBAC_RESOURCES)
            if self._authorizer is None or revision != self._authorizer_revision:
                self._authorizer = Authorizer([obj for resource in res.RBAC_RESOURCES
                                               for obj in store.items(resource.key, None)])
                self._authorizer_revision = revision
            return self._authorizer

    def audit(self, *, user: str, verb: str, path: str, status: int) -> None:
        line = json.dumps({"ts": time.time(), "user": user, "verb": verb, "path": path, "status": status})
        with self._audit_lock:
            if self._audit_file is not None:
                self._audit_file.write(line + "\n")
                self._audit_file.flush()


class _HttpServer(ThreadingHTTPServer):
    """Plain HTTP and TLS on one port: kubectl sends no credentials over plain HTTP, the Python client may."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *, api: ApiServer,
                 tls: ssl.SSLContext):
        self.api = api
        self._tls = tls
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        connection = request
        try:
            if request.recv(1, socket.MSG_PEEK) == _TLS_HANDSHAKE:
                connection = self._tls.wrap_socket(request, server_side=True)
            with self._connections_lock:
                self._connections.add(connection)
            self.RequestHandlerClass(connection, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self._connections_lock:
                self._connections.discard(connection)
            if connection is not request:
                connection.close()

    def close_connections(self) -> None:
        """Keep-alive connections would otherwise outlive the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _self_signed_tls(host: str) -> tuple[ssl.SSLContext, bytes]:
    """A fresh key and certificate for `host` (and localhost) per server; returns the context and the PEM."""
    certificate_pem, key_pem = self_signed_pem(common_name="scalerd-testbed-apiserver", host=host,
                                               valid_for=timedelta(days=30))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        certificate_file, key_file = Path(directory, "tls.crt"), Path(directory, "tls.key")
        certificate_file.write_bytes(certificate_pem)
        key_file.write_bytes(key_pem)
        context.load_cert_chain(certificate_file, key_file)
    return context, certificate_pem


def _parse_resource_path(cluster: Cluster, method: str, path: str, query: Mapping[str, str]) -> _Request | None:
    """None for non-resource URLs (discovery, OpenAPI, health); raises 404 for unknown resources."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise no_such_path()
    plural, name, subresource = rest[0], rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else ""
    resource = cluster.lookup(group=group, version=version, plural=plural)
    if resource is None or (namespace is not None and not resource.namespaced):
        raise no_such_path()
    if subresource and resource.subresource(subresource) is None:
        raise no_such_path()
    if resource.namespaced and name and namespace is None:
        raise no_such_path()
    watching = query.get("watch", "") in ("1", "true", "True")
    verbs = {"GET": "watch" if watching else ("get" if name else "list"),
             "POST": "create", "PUT": "update", "PATCH": "patch",
             "DELETE": "delete" if name else "deletecollection"}
    return _Request(verb=verbs[method], resource=resource, namespace=namespace, name=name, subresource=subresource)


def _strip_type(obj: Mapping[str, Any]) -> dict[str, Any]:
    """List items carry no kind and apiVersion on the wire."""
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


def _encode_continue(resource_version: int, after: tuple[str, str]) -> str:
    token = json.dumps({"rv": resource_version, "start": list(after)})
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        namespace, name = decoded["start"]
        return str(namespace), str(name)
    except (ValueError, KeyError, TypeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion "
                          "(version meta.k8s.io/v1)") from None


def _table(resource: res.ResourceType, objects: list[Mapping[str, Any]], *, include: str,
           metadata: Mapping[str, Any], with_columns: bool = True) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table, what `kubectl get` asks for; `include` is the includeObject parameter."""
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": kinds.table_cells(resource, obj)}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata", {})}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(metadata),
            "columnDefinitions": kinds.table_columns(resource) if with_columns else None, "rows": rows}


class _WatchSelection:
    """Which stored events one watch sends, and as what: selectors, a named object, the events.k8s.io view."""

    def __init__(self, *, request: _Request, query: Mapping[str, str]):
        self._label_ok = label_matcher(query.get("labelSelector"))
        self._field_ok = field_matcher(query.get("fieldSelector"))
        self._name = request.name
        self._view = events.to_events_v1 if request.resource is res.EVENTS else dict

    def _matches(self, obj: Mapping[str, Any]) -> bool:
        return ((not self._name or obj["metadata"]["name"] == self._name)
                and self._label_ok(obj) and self._field_ok(obj))

    def translate(self, event: WatchEvent) -> tuple[str, dict[str, Any]] | None:
        """An object that starts or stops matching the selectors is ADDED or DELETED, as in the real watch."""
        new = self._view(event.obj)
        old = self._view(event.old) if event.old is not None else None
        if event.type == "DELETED":
            return ("DELETED", new) if self._matches(old or new) else None
        matched_before = old is not None and self._matches(old)
        if self._matches(new):
            return ("MODIFIED" if matched_before else "ADDED"), new
        return ("DELETED", new) if matched_before else None


class _WatchEncoder:
    """JSON lines of watch events; `Table` objects for kubectl, with the columns in the first event only."""

    def __init__(self, *, resource: res.ResourceType, table: bool, include: str):
        self._resource = resource
        self._table = table
        self._include = include
        self._columns_sent = False

    def encode(self, event_type: str, obj: Mapping[str, Any]) -> bytes:
        if self._table and event_type in ("ADDED", "MODIFIED", "DELETED"):
            obj = _table(self._resource, [obj], include=self._include, with_columns=not self._columns_sent,
                         metadata={"resourceVersion": obj["metadata"].get("resourceVersion", "")})
            self._columns_sent = True
        return json.dumps({"type": event_type, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def bookmark(self, resource_version: int, *, initial_events_end: bool = False) -> bytes:
        metadata: dict[str, Any] = {"resourceVersion": str(resource_version)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return self.encode("BOOKMARK", {"kind": self._resource.kind, "apiVersion": self._resource.api_version,
                                        "metadata": metadata})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _pending_audit: dict[str, str] | None = None  # control requests leave it None: they are not audited
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle would hold the body 40 ms
    server: _HttpServer

    def log_message(self, format: str, *args: Any) -> None:
        """The audit log records every request; stderr stays quiet."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ---------------------------------------------------------------------------------------------

    @property
    def api(self) -> ApiServer:
        return self.server.api

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> Any:
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if "protobuf" in content_type:
            raise unsupported_media_type(content_type, ("application/json", "application/yaml"))
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw.decode())
            return json.loads(raw.decode() or "null")
        except (ValueError, yaml.YAMLError) as error:
            raise bad_request(f"couldn't get version/kind; json parse error: {error}") from None

    def _send(self, code: int, body: Any, *, headers: Mapping[str, str] | None = None,
              content_type: str | None = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self._audit(code)
        self.send_response(code)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: ApiError) -> None:
        self._send(error.code, error.status(), headers=error.headers)

    # -- the request ------------------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        user = self.api.user_for(self.headers.get("Authorization"))
        if path.startswith(CONTROL_PREFIX):
            self._handle_control(method, path, user)
            return
        request, path_error = None, None
        try:
            request = _parse_resource_path(self.api.cluster, method, path, query)
        except ApiError as error:
            path_error = error
        verb, status = request.verb if request is not None else method.lower(), 500
        self._pending_audit = {"user": user or ANONYMOUS_USER, "verb": verb, "path": path}
        try:
            raw = self._read_body()
            if user is None:
                raise unauthorized()
            if path_error is not None:
                raise path_error
            fault = self.api.take_fault(verb, path)
            if fault is not None:
                time.sleep(fault.stall_seconds)
                if fault.status is not None:
                    if fault.status == 409 and request is not None and request.name:
                        raise conflict(plural=request.resource.plural, group=request.resource.group,
                                       name=request.name)
                    raise injected(status=fault.status, retry_after=fault.retry_after)
            if fault is not None and fault.lose_answer:
                status = self._serve_losing_the_answer(method, path, request, query, raw, user)
            elif request is None:
                status = self._serve_non_resource(method, path)
            else:
                self.api.authorize(user, request)
                status = self._serve_resource(request, query, raw)
        except ApiError as error:
            status = error.code
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self._audit(status)

    def _serve_losing_the_answer(self, method: str, path: str, request: _Request | None, query: Mapping[str, str],
                                 raw: bytes, user: str) -> int:
        """Serve the request in full (a write is committed), then close the connection without a byte of the answer:
        a load balancer or NAT dropping the connection after the API server did the work. The audit log has the
        status the server meant to send."""
        real_output, self.wfile = self.wfile, io.BytesIO()
        try:
            if request is None:
                return self._serve_non_resource(method, path)
            self.api.authorize(user, request)
            return self._serve_resource(request, query, raw)
        except ApiError as error:
            self._send_error(error)
            return error.code
        finally:
            self.wfile = real_output
            self.close_connection = True

    def _audit(self, status: int) -> None:
        """Once per request, before its answer goes out (so a client that has its answer finds the line);
        a watch's when its stream ends."""
        if self._pending_audit is not None:
            self.api.audit(**self._pending_audit, status=status)
            self._pending_audit = None

    def _serve_non_resource(self, method: str, path: str) -> int:
        if method != "GET":
            raise method_not_allowed()
        if path.startswith("/openapi/") and not res.openapi_accepts_json(self.headers.get("Accept")):
            self._send(406, b"", content_type=None, headers={"Vary": "Accept"})
            return 406
        body = self._discovery(path.rstrip("/") or "/")
        if body is None:
            if path in ("/healthz", "/livez", "/readyz"):
                self._send(200, b"ok", content_type="text/plain; charset=utf-8")
                return 200
            raise no_such_path()
        self._send(200, body)
        return 200

    def _discovery(self, path: str) -> Any:
        parts = [part for part in path.split("/") if part]
        host, port = self.server.server_address[:2]
        served = self.api.cluster.resources()
        if path == "/version":
            return res.version_info()
        if path == "/api":
            return res.api_versions(f"{host}:{port}")
        if path == "/apis":
            return res.api_group_list(served)
        if len(parts) == 2 and parts[0] == "api":
            return res.api_resource_list(served, group="", version=parts[1])
        if len(parts) == 2 and parts[0] == "apis":
            return res.api_group(served, parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return res.api_resource_list(served, group=parts[1], version=parts[2])
        if path == "/openapi/v3":
            return res.openapi_v3_root(served)
        if path.startswith("/openapi/v3/"):
            return res.openapi_v3_group(served, path[len("/openapi/v3/"):])
        if path == "/openapi/v2":
            return res.openapi_v2()
        return None

    def _serve_resource(self, request: _Request, query: Mapping[str, str], raw: bytes) -> int:
        resource, cluster = request.resource, self.api.cluster
        namespace = request.namespace or ""
        mode = validation_mode(query.get("fieldValidation"))
        allowed = res.SUBRESOURCE_VERBS if request.subresource else resource.verbs
        if request.verb not in allowed:
            raise method_not_allowed()
        if request.verb == "watch":
            return self._serve_watch(request, query)
        if request.verb == "list":
            return self._serve_list(request, query)
        if request.verb == "get":
            if resource is res.POD_METRICS:
                obj = cluster.pod_metrics(namespace, request.name)[0]
            elif request.subresource == "scale":
                obj = cluster.get_scale(namespace, request.name)
            else:
                obj = cluster.get(resource, namespace, request.name)
            self._send_object(request, obj, 200, [])
            return 200
        if request.verb == "create":
            obj, warnings = cluster.create(resource, namespace, self._json_body(raw), field_validation=mode)
            self._send_object(request, obj, 201, warnings)
            return 201
        if request.verb == "update":
            obj, warnings = cluster.update(resource, namespace, request.name, self._json_body(raw),
                                           field_validation=mode, subresource=request.subresource)
            self._send_object(request, obj, 200, warnings)
            return 200
        if request.verb == "patch":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in PATCH_TYPES:
                raise unsupported_media_type(content_type, PATCH_TYPES)
            obj, warnings = cluster.patch(resource, namespace, request.name, self._json_body(raw),
                                          content_type=content_type, field_validation=mode,
                                          subresource=request.subresource)
            self._send_object(request, obj, 200, warnings)
            return 200
        if request.verb == "delete" and not request.subresource:
            self._check_delete_preconditions(request, raw)
            deleted = cluster.delete(resource, namespace, request.name)
            if resource is res.PODS:
                self._send(200, deleted)
            else:
                self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                 "details": {"name": request.name, "group": resource.group,
                                             "kind": resource.plural, "uid": deleted["metadata"]["uid"]}})
            return 200
        raise method_not_allowed()

    def _check_delete_preconditions(self, request: _Request, raw: bytes) -> None:
        if not raw.strip():
            return
        options = self._json_body(raw)
        preconditions = (options or {}).get("preconditions") or {}
        if not preconditions:
            return
        current = self.api.cluster.get(request.resource, request.namespace or "", request.name)["metadata"]
        for field, actual in (("uid", current["uid"]), ("resourceVersion", current["resourceVersion"])):
            wanted = preconditions.get(field)
            if wanted not in (None, "") and wanted != actual:
                qualified = f"{request.resource.plural}.{request.resource.group}".rstrip(".")
                label = "UID" if field == "uid" else "ResourceVersion"
                raise ApiError(code=409, reason="Conflict", message=(
                    f'Operation cannot be fulfilled on {qualified} "{request.name}": Precondition failed: '
                    f"{label} in precondition: {wanted}, {label} in object meta: {actual}"),
                    details={"name": request.name, "group": request.resource.group,
                             "kind": request.resource.plural})

    # -- encodings --------------------------------------------------------------------------------------------

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _send_object(self, request: _Request, obj: Mapping[str, Any], code: int, warnings: list[str]) -> None:
        headers = {"Warning": ", ".join(f'299 - "{json.dumps(w)[1:-1]}"' for w in warnings)} if warnings else {}
        if self._wants_table() and not request.subresource:
            query = {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}
            rv = obj.get("metadata", {}).get("resourceVersion", "")
            obj = _table(request.resource, [obj], include=query.get("includeObject", ""),
                         metadata={"resourceVersion": rv})
        self._send(code, obj, headers=headers)

    def _serve_list(self, request: _Request, query: Mapping[str, str]) -> int:
        resource, cluster = request.resource, self.api.cluster
        label_ok, field_ok = label_matcher(query.get("labelSelector")), field_matcher(query.get("fieldSelector"))
        if resource is res.POD_METRICS:
            items, resource_version = cluster.pod_metrics(request.namespace, None), None
        else:
            items, resource_version = cluster.list(resource, request.namespace)
        items = [obj for obj in items if label_ok(obj) and field_ok(obj)]
        metadata: dict[str, Any] = {}
        if resource_version is not None:
            metadata["resourceVersion"] = str(resource_version)
        if query.get("continue"):
            keys = [(obj["metadata"].get("namespace", ""), obj["metadata"]["name"]) for obj in items]
            items = items[bisect.bisect_right(keys, _decode_continue(query["continue"])):]
        limit = int(query.get("limit") or 0)
        if 0 < limit < len(items):
            last = items[limit - 1]["metadata"]
            metadata["continue"] = _encode_continue(resource_version or 0, (last.get("namespace", ""), last["name"]))
            metadata["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if self._wants_table():
            body = _table(resource, items, include=query.get("includeObject", ""), metadata=metadata)
        else:
            body = {"kind": f"{resource.kind}List", "apiVersion": resource.api_version, "metadata": metadata,
                    "items": [_strip_type(obj) for obj in items]}
        self._send(200, body)
        return 200

    # -- watch ------------------------------------------------------------------------------------------------

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _serve_watch(self, request: _Request, query: Mapping[str, str]) -> int:
        store = self.api.cluster.store
        if "watch" not in request.resource.verbs:
            raise method_not_allowed()
        selection = _WatchSelection(request=request, query=query)
        since_text = query.get("resourceVersion", "")
        # A streaming list (client-go's WatchList, kubectl's default) asks for the current objects first.
        initial_events = query.get("sendInitialEvents") in ("1", "true", "True")
        since = None if initial_events or since_text in ("", "0") else parse_resource_version(since_text)
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true", "True")
        encoder = _WatchEncoder(resource=request.resource, table=self._wants_table(),
                                include=query.get("includeObject", ""))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True
        try:
            watcher, backlog, snapshot = store.open_watch(request.resource.key, request.namespace, since)
        except ApiError as error:  # 410 Gone travels inside the stream, as an ERROR event
            self._write_chunk(encoder.encode("ERROR", error.status()))
            self._write_chunk(b"")
            return 200
        try:
            for event in backlog:
                self._forward(selection.translate(event), encoder)
            if initial_events:
                self._write_chunk(encoder.bookmark(snapshot, initial_events_end=True))
            self._stream(watcher, selection, encoder, timeout=timeout, bookmarks=bookmarks)
            self._write_chunk(b"")
        except OSError:  # the client went away
            pass
        finally:
            store.close_watch(watcher)
        return 200

    def _forward(self, translated: tuple[str, dict[str, Any]] | None, encoder: _WatchEncoder) -> None:
        if translated is not None:
            self._write_chunk(encoder.encode(*translated))

    def _stream(self, watcher: Watcher, selection: _WatchSelection, encoder: _WatchEncoder, *,
                timeout: float | None, bookmarks: bool) -> None:
        store = self.api.cluster.store
        deadline = time.monotonic() + timeout if timeout is not None else None
        interval = self.api.bookmark_interval
        next_bookmark = time.monotonic() + interval
        while not self.api.stopping:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wake = min(t for t in (deadline, next_bookmark if bookmarks else None, now + 0.5) if t is not None)
            try:
                event = watcher.events.get(timeout=max(0.0, wake - now))
            except queue.Empty:
                event = _IDLE
            if event is None:
                return
            if event is not _IDLE:
                self._forward(selection.translate(event), encoder)
            if bookmarks and time.monotonic() >= next_bookmark:
                with store.lock:
                    caught_up = watcher.events.empty()
                    resource_version = store.resource_version
                if caught_up:
                    self._write_chunk(encoder.bookmark(resource_version))
                next_bookmark = time.monotonic() + interval

    # -- control ----------------------------------------------------------------------------------------------

    def _handle_control(self, method: str, path: str, user: str | None) -> None:
        try:
            raw = self._read_body()
            if user is None:
                raise unauthorized()
            if user != ADMIN_TOKEN_USER:
                raise forbidden_path(user=user, verb=method.lower(), path=path)
            body = json.loads(raw.decode() or "{}")
            result = self._control(method, path[len(CONTROL_PREFIX):].rstrip("/"), body)
            self._send(200, result)
        except ApiError as error:
            self._send_error(error)
        except (ValueError, KeyError, TypeError) as error:
            self._send_error(bad_request(f"{path}: {error}"))

    def _control(self, method: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        api = self.api
        if (method, action) == ("POST", "faults"):
            api.inject_fault(verb=body["verb"], path_pattern=body["path_pattern"], status=body.get("status"),
                             count=int(body.get("count", 1)), retry_after=body.get("retry_after"),
                             stall_seconds=float(body.get("stall_seconds", 0.0)),
                             lose_answer=bool(body.get("lose_answer", False)))
            return {}
        if (method, action) == ("DELETE", "faults"):
            api.clear_faults()
            return {}
        if (method, action) == ("GET", "faults/fired"):
            return {"fired": api.faults_fired()}
        if (method, action) == ("POST", "watches/drop"):
            return {"dropped": api.drop_watches()}
        if (method, action) == ("PUT", "pod-metrics"):
            millicores = body["cpu_millicores"]
            api.set_pod_metrics(namespace=body["namespace"], pod=body["pod"],
                                cpu_millicores=None if millicores is None else int(millicores))
            return {}
        if (method, action) == ("PUT", "status-delay"):
            api.set_status_delay(float(body["seconds"]))
            return {}
        if (method, action) == ("PUT", "pod-ready"):
            api.set_pod_ready(namespace=body["namespace"], pod=body["pod"], ready=bool(body["ready"]))
            return {}
        raise no_such_path()


def _token_pair(text: str) -> tuple[str, str]:
    token, separator, user = text.partition("=")
    if not separator or not token or not user:
        raise argparse.ArgumentTypeError(f"expected TOKEN=USER, got {text!r}")
    return token, user


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.apiserver", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rbac-dir", type=Path, help="RBAC objects of these *.yaml manifests exist from the start")
    parser.add_argument("--audit", type=Path, required=True, help="JSON-lines audit log, appended")
    parser.add_argument("--token", type=_token_pair, action="append", default=[], metavar="TOKEN=USER")
    parser.add_argument("--status-delay", type=float, default=0.0, help="seconds before status follows spec")
    parser.add_argument("--certificate", type=Path, help="write the TLS certificate (PEM) of https:// here")
    parser.add_argument("--history-limit", type=int, default=1000, help="watch events kept for resuming")
    args = parser.parse_args(argv)
    server = ApiServer(rbac_dir=args.rbac_dir, audit_path=args.audit, tokens=dict(args.token), host=args.host,
                       port=args.port, status_delay=args.status_delay, history_limit=args.history_limit,
                       certificate_path=args.certificate)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"listening on {server.url}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
