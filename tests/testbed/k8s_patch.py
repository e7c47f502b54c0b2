"""The three patch types the real server accepts for built-in kinds (server-side apply is not emulated)."""
from __future__ import annotations

import copy
from typing import Any

from tests.testbed.k8s_errors import ApiError, bad_request

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
PATCH_TYPES = (MERGE, STRATEGIC, JSON_PATCH)

# Lists that strategic merge patch merges item by item, by path of field names ("*" = any list item).
# Enough for Deployments, Pods, Events and Leases; every other list is replaced whole, as in a merge patch.
_MERGE_KEYS = {
    ("metadata", "ownerReferences"): "uid",
    ("spec", "template", "spec", "containers"): "name",
    ("spec", "template", "spec", "initContainers"): "name",
    ("spec", "template", "spec", "volumes"): "name",
    ("spec", "template", "spec", "imagePullSecrets"): "name",
    ("spec", "template", "spec", "containers", "*", "env"): "name",
    ("spec", "template", "spec", "containers", "*", "ports"): "containerPort",
    ("spec", "template", "spec", "containers", "*", "volumeMounts"): "mountPath",
    ("spec", "containers"): "name",
    ("spec", "initContainers"): "name",
    ("spec", "volumes"): "name",
    ("spec", "containers", "*", "env"): "name",
    ("spec", "containers", "*", "ports"): "containerPort",
    ("status", "conditions"): "type",
}
# Primitive lists with patch strategy "merge" (union) rather than replace.
_UNION_LISTS = {("metadata", "finalizers")}


def apply_patch(original: dict[str, Any], patch_body: Any, content_type: str) -> dict[str, Any]:
    if content_type == JSON_PATCH:
        if not isinstance(patch_body, list):
            raise bad_request("json patch must be a list of operations")
        return json_patch(original, patch_body)
    if not isinstance(patch_body, dict):
        raise bad_request("patch body must be a JSON object")
    if content_type == MERGE:
        return merge_patch(original, patch_body)
    return strategic_merge_patch(original, patch_body)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any, path: tuple[str, ...] = ()) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {key: copy.deepcopy(value) for key, value in patch.items() if key != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        child_path = path + (key,)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(result.get(key), value, child_path)
        else:
            merged = strategic_merge_patch(result.get(key), value, child_path)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def _merge_key(path: tuple[str, ...]) -> str | None:
    for pattern, key in _MERGE_KEYS.items():
        if len(pattern) == len(path) and all(p in ("*", part) for p, part in zip(pattern, path, strict=True)):
            return key
    return None


def _strategic_list(current: Any, patch_items: list[Any], path: tuple[str, ...]) -> list[Any]:
    current_items = current if isinstance(current, list) else []
    if path in _UNION_LISTS:
        return list(current_items) + [item for item in patch_items if item not in current_items]
    key = _merge_key(path)
    if key is None:
        return copy.deepcopy(patch_items)
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch_items):
        return [copy.deepcopy(item) for item in patch_items if not (isinstance(item, dict) and "$patch" in item)]
    result = copy.deepcopy(current_items)
    for item in patch_items:
        if not isinstance(item, dict) or key not in item:
            raise bad_request(f"{'.'.join(path)}: map in a merge list is missing its merge key {key!r}")
        index = next((i for i, existing in enumerate(result)
                      if isinstance(existing, dict) and existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("$")})
        else:
            result[index] = strategic_merge_patch(result[index], item, path + ("*",))
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"json patch: invalid pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(document: Any, parts: list[str], path: str) -> Any:
    node = document
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _patch_failed(f"doc is missing path: {path!r}") from None
    return node


def _patch_failed(message: str) -> ApiError:
    return ApiError(code=422, reason="Invalid",
                    message=f"the server rejected our request due to an error in our request: {message}")


def _get(document: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return document
    parent = _parent(document, parts, path)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise _patch_failed(f"doc is missing path: {path!r}") from None


def _remove(document: Any, path: str) -> Any:
    parts = _pointer(path)
    parent = _parent(document, parts, path)
    try:
        return parent.pop(int(parts[-1])) if isinstance(parent, list) else parent.pop(parts[-1])
    except (KeyError, IndexError, ValueError, TypeError):
        raise _patch_failed(f"doc is missing path: {path!r}") from None


def _add(document: Any, path: str, value: Any) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(document, parts, path)
    if isinstance(parent, list):
        index = len(parent) if parts[-1] == "-" else int(parts[-1])
        if not 0 <= index <= len(parent):
            raise _patch_failed(f"index out of bounds in {path!r}")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        raise _patch_failed(f"doc is missing path: {path!r}")
    return document


def json_patch(original: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """RFC 6902."""
    document: Any = copy.deepcopy(original)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"json patch: invalid operation {operation!r}")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise bad_request(f"json patch: {op} operation without value")
        if op == "add":
            document = _add(document, path, copy.deepcopy(operation["value"]))
        elif op == "remove":
            _remove(document, path)
        elif op == "replace":
            _get(document, path)
            if _pointer(path):
                _remove(document, path)
            document = _add(document, path, copy.deepcopy(operation["value"]))
        elif op == "move":
            value = _remove(document, operation["from"])
            document = _add(document, path, value)
        elif op == "copy":
            document = _add(document, path, copy.deepcopy(_get(document, operation["from"])))
        elif op == "test":
            if _get(document, path) != operation["value"]:
                raise _patch_failed(f"testing value {path} failed")
        else:
            raise bad_request(f"json patch: unknown operation {op!r}")
    if not isinstance(document, dict):
        raise bad_request("json patch: the result is not an object")
    return document
