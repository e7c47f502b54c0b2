"""RBAC decisions from Role/ClusterRole and (Cluster)RoleBinding objects: the stored ones, as the real RBAC
authorizer reads them through its informers (plugin/pkg/auth/authorizer/rbac)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}


@dataclass(frozen=True)
class Rule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    resource_names: frozenset[str]

    def allows(self, *, verb: str, group: str, resource: str, name: str) -> bool:
        return (_matches(self.verbs, verb) and _matches(self.api_groups, group)
                and _resource_matches(self.resources, resource)
                and (not self.resource_names or name in self.resource_names))


def _matches(allowed: frozenset[str], value: str) -> bool:
    return "*" in allowed or value in allowed


def _resource_matches(allowed: frozenset[str], resource: str) -> bool:
    """`*` grants every resource and subresource; `*/scale` every resource's scale."""
    if "*" in allowed or resource in allowed:
        return True
    return "/" in resource and f"*/{resource.split('/', 1)[1]}" in allowed


@dataclass(frozen=True)
class _Grant:
    namespace: str | None  # None: every namespace and the cluster scope (a ClusterRoleBinding)
    rules: tuple[Rule, ...]


class Authorizer:
    """Decides for non-admin users; only User and ServiceAccount subjects are honoured."""

    def __init__(self, documents: Iterable[dict[str, Any]]):
        documents = [doc for doc in documents if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS]
        roles = {(doc["kind"], (doc.get("metadata") or {}).get("namespace"), doc["metadata"]["name"]):
                 tuple(_rule(raw) for raw in doc.get("rules") or [])
                 for doc in documents if doc["kind"] in ("Role", "ClusterRole")}
        self._grants: dict[str, list[_Grant]] = {}
        for doc in documents:
            if doc["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            binding_namespace = (doc.get("metadata") or {}).get("namespace")
            ref = doc["roleRef"]
            role_namespace = binding_namespace if ref["kind"] == "Role" else None
            rules = roles.get((ref["kind"], role_namespace, ref["name"]), ())
            scope = binding_namespace if doc["kind"] == "RoleBinding" else None
            for subject in doc.get("subjects") or []:
                user = _subject_user(subject, binding_namespace)
                if user:
                    self._grants.setdefault(user, []).append(_Grant(namespace=scope, rules=rules))

    def allows(self, *, user: str, verb: str, group: str, resource: str, namespace: str, name: str) -> bool:
        for grant in self._grants.get(user, ()):
            if grant.namespace is not None and grant.namespace != namespace:
                continue
            if any(rule.allows(verb=verb, group=group, resource=resource, name=name) for rule in grant.rules):
                return True
        return False


def rbac_documents(directory: Path) -> list[dict[str, Any]]:
    """The RBAC objects of every `*.yaml` of a manifests directory; other kinds are left out."""
    documents: list[dict[str, Any]] = []
    for path in sorted(Path(directory).glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text())
                         if isinstance(doc, dict) and doc.get("kind") in RBAC_KINDS)
    return documents


def _rule(raw: dict[str, Any]) -> Rule:
    return Rule(api_groups=frozenset(raw.get("apiGroups") or []), resources=frozenset(raw.get("resources") or []),
                verbs=frozenset(raw.get("verbs") or []), resource_names=frozenset(raw.get("resourceNames") or []))


def _subject_user(subject: dict[str, Any], binding_namespace: str | None) -> str | None:
    if subject.get("kind") == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return f"system:serviceaccount:{namespace}:{subject['name']}"
    if subject.get("kind") == "User":
        return subject["name"]
    return None
