"""Where load_api_client takes its configuration from, and the errors when there is none."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scalerd.cli import main
from scalerd.kube.client import KubeConfigError, load_api_client, pod_namespace


def write_kubeconfig(path: Path, *, server: str, contexts: tuple[str, ...] = ("main",)) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": name, "user": {"token": f"token-of-{name}"}} for name in contexts],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": name}} for name in contexts],
    }))
    return path


def test_explicit_kubeconfig_and_context_win_over_the_environment(tmp_path):
    explicit = write_kubeconfig(tmp_path / "explicit", server="https://explicit:6443", contexts=("admin", "scalerd"))
    from_env = write_kubeconfig(tmp_path / "env", server="https://env:6443")
    client = load_api_client(kubeconfig=str(explicit), context="scalerd",
                             environ={"KUBECONFIG": str(from_env), "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert client.configuration.host == "https://explicit:6443"
    assert client.configuration.api_key == {"BearerToken": "Bearer token-of-scalerd"}


def test_kubeconfig_environment_variable_may_list_several_files(tmp_path):
    write_kubeconfig(tmp_path / "first", server="https://first:6443")
    client = load_api_client(environ={"KUBECONFIG": f"{tmp_path / 'missing'}:{tmp_path / 'first'}"})
    assert client.configuration.host == "https://first:6443"


def test_home_kubeconfig_is_the_last_resort(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    write_kubeconfig(tmp_path / ".kube" / "config", server="https://home:6443")
    assert load_api_client(environ={}).configuration.host == "https://home:6443"


def test_the_client_leaves_retrying_to_scalerd(tmp_path):
    client = load_api_client(kubeconfig=str(write_kubeconfig(tmp_path / "k", server="https://x:6443")))
    assert client.configuration.retries is False


def test_no_configuration_anywhere_names_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError) as raised:
        load_api_client(environ={})
    assert str(raised.value) == (
        f"no Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST unset) and no kubeconfig file at "
        f"{tmp_path}/.kube/config (the default); pass --kubeconfig PATH"
    )


@pytest.mark.parametrize(("kubeconfig", "environ", "message"), [
    pytest.param("{tmp}/nope", {}, "--kubeconfig {tmp}/nope: no such file: pass the path of an existing kubeconfig, "
                 "or leave --kubeconfig out to use $KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount",
                 id="flag"),
    pytest.param(None, {"KUBECONFIG": "{tmp}/a:{tmp}/b"}, "$KUBECONFIG names no existing file ({tmp}/a, {tmp}/b): "
                 "set it to an existing kubeconfig, or pass --kubeconfig PATH", id="environment-variable"),
])
def test_a_missing_kubeconfig_someone_named_says_what_to_change(tmp_path, kubeconfig, environ, message):
    with pytest.raises(KubeConfigError) as raised:
        load_api_client(kubeconfig=kubeconfig and kubeconfig.format(tmp=tmp_path),
                        environ={key: value.format(tmp=tmp_path) for key, value in environ.items()})
    assert str(raised.value) == message.format(tmp=tmp_path)


def test_once_with_a_missing_kubeconfig_names_the_flag_once(tmp_path, capsys):
    config = tmp_path / "scalerd.yaml"
    config.write_text("apiVersion: scalerd/v1\ntargets:\n  - {name: a, deployment: a, minReplicas: 1, maxReplicas: 2,"
                      " schedule: [{time: '00:00', replicas: 1}]}\n")
    code = main(["once", "--config", str(config), "--kubeconfig", str(tmp_path / "missing")])
    assert (code, capsys.readouterr().err) == (1, (
        f"error: --kubeconfig {tmp_path}/missing: no such file: pass the path of an existing kubeconfig, or leave "
        "--kubeconfig out to use $KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount\n"))


def test_unknown_context_is_named(tmp_path):
    path = write_kubeconfig(tmp_path / "k", server="https://x:6443")
    with pytest.raises(KubeConfigError, match=r"context 'nosuch'") as raised:
        load_api_client(kubeconfig=str(path), context="nosuch")
    assert "token-of" not in str(raised.value)


def test_unreadable_kubeconfig_is_named(tmp_path):
    path = tmp_path / "broken"
    path.write_text("clusters: [unclosed\n")
    with pytest.raises(KubeConfigError, match=rf"kubeconfig {path} \(--kubeconfig\)"):
        load_api_client(kubeconfig=str(path))


def test_in_cluster_without_service_account_files_says_so(monkeypatch):
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    with pytest.raises(KubeConfigError, match="KUBERNETES_SERVICE_HOST is set but the in-cluster configuration"):
        load_api_client(environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})


@pytest.mark.parametrize(("content", "expected"), [
    pytest.param("scalerd\n", "scalerd", id="namespace"),
    pytest.param("", None, id="empty"),
    pytest.param(None, None, id="absent"),
])
def test_pod_namespace(tmp_path, content, expected):
    path = tmp_path / "namespace"
    if content is not None:
        path.write_text(content)
    assert pod_namespace(path) == expected
