"""`scalerd import --from-cluster`: the HPAs and ScaledObjects of a cluster, listed through the project's client.

A cluster without KEDA answers 404 for ScaledObjects (the CRD is not installed): that is said and the HPAs are
imported all the same; a 403 likewise. HPAs that KEDA made for a ScaledObject (owned by it) are not imported:
the ScaledObject is, or is said to be unreadable.
"""
from __future__ import annotations

from kubernetes.client import ApiException

from scalerd.kube._api import api_message, call_json, ignore_request, request
from scalerd.kube.client import KubeConfigError, load_api_client
from scalerd.migrate import hpa, keda, objects_in
from scalerd.migrate.draft import ObjectRef

SOURCE = "cluster"
LIST_TIMEOUT = (5.0, 60.0)
_HPA_PATHS = ("/apis/autoscaling/v2/horizontalpodautoscalers",
              "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers")
_SCALED_OBJECT_PATHS = ("/apis/keda.sh/v1alpha1/scaledobjects",
                        "/apis/keda.sh/v1alpha1/namespaces/{namespace}/scaledobjects")


class ClusterError(Exception):
    """The cluster could not be reached or refused the HPA list; the message says which."""


def list_objects(*, kubeconfig: str | None, context: str | None,
                 namespace: str | None) -> tuple[list[tuple[dict, ObjectRef]], list[str]]:
    """(objects, notes): every HPA and ScaledObject (of `namespace`, or of all), and what could not be listed."""
    try:
        api_client = load_api_client(kubeconfig=kubeconfig, context=context)
    except KubeConfigError as error:
        raise ClusterError(str(error)) from None
    notes: list[str] = []
    try:
        hpas = _list(api_client, _HPA_PATHS, namespace=namespace, kind=hpa.KIND, api_version="autoscaling/v2")
        try:
            scaled_objects = _list(api_client, _SCALED_OBJECT_PATHS, namespace=namespace, kind=keda.KIND,
                                   api_version="keda.sh/v1alpha1")
        except ApiException as error:
            if error.status not in (403, 404):
                raise
            scaled_objects = []
            why = ("KEDA's ScaledObject CRD is not installed" if error.status == 404
                   else f"not allowed to list them ({api_message(error)})")
            notes.append(f"{SOURCE}: ScaledObjects (keda.sh/v1alpha1): {why}; importing HorizontalPodAutoscalers only")
    except ApiException as error:
        raise ClusterError(f"cannot list HorizontalPodAutoscalers: {api_message(error)}") from None
    finally:
        api_client.close()
    kept = []
    for item in hpas:
        owner = _scaled_object_owner(item)
        if owner is None:
            kept.append(item)
        else:
            metadata = item.get("metadata") or {}
            notes.append(f"{SOURCE}: {hpa.KIND} {metadata.get('namespace')}/{metadata.get('name')}: skipped: made by "
                         f"KEDA for ScaledObject {owner}, which is imported instead"
                         if scaled_objects else
                         f"{SOURCE}: {hpa.KIND} {metadata.get('namespace')}/{metadata.get('name')}: skipped: made by "
                         f"KEDA for ScaledObject {owner}, which could not be read")
    objects, skipped = objects_in([*kept, *scaled_objects], source=SOURCE, namespace=namespace or "default")
    return objects, notes + skipped


def _list(api_client, paths: tuple[str, str], *, namespace: str | None, kind: str, api_version: str) -> list[dict]:
    """Every item, each with its kind and apiVersion (a real server leaves them out of list items)."""
    path = paths[0] if namespace is None else paths[1]
    body = call_json(ignore_request, "list", request, api_client, "GET", path,
                     path_params={"namespace": namespace} if namespace else None, _request_timeout=LIST_TIMEOUT)
    return [{**item, "kind": kind, "apiVersion": api_version} for item in body.get("items") or []]


def _scaled_object_owner(item: dict) -> str | None:
    for owner in (item.get("metadata") or {}).get("ownerReferences") or []:
        if owner.get("kind") == keda.KIND and str(owner.get("apiVersion", "")).startswith("keda.sh/"):
            return owner.get("name")
    return None
