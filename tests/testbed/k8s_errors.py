"""Kubernetes `Status` failures, worded as the real kube-apiserver words them (clients match on reason and code)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """A failure answered as a `Status` object with the HTTP code in `code`."""

    def __init__(self, *, code: int, reason: str, message: str,
                 details: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details) if details else None
        self.headers = dict(headers or {})

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified_resource(*, plural: str, group: str) -> str:
    """`deployments.apps`, `pods`: the resource name the real server puts in messages."""
    return f"{plural}.{group}" if group else plural


def _details(*, name: str, group: str, kind: str) -> dict[str, str]:
    details = {"name": name, "group": group, "kind": kind}
    return {key: value for key, value in details.items() if value}


def not_found(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(code=404, reason="NotFound",
                    message=f'{qualified_resource(plural=plural, group=group)} "{name}" not found',
                    details=_details(name=name, group=group, kind=plural))


def no_such_path() -> ApiError:
    return ApiError(code=404, reason="NotFound", message="the server could not find the requested resource",
                    details={})


def already_exists(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(code=409, reason="AlreadyExists",
                    message=f'{qualified_resource(plural=plural, group=group)} "{name}" already exists',
                    details=_details(name=name, group=group, kind=plural))


def conflict(*, plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        code=409, reason="Conflict",
        message=(f'Operation cannot be fulfilled on {qualified_resource(plural=plural, group=group)} "{name}": '
                 "the object has been modified; please apply your changes to the latest version and try again"),
        details=_details(name=name, group=group, kind=plural))


def invalid(*, kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """`causes`: (field path, message after the field, e.g. 'Invalid value: -1: must be ...')."""
    qualified_kind = f"{kind}.{group}" if group else kind
    rendered = [f"{field}: {message}" for field, message in causes]
    summary = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
    details = _details(name=name, group=group, kind=kind)
    details["causes"] = [{"reason": _cause_reason(message), "message": message, "field": field}
                         for field, message in causes]
    return ApiError(code=422, reason="Invalid", message=f'{qualified_kind} "{name}" is invalid: {summary}',
                    details=details)


def _cause_reason(message: str) -> str:
    if message.startswith("Required value"):
        return "FieldValueRequired"
    if message.startswith("Unsupported value"):
        return "FieldValueNotSupported"
    if message.startswith("Too long"):
        return "FieldValueTooLong"
    return "FieldValueInvalid"


def bad_request(message: str) -> ApiError:
    return ApiError(code=400, reason="BadRequest", message=message)


def forbidden(*, user: str, verb: str, plural: str, subresource: str, group: str, namespace: str,
              name: str) -> ApiError:
    target = qualified_resource(plural=plural, group=group)
    subject = f'{target} "{name}"' if name else target
    resource = f"{plural}/{subresource}" if subresource else plural
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return ApiError(
        code=403, reason="Forbidden",
        message=(f'{subject} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
                 f'in API group "{group}" {scope}'),
        details=_details(name=name, group=group, kind=plural))


def forbidden_path(*, user: str, verb: str, path: str) -> ApiError:
    return ApiError(code=403, reason="Forbidden",
                    message=f'forbidden: User "{user}" cannot {verb} path "{path}"', details={})


def unauthorized() -> ApiError:
    return ApiError(code=401, reason="Unauthorized", message="Unauthorized")


def method_not_allowed() -> ApiError:
    return ApiError(code=405, reason="MethodNotAllowed",
                    message="the server does not allow this method on the requested resource", details={})


def unsupported_media_type(content_type: str, accepted: tuple[str, ...]) -> ApiError:
    return ApiError(code=415, reason="UnsupportedMediaType",
                    message=f"the body of the request was in an unknown format - accepted media types include: "
                            f"{', '.join(accepted)}; got \"{content_type}\"")


def gone(*, requested: int, oldest: int) -> ApiError:
    return ApiError(code=410, reason="Expired", message=f"too old resource version: {requested} ({oldest})")


def injected(*, status: int, retry_after: int | None) -> ApiError:
    """What a fault rule answers: the body a real server (or its aggregator) sends for that code."""
    if status == 429:
        seconds = retry_after if retry_after is not None else 1
        return ApiError(code=429, reason="TooManyRequests",
                        message="Too many requests, please try again later.",
                        details={"retryAfterSeconds": seconds}, headers={"Retry-After": str(seconds)})
    if status == 503:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return ApiError(code=503, reason="ServiceUnavailable",
                        message="the server is currently unable to handle the request",
                        headers=headers)
    if status == 500:
        return ApiError(code=500, reason="InternalError",
                        message="Internal error occurred: injected fault",
                        details={"causes": [{"message": "injected fault"}]})
    if status == 409:
        return ApiError(code=409, reason="Conflict", message=(
            "Operation cannot be fulfilled: the object has been modified; "
            "please apply your changes to the latest version and try again"))
    return ApiError(code=status, reason="InternalError", message=f"injected fault (HTTP {status})")
