"""What every source that GETs JSON over HTTP shares: one `requests.Session`, credentials and TLS, and errors
that name the URL (with any user:password@ cut out) and the operating system's reason, never a secret.

The bearer token and the basic-auth password are read from their files, again whenever a file changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


class HttpError(Exception):
    """The request gave no usable answer: `why`, and the URL it was for (credentials cut out) when it got that far.

    The message never holds a credential."""

    def __init__(self, why: str, *, url: str | None = None) -> None:
        super().__init__(why if url is None else f"{url}: {why}")
        self.why = why
        self.url = url


class SecretFile:
    """A file holding one secret, re-read only when its modification time or size changes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._stamp: tuple[int, int] | None = None
        self._secret = ""

    def read(self) -> str:
        try:
            status = os.stat(self._path)
            stamp = (status.st_mtime_ns, status.st_size)
            if stamp != self._stamp:
                with open(self._path, encoding="utf-8") as file:
                    self._secret = file.read().strip()
                self._stamp = stamp
        except OSError as error:
            raise HttpError(f"cannot read {self._path}: {error.strerror}") from None
        return self._secret


@dataclass(frozen=True)
class Credentials:
    """How requests authenticate and check the server: the configuration's fields, as for prometheus."""

    bearer_token_file: str | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    username: str | None = None
    password_file: str | None = None


class HttpClient:
    """GETs through one session with `pool_size` connections per host, authenticated as `credentials` say."""

    def __init__(self, credentials: Credentials, *, pool_size: int, session: requests.Session | None = None) -> None:
        self._credentials = credentials
        self._session = session or requests.Session()
        self._session.mount("http://", HTTPAdapter(pool_maxsize=pool_size))
        self._session.mount("https://", HTTPAdapter(pool_maxsize=pool_size))
        self._token = SecretFile(credentials.bearer_token_file) if credentials.bearer_token_file else None
        self._password = SecretFile(credentials.password_file) if credentials.password_file else None

    def get(self, url: str, *, timeout: float, params: dict[str, str] | None = None) -> requests.Response:
        """The answer, whatever its status; HttpError when none came within `timeout` seconds or no connection."""
        try:
            return self._session.get(
                url, params=params, headers=self._auth_headers(), auth=self._basic_auth(), timeout=timeout,
                verify=self._verify(),
            )
        except requests.Timeout:
            raise HttpError(f"no answer within {timeout:g}s", url=without_credentials(url)) from None
        except requests.RequestException as error:
            raise HttpError(f"cannot connect: {_root_cause(error)}", url=without_credentials(url)) from None

    def close(self) -> None:
        self._session.close()

    def _auth_headers(self) -> dict[str, str]:
        if self._token is None:
            return {}
        return {"Authorization": f"Bearer {self._token.read()}"}

    def _basic_auth(self) -> tuple[str, str] | None:
        if self._credentials.username is None:
            return None
        return (self._credentials.username, self._password.read() if self._password else "")

    def _verify(self) -> bool | str:
        if self._credentials.ca_file:
            return self._credentials.ca_file
        return not self._credentials.insecure_skip_verify


def without_credentials(url: str) -> str:
    """The URL as error messages show it: credentials written into it (user:password@host) are cut out."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _root_cause(error: BaseException) -> str:
    """The innermost operating-system reason ("Connection refused") inside requests' and urllib3's wrappers."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)
    return type(error).__name__
