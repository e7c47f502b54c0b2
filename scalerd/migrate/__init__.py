"""`scalerd import`: HorizontalPodAutoscalers and KEDA ScaledObjects as one scalerd/v1 file.

`translate` turns objects into targets and everything that has no scalerd counterpart into `Unmapped` lines;
`render` writes the file, each target under comments naming its object, what was not mapped and what to check.
Each target is checked with the configuration loader before it is written: the file always validates.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from scalerd.config import ConfigError, load_config_text
from scalerd.config.model import API_VERSION, POLICY_API_VERSION, POLICY_KIND
from scalerd.migrate import hpa, keda
from scalerd.migrate.draft import Draft, ObjectRef, Unmapped

__all__ = ["ImportResult", "ObjectRef", "Unmapped", "objects_in", "render", "translate"]

_TRANSLATORS = {
    (hpa.KIND, api_version): hpa.translate for api_version in hpa.API_VERSIONS
} | {(keda.KIND, api_version): keda.translate for api_version in keda.API_VERSIONS}
LIST_KINDS = ("List", "HorizontalPodAutoscalerList", "ScaledObjectList")


@dataclass(frozen=True)
class ImportResult:
    drafts: tuple[Draft, ...]
    skipped: tuple[str, ...]
    """Documents that are neither kind, one line each: `SOURCE: documents[i]: why`."""

    @property
    def targets(self) -> list[Draft]:
        return [draft for draft in self.drafts if draft.left_out is None]

    @property
    def unmapped(self) -> list[Unmapped]:
        return [line for draft in self.drafts for line in draft.unmapped]


def objects_in(documents: Iterable[object], *, source: str, namespace: str) -> tuple[list[tuple[dict, ObjectRef]], list[str]]:
    """The HPAs and ScaledObjects among YAML documents (List items too), with their identity; and what was skipped.

    `namespace` is given to objects that name none, as kubectl does with `-n`.
    """
    found: list[tuple[dict, ObjectRef]] = []
    skipped: list[str] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        items = [document]
        if isinstance(document, dict) and document.get("kind") in LIST_KINDS:
            items = document.get("items") or []
        for item in items:
            if not isinstance(item, dict):
                skipped.append(f"{source}: documents[{index}]: not a Kubernetes object")
                continue
            metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            kind, api_version = item.get("kind"), item.get("apiVersion")
            identity = f"{kind} {metadata.get('namespace') or namespace}/{metadata.get('name')}"
            if kind not in (hpa.KIND, keda.KIND):
                skipped.append(f"{source}: documents[{index}]: {identity}: skipped: not a {hpa.KIND} or {keda.KIND}")
            elif (kind, api_version) not in _TRANSLATORS:
                wanted = ", ".join(hpa.API_VERSIONS if kind == hpa.KIND else keda.API_VERSIONS)
                skipped.append(f"{source}: documents[{index}]: {identity}: skipped: apiVersion {api_version} "
                               f"(scalerd reads {wanted})")
            elif not isinstance(metadata.get("name"), str) or not metadata["name"]:
                skipped.append(f"{source}: documents[{index}]: {kind} without metadata.name: skipped")
            else:
                found.append((item, ObjectRef(kind=kind, namespace=metadata.get("namespace") or namespace,
                                              name=metadata["name"], source=source)))
    return found, skipped


def translate(objects: Iterable[tuple[dict, ObjectRef]], *, skipped: Iterable[str] = ()) -> ImportResult:
    drafts: list[Draft] = []
    names: set[str] = set()
    deployments: dict[tuple[str, str], ObjectRef] = {}
    for document, obj in objects:
        draft = _TRANSLATORS[(obj.kind, document.get("apiVersion"))](document, obj)
        drafts.append(draft)
        if draft.left_out is not None:
            continue
        target = draft.target = _canonical(draft.target)
        if not target.get("metrics") and not target.get("schedule"):
            draft.leave_out("spec.triggers" if obj.kind == keda.KIND else "spec.metrics",
                            "no metric or schedule scalerd can read: nothing to scale on")
            continue
        key = (target["namespace"], target["deployment"])
        if key in deployments:
            draft.leave_out("spec.scaleTargetRef", f"Deployment {key[0]}/{key[1]} is already scaled by "
                                                   f"{deployments[key]}; two targets would fight over it")
            continue
        if target["name"] in names:
            target["name"] = f"{target['name']}-{target['namespace']}"[:63].strip("-")
        problems = _loader_problems(target)
        if problems:
            for problem in problems:
                draft.cannot_map("spec", f"the translation is not a valid target: {problem}")
            draft.left_out = "the translation is not a valid target"
            continue
        names.add(target["name"])
        deployments[key] = obj
    return ImportResult(drafts=tuple(drafts), skipped=tuple(skipped))


def render(result: ImportResult) -> str:
    """The scalerd/v1 file: every target under comments naming its object, then the objects left out."""
    lines = [
        "# Made by `scalerd import`. Check every target against what its object did before scalerd scales it:",
        "# the lines 'not mapped' name what has no scalerd counterpart (also printed on stderr).",
        f"apiVersion: {API_VERSION}",
        "targets:",
    ]
    for draft in result.targets:
        lines.append(f"  # from {draft.obj} ({draft.obj.source})")
        lines.extend(f"  # not mapped: {line.path}: {line.why}" for line in draft.unmapped)
        lines.extend(f"  # check: {note}" for note in draft.notes)
        lines.extend(_indented(yaml.safe_dump([draft.target], sort_keys=False, default_flow_style=False,
                                              allow_unicode=True, width=120)))
    left_out = [draft for draft in result.drafts if draft.left_out is not None]
    if left_out:
        lines.append("# Left out (no target):")
        for draft in left_out:
            lines.append(f"#   {draft.obj} ({draft.obj.source}): {draft.left_out}")
    return "\n".join(lines) + "\n"


def render_policies(result: ImportResult) -> str:
    """The same targets as AutoScalerPolicy objects (`--as-policies`), one document each, named and placed as its
    target; the comments are `render`'s."""
    documents = []
    for draft in result.targets:
        target = dict(draft.target)
        name, namespace = target.pop("name"), target.pop("namespace")
        if target.get("deployment") == name:
            del target["deployment"]  # a policy's deployment defaults to its name
        lines = [f"# from {draft.obj} ({draft.obj.source})"]
        lines += [f"# not mapped: {line.path}: {line.why}" for line in draft.unmapped]
        lines += [f"# check: {note}" for note in draft.notes]
        policy = {"apiVersion": POLICY_API_VERSION, "kind": POLICY_KIND,
                  "metadata": {"name": name, "namespace": namespace}, "spec": target}
        lines.append(yaml.safe_dump(policy, sort_keys=False, default_flow_style=False, allow_unicode=True,
                                    width=120).rstrip("\n"))
        documents.append("\n".join(lines))
    left_out = [f"#   {draft.obj} ({draft.obj.source}): {draft.left_out}"
                for draft in result.drafts if draft.left_out is not None]
    if left_out:
        documents.append("\n".join(["# Left out (no policy):", *left_out]))
    header = ("# Made by `scalerd import --as-policies`: apply with kubectl once the CRD of manifests/crd/ is installed;\n"
              "# check every policy against what its object did before scalerd scales it.\n")
    return header + "\n---\n".join(documents) + "\n"


def _indented(text: str) -> list[str]:
    return [f"  {line}" for line in text.splitlines()]


_TARGET_ORDER = ("name", "namespace", "deployment", "minReplicas", "maxReplicas", "paused", "timezone", "metrics",
                 "schedule", "behavior", "fallback")


def _canonical(target: dict[str, Any]) -> dict[str, Any]:
    """The fields in the contract's order, empty lists left out."""
    return {key: target[key] for key in _TARGET_ORDER if key in target and target[key] != []}


def _loader_problems(target: dict[str, Any]) -> tuple[str, ...]:
    text = yaml.safe_dump({"apiVersion": API_VERSION, "targets": [target]}, sort_keys=False)
    try:
        load_config_text(text, source="import")
    except ConfigError as error:
        return tuple(problem.removeprefix("targets[0].") for problem in error.problems)
    return ()
