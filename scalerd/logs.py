"""Logging: structlog as JSON lines (machines) or console (humans), with secrets redacted from every line.

Every module logs through `structlog.get_logger()`; `configure_logging` installs the pipeline once per process.
Redaction has two nets, because a secret can travel under an innocent key (an error message from librdkafka
that quotes its configuration, say): a key that looks secret hides its value, and a value that contains a
registered secret string has that string masked wherever it appears, in any key, at any depth.
"""
from __future__ import annotations

import base64
import functools
import logging
import re
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import structlog

from scalerd.config.model import Config
from scalerd.metric_types.registry import METRIC_TYPES

REDACTED = "[redacted]"
SECRET_KEY = re.compile(r"token|password|passwd|sasl|secret|credential|authorization", re.IGNORECASE)
MIN_SECRET_LENGTH = 4
"""Shorter registered values are ignored: masking "ab" everywhere would shred ordinary text and hide nothing."""


class SecretRedactor:
    """A structlog processor that masks secrets by key name and by known value."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def register(self, values: Iterable[str]) -> None:
        fresh = {value.strip() for value in values if value and len(value.strip()) >= MIN_SECRET_LENGTH}
        with self._lock:
            # Longest first, so a secret that contains another is masked whole.
            self._secrets = tuple(sorted(set(self._secrets) | fresh, key=len, reverse=True))

    def __call__(self, _logger: Any, _method_name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        return {key: self._redact_item(key, value) for key, value in event_dict.items()}

    def _redact_item(self, key: Any, value: Any) -> Any:
        if isinstance(key, str) and _secret_key(key) and value not in (None, "", False):
            return REDACTED
        return self._redact_value(value)

    def _redact_value(self, value: Any) -> Any:
        if value is None or type(value) in _PLAIN_TYPES:  # most of a decision line: nothing to look into
            return value
        if isinstance(value, str):
            return self._mask(value)
        if isinstance(value, dict):
            return {key: self._redact_item(key, item) for key, item in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self._redact_value(item) for item in value]
        if isinstance(value, BaseException):
            return self._mask(f"{type(value).__name__}: {value}")
        return value

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


_PLAIN_TYPES = (bool, int, float)


@functools.lru_cache(maxsize=4096)
def _secret_key(key: str) -> bool:
    """Remembered: a daemon logs the same few dozen keys on every line."""
    return SECRET_KEY.search(key) is not None


REDACTOR = SecretRedactor()
"""The process's one redactor: structlog's configuration is process-wide, so its secret list is too."""


class _StdlibBridge(logging.Handler):
    """Hands records of the standard `logging` module (librdkafka's lines, the kubernetes client's and urllib3's
    warnings) to the structlog pipeline, so that they too come out as JSON and pass the redactor; without it they
    would reach stderr raw through logging's last-resort handler."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            structlog.get_logger().log(
                record.levelno, record.getMessage(), logger=record.name, exc_info=record.exc_info or None,
            )
        except Exception:  # noqa: BLE001 - a log line must never raise into the code that logged it
            self.handleError(record)


_STDLIB_BRIDGE = _StdlibBridge(level=logging.WARNING)


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written, not when logging was configured: a caller that swaps
    stderr for a while (a test capturing output, a supervisor) must not leave the logger writing to a closed file."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, log_format: str, stream: TextIO | None = None) -> None:
    """Install the structlog pipeline: `json` (one object per line) or `console` (aligned, for humans).

    Standard-library log records of level WARNING and above go through the same pipeline.
    """
    renderer = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _CurrentStderr()),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    if _STDLIB_BRIDGE not in root.handlers:
        root.addHandler(_STDLIB_BRIDGE)


def config_secrets(config: Config) -> set[str]:
    """The secret strings a configuration carries or points to: SASL/TLS settings and credential files' contents."""
    secrets: set[str] = set()
    secrets.update(
        str(value) for key, value in config.defaults.kafka.config.items()
        if SECRET_KEY.search(key) or ".key" in key
    )
    prometheus = config.defaults.prometheus
    secret_files = [prometheus.bearer_token_file, prometheus.password_file]
    secret_files.extend(
        path for target in config.targets for metric in target.metrics
        for path in METRIC_TYPES[metric.type].secret_files(metric)
    )
    for secret_file in secret_files:
        if secret_file:
            secrets.update(_file_secret(secret_file))
    if prometheus.username is not None and prometheus.password_file:
        # The Authorization header carries base64(username:password), which an error quoting it would show.
        for password in _file_secret(prometheus.password_file):
            secrets.add(base64.b64encode(f"{prometheus.username}:{password}".encode()).decode())
    return secrets


def _file_secret(path: str) -> set[str]:
    try:
        content = Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return set()
    return {content} if content else set()
