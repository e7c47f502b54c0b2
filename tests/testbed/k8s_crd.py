"""CustomResourceDefinitions (apiextensions.k8s.io/v1): the kinds they register and what the real
apiextensions-apiserver does with their objects — pruning and strict decoding against the structural schema,
OpenAPI schema validation with its field paths and wording, and the Table of `additionalPrinterColumns`.

Sources (kubernetes/kubernetes, staging/src/k8s.io/apiextensions-apiserver): pkg/registry/customresource/
strategy.go (create drops status and sets generation 1; an update keeps the old status when the status
subresource exists and bumps the generation on any change outside metadata), status_strategy.go (a /status write
keeps everything but status), tableconvertor/tableconvertor.go (Name first, then one cell per column from its
JSONPath; `date` cells as a human age; a missing value is an empty cell), pkg/apiserver/schema/pruning (unknown
fields dropped, or refused by fieldValidation=Strict), pkg/apiserver/validation (type, enum, required, minimum
errors worded by kube-openapi's validate package).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.testbed import k8s_resources as res

_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_INT_OR_STRING = "x-kubernetes-int-or-string"
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class CustomKind:
    """What one served version of a CRD says about its objects."""
    schema: Mapping[str, Any]
    columns: tuple[Mapping[str, Any], ...]
    status_subresource: bool
    categories: tuple[str, ...]


def served_resources(definition: Mapping[str, Any]) -> list[res.ResourceType]:
    """One ResourceType per served version of an established CRD."""
    spec = definition.get("spec") or {}
    names = spec.get("names") or {}
    resources = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        subresources = version.get("subresources") or {}
        kind = CustomKind(schema=(version.get("schema") or {}).get("openAPIV3Schema") or {},
                          columns=tuple(version.get("additionalPrinterColumns") or ()),
                          status_subresource="status" in subresources,
                          categories=tuple(names.get("categories") or ()))
        resources.append(res.ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"],
            singular=names.get("singular") or names["kind"].lower(), kind=names["kind"],
            namespaced=spec.get("scope") == "Namespaced", short_names=tuple(names.get("shortNames") or ()),
            subresources=(res.Subresource("status", names["kind"], "", ""),) if kind.status_subresource else (),
            stored_as=f"{spec['group']}/{names['plural']}", custom=kind))
    return resources


def definition_causes(definition: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The checks of pkg/apis/apiextensions/validation/validation.go a hand-written CRD is likely to break."""
    spec = definition.get("spec") or {}
    names = spec.get("names") or {}
    causes = []
    name = (definition.get("metadata") or {}).get("name", "")
    if name != f"{names.get('plural', '')}.{spec.get('group', '')}":
        causes.append(("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append((f"spec.names.{field}", "Required value"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(("spec.scope", f'Unsupported value: "{spec.get("scope", "")}": supported values: '
                                     '"Cluster", "Namespaced"'))
    versions = spec.get("versions") or []
    if not versions:
        causes.append(("spec.versions", "Invalid value: null: must have exactly one version marked as storage "
                                        "version"))
    for index, version in enumerate(versions):
        if not ((version.get("schema") or {}).get("openAPIV3Schema") or {}).get("type"):
            causes.append((f"spec.versions[{index}].schema.openAPIV3Schema.type",
                           "Required value: must not be empty at the root"))
    return causes


def established_status(definition: Mapping[str, Any], now: str) -> dict[str, Any]:
    """What the CRD controllers write at once on a real server: names accepted, established."""
    names = dict((definition.get("spec") or {}).get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    return {"acceptedNames": names, "storedVersions": [version["name"] for version in
                                                        (definition.get("spec") or {}).get("versions") or []
                                                        if version.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now}]}


# -- pruning and strict decoding (pkg/apiserver/schema/pruning) -------------------------------------------------

def _preserves(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get(_PRESERVE)) or (schema.get("type") == "object" and "properties" not in schema
                                           and "additionalProperties" not in schema and _PRESERVE in schema)


def _children(schema: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """The schema of an object's field, or None when the field is unknown there."""
    properties = schema.get("properties")
    if properties is not None and key in properties:
        return properties[key]
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        return additional
    if additional is True or _preserves(schema):
        return {_PRESERVE: True}
    return None


def unknown_fields(obj: Any, schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths the structural schema does not declare (metadata, apiVersion and kind are the server's)."""
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [path for index, item in enumerate(obj)
                for path in unknown_fields(item, schema["items"], f"{prefix}[{index}]")]
    if not isinstance(obj, dict) or schema.get(_PRESERVE):
        return []
    found = []
    for key, value in obj.items():
        if not prefix and key in _ROOT_FIELDS:
            continue
        path = f"{prefix}.{key}" if prefix else key
        child = _children(schema, key)
        if child is None:
            found.append(path)
        else:
            found.extend(unknown_fields(value, child, path))
    return found


def prune(obj: Any, schema: Mapping[str, Any], *, root: bool = True) -> Any:
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [prune(item, schema["items"], root=False) for item in obj]
    if not isinstance(obj, dict) or schema.get(_PRESERVE):
        return obj
    kept = {}
    for key, value in obj.items():
        if root and key in _ROOT_FIELDS:
            kept[key] = value
            continue
        child = _children(schema, key)
        if child is not None:
            kept[key] = prune(value, child, root=False)
    return kept


# -- validation (pkg/apiserver/validation: kube-openapi validate errors as field errors) --------------------------

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), "object")


def _type_matches(value: Any, wanted: str) -> bool:
    actual = _json_type(value)
    return actual == wanted or (wanted == "number" and actual == "integer") \
        or (wanted == "integer" and isinstance(value, float) and value.is_integer())


def _go_value(value: Any) -> str:
    """How field.Invalid prints a value (%#v of the decoded JSON)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def validation_causes(obj: Any, schema: Mapping[str, Any], path: str = "") -> list[tuple[str, str]]:
    """(field path, message) per violation, in the order the real validator reports them."""
    if obj is None and schema.get("nullable"):
        return []
    wanted = schema.get("type")
    if schema.get(_INT_OR_STRING):
        if not isinstance(obj, (int, str)) or isinstance(obj, bool):
            return [(path, f'Invalid value: "{_json_type(obj)}": {path} in body must be of type integer,string: '
                           f'"{_json_type(obj)}"')]
    elif wanted and not _type_matches(obj, wanted):
        actual = _json_type(obj)
        return [(path, f'Invalid value: "{actual}": {path} in body must be of type {wanted}: "{actual}"')]
    causes: list[tuple[str, str]] = []
    enum = schema.get("enum")
    if enum is not None and obj not in enum:
        supported = ", ".join(_go_value(value) for value in enum)
        causes.append((path, f"Unsupported value: {_go_value(obj)}: supported values: {supported}"))
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        if "minimum" in schema and obj < schema["minimum"]:
            causes.append((path, f"Invalid value: {_go_value(obj)}: {path} in body should be greater than or "
                                 f"equal to {_go_value(schema['minimum'])}"))
        if "maximum" in schema and obj > schema["maximum"]:
            causes.append((path, f"Invalid value: {_go_value(obj)}: {path} in body should be less than or "
                                 f"equal to {_go_value(schema['maximum'])}"))
    if isinstance(obj, str):
        if "minLength" in schema and len(obj) < schema["minLength"]:
            causes.append((path, f'Invalid value: "{obj}": {path} in body should be at least '
                                 f'{schema["minLength"]} chars long'))
        if "pattern" in schema and not re.search(schema["pattern"], obj):
            causes.append((path, f'Invalid value: "{obj}": {path} in body should match \'{schema["pattern"]}\''))
    if isinstance(obj, list):
        if "minItems" in schema and len(obj) < schema["minItems"]:
            causes.append((path, f"Invalid value: {len(obj)}: {path} in body should have at least "
                                 f"{schema['minItems']} items"))
        if isinstance(schema.get("items"), Mapping):
            for index, item in enumerate(obj):
                causes.extend(validation_causes(item, schema["items"], f"{path}[{index}]"))
    if isinstance(obj, dict):
        for required in schema.get("required") or []:
            if required not in obj:
                causes.append((f"{path}.{required}" if path else required, "Required value"))
        for key, value in obj.items():
            if not path and key in _ROOT_FIELDS:
                continue
            child = _children(schema, key)
            if child is not None:
                causes.extend(validation_causes(value, child, f"{path}.{key}" if path else key))
    return causes


# -- printer columns (tableconvertor.go) -------------------------------------------------------------------------

_DEFAULT_COLUMNS = ({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},)
_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")


def _columns(kind: CustomKind) -> tuple[Mapping[str, Any], ...]:
    """apiextensions defaults an empty column list to Age (apis/apiextensions/v1/defaults.go)."""
    return kind.columns or _DEFAULT_COLUMNS


def table_columns(kind: CustomKind) -> list[dict[str, Any]]:
    columns = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                "description": "Name must be unique within a namespace."}]
    for column in _columns(kind):
        columns.append({"name": column["name"], "type": column.get("type", "string"),
                        "format": column.get("format", ""), "priority": column.get("priority", 0),
                        "description": column.get("description") or
                        f"Custom resource definition column (in JSONPath format): {column['jsonPath']}"})
    return columns


def _find(obj: Any, json_path: str) -> tuple[bool, Any]:
    """Simple JSONPath (`.a.b`, `.a[0].b`), the only kind a CRD's columns may use; missing keys allowed."""
    value = obj
    for step in _STEP.finditer(json_path):
        key, index = step.group(1), step.group(2)
        if key is not None and isinstance(value, dict) and key in value:
            value = value[key]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return False, None
    return True, value


def _cell(column_type: str, value: Any, *, age: Any) -> Any:
    if value is None:
        return None
    if column_type == "string":
        # jsonpath's PrintResults: strings as they are, anything else in its text form
        return value if isinstance(value, str) else _go_value(value)
    if column_type == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if column_type == "number":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date":
        return age(value) if isinstance(value, str) else None
    return None


def table_cells(kind: CustomKind, obj: Mapping[str, Any], *, human_age) -> list[Any]:
    """`human_age(rfc3339)`: metatable.ConvertToHumanReadableDateType, `<invalid>` for a bad time."""
    cells: list[Any] = [(obj.get("metadata") or {}).get("name", "")]
    for column in _columns(kind):
        found, value = _find(obj, column["jsonPath"])
        cells.append(_cell(column.get("type", "string"), value, age=human_age) if found else None)
    return cells

