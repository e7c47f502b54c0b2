"""Log lines: JSON or console, and no secret ever in one, whatever key or nesting carries it."""
from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from scalerd.config.model import Config, Defaults, KafkaSettings, PrometheusSettings, Target
from scalerd.logs import (
    REDACTED,
    REDACTOR,
    SecretRedactor,
    config_secrets,
    configure_logging,
)

PLANTED = "s3cr3t-Pl4nted-V4lue"


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    yield stream
    configure_logging(log_format="console")


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_format_writes_one_object_per_line_with_event_level_and_fields(log_stream):
    structlog.get_logger().info("decision", target="orders", current=2, desired=4)

    [line] = _lines(log_stream)
    assert line["event"] == "decision"
    assert line["level"] == "info"
    assert (line["target"], line["current"], line["desired"]) == ("orders", 2, 4)
    assert line["timestamp"].endswith("Z")


def test_console_format_is_plain_text_naming_the_event_and_fields():
    stream = io.StringIO()
    configure_logging(log_format="console", stream=stream)
    structlog.get_logger().info("decision", target="orders")

    text = stream.getvalue()
    assert "decision" in text and "target=orders" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("token", id="token"),
        pytest.param("bearer_token", id="bearer-token"),
        pytest.param("password", id="password"),
        pytest.param("sasl.password", id="sasl-password"),
        pytest.param("sasl_username", id="sasl-setting"),
        pytest.param("client_secret", id="secret"),
        pytest.param("Authorization", id="authorization-header"),
    ],
)
def test_a_secret_looking_key_hides_its_value(log_stream, key):
    structlog.get_logger().info("connect", **{key: "visible-if-broken"})

    [line] = _lines(log_stream)
    assert line[key] == REDACTED
    assert "visible-if-broken" not in log_stream.getvalue()


def test_a_registered_secret_is_masked_inside_any_value_at_any_depth(log_stream):
    redactor_of_this_test = SecretRedactor()
    redactor_of_this_test.register([PLANTED])
    logged = redactor_of_this_test(None, "info", {
        "event": "kafka_error",
        "error": f"Authentication failed for sasl.password={PLANTED}",
        "metrics": [{"name": "lag", "error": f"broker said {PLANTED}"}],
        "settings": {"nested": (PLANTED, 3)},
    })

    assert PLANTED not in json.dumps(logged)
    assert logged["error"] == f"Authentication failed for sasl.password={REDACTED}"
    assert logged["metrics"][0]["error"] == f"broker said {REDACTED}"
    assert logged["settings"]["nested"] == [REDACTED, 3]


def test_the_process_redactor_masks_a_planted_secret_in_an_exception(log_stream):
    from scalerd.logs import REDACTOR

    REDACTOR.register([PLANTED])
    try:
        raise RuntimeError(f"token rejected: {PLANTED}")
    except RuntimeError:
        structlog.get_logger().exception("request_failed")

    assert PLANTED not in log_stream.getvalue()
    assert "token rejected" in log_stream.getvalue()


def test_values_shorter_than_four_characters_are_not_registered():
    redactor = SecretRedactor()
    redactor.register(["abc", ""])

    assert redactor(None, "info", {"event": "abc def"}) == {"event": "abc def"}


def test_a_secret_containing_another_is_masked_whole():
    redactor = SecretRedactor()
    redactor.register(["pass", "password-long-one"])

    assert redactor(None, "info", {"event": "x password-long-one y"}) == {"event": f"x {REDACTED} y"}


@given(secret=st.text(min_size=4, max_size=30).filter(lambda s: s.strip() == s),
       prefix=st.text(max_size=20), suffix=st.text(max_size=20))
def test_a_registered_secret_never_survives_in_a_string(secret, prefix, suffix):
    redactor = SecretRedactor()
    redactor.register([secret])

    logged = redactor(None, "info", {"event": "e", "detail": prefix + secret + suffix})

    assert secret not in logged["detail"].replace(REDACTED, "\0")


def test_config_secrets_are_sasl_and_tls_settings_and_credential_file_contents(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("bearer-file-content\n")
    password_file = tmp_path / "password"
    password_file.write_text("basic-auth-password")
    config = Config(
        defaults=Defaults(
            prometheus=PrometheusSettings(bearer_token_file=str(token_file), password_file=str(password_file)),
            kafka=KafkaSettings(config={
                "sasl.username": "orders-user", "sasl.password": "kafka-pass", "ssl.key.pem": "PEM-BODY",
                "security.protocol": "SASL_SSL",
            }),
        ),
        targets=(Target(name="t", namespace="ns", deployment="d", min_replicas=1, max_replicas=2, timezone="UTC"),),
    )

    assert config_secrets(config) == {
        "bearer-file-content", "basic-auth-password", "orders-user", "kafka-pass", "PEM-BODY",
    }


def test_basic_auth_credentials_are_also_masked_in_their_authorization_header_form(tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("basic-auth-password\n")
    config = Config(
        defaults=Defaults(prometheus=PrometheusSettings(username="scalerd", password_file=str(password_file))),
        targets=(),
    )

    # base64("scalerd:basic-auth-password"), as requests sends it after "Basic ".
    assert config_secrets(config) == {"basic-auth-password", "c2NhbGVyZDpiYXNpYy1hdXRoLXBhc3N3b3Jk"}


def test_a_missing_credential_file_gives_no_secret_and_no_error(tmp_path):
    config = Config(
        defaults=Defaults(prometheus=PrometheusSettings(bearer_token_file=str(tmp_path / "absent"))),
        targets=(),
    )

    assert config_secrets(config) == set()


def test_standard_library_records_come_out_as_redacted_json(log_stream, monkeypatch):
    # `scalerd metrics` mutes this logger for its own run; an earlier in-process run must not hide it here.
    monkeypatch.setattr(logging.getLogger("scalerd.kafka.librdkafka"), "level", logging.NOTSET)
    redactor_secret = "Br1dged-" + PLANTED
    REDACTOR.register([redactor_secret])
    logging.getLogger("scalerd.kafka.librdkafka").error("FAIL [rdkafka#producer-1]: auth with %s failed", redactor_secret)
    logging.getLogger("urllib3").info("below WARNING: not shown")

    [line] = _lines(log_stream)
    assert line["event"] == f"FAIL [rdkafka#producer-1]: auth with {REDACTED} failed"
    assert (line["level"], line["logger"]) == ("error", "scalerd.kafka.librdkafka")


def test_the_standard_library_bridge_is_installed_once():
    configure_logging(log_format="console")
    configure_logging(log_format="json")
    bridges = [handler for handler in logging.getLogger().handlers if type(handler).__name__ == "_StdlibBridge"]
    assert len(bridges) == 1


def test_lines_go_to_the_stderr_of_the_moment_not_the_one_at_configuration(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(log_format="json")
    structlog.get_logger().info("before_swap")
    monkeypatch.setattr(sys, "stderr", second)
    first.close()  # as pytest's capture does when a test ends: the logger must not keep writing there
    structlog.get_logger().info("after_swap")
    assert json.loads(second.getvalue())["event"] == "after_swap"
