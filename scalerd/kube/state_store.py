"""scalerd's memory in the cluster: one record per managed Deployment, in ConfigMaps of scalerd's own namespace.

Design (docs/RELIABILITY.md, "Where the history lives"):

- A record (`scalerd.writeahead.TargetRecord`, JSON of at most `MAX_RECORD_BYTES`) lives under the data key
  `<namespace>.<deployment>` (a namespace holds no dot, so the key is unambiguous) of the ConfigMap
  `<prefix>-state-<NN>`, NN = CRC-32 of `<namespace>/<deployment>` modulo `SHARDS`: stable across restarts,
  configuration changes and versions. 5,000 targets make about 78 records per ConfigMap, < 320 KiB even when
  every record is at its bound (typical records are 150–400 bytes: < 32 KiB), far from the 1 MiB limit of a
  ConfigMap's data. Only the ConfigMaps that hold a record exist.
- Read once: `load()` lists the ConfigMaps labelled `scalerd.io/store=<prefix>` (one request) when this process
  starts to lead, and again only after one of its writes met a conflict. From then on the store answers from
  memory: a steady cycle sends no request.
- Every write replaces a whole ConfigMap conditionally: a create is refused (409) if it exists, an update (409)
  unless the ConfigMap is still at the resourceVersion this process last read or wrote. A deposed leader, or a
  `scalerd once` racing the daemon, therefore never overwrites a newer record; the loser is told `conflict`,
  and the store counts as stale until it is loaded again.
- Writes are batched per ConfigMap: records put by several targets at once go out in one request (whoever
  writes first carries the others'), and outcomes are `stage`d, to travel with the ConfigMap's next write or,
  failing that, be flushed at the end of the next cycle (`end_cycle`): each changed target is part of at most
  one write per cycle.
"""
from __future__ import annotations

import functools
import threading
import zlib
from dataclasses import dataclass, field

import kubernetes.client
import structlog

from scalerd.kube._api import RequestHook, call_json, ignore_request, request
from scalerd.kube.writer import KubeWriter, WriteOutcome, WriteStatus
from scalerd.writeahead import MAX_RECORD_BYTES, TargetRecord, decode_record, encode_record, fit

log = structlog.get_logger(__name__)

SHARDS = 64
STORE_LABEL = "scalerd.io/store"
MANAGED_BY = {"app.kubernetes.io/managed-by": "scalerd"}
CONFIG_MAPS_PATH = "/api/v1/namespaces/{namespace}/configmaps"
CONFIG_MAP_DATA_LIMIT = 1024 * 1024
"""The API server's limit on a ConfigMap's data (`ValidateConfigMap`, core.MaxSecretSize): beyond it, 422."""
READ_TIMEOUT = (5.0, 30.0)

TargetKey = tuple[str, str]
"""(namespace, deployment): a Deployment is managed by one target, so its key is the Deployment's."""


def shard_of(key: TargetKey, shards: int = SHARDS) -> int:
    return zlib.crc32(f"{key[0]}/{key[1]}".encode()) % shards


def data_key(key: TargetKey) -> str:
    return f"{key[0]}.{key[1]}"


def key_of(data_key_text: str) -> TargetKey:
    namespace, _, deployment = data_key_text.partition(".")
    return namespace, deployment


def shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-state-{index:02d}"


@dataclass
class _Shard:
    name: str
    resource_version: str | None = None
    """None: the ConfigMap does not exist (yet)."""
    data: dict[str, str] = field(default_factory=dict)
    pending: dict[str, TargetRecord] = field(default_factory=dict)
    staged_in: dict[str, int] = field(default_factory=dict)
    """Data keys of `pending` that were staged (nobody waits for them), with the cycle they were staged in."""
    carried: dict[str, WriteOutcome] = field(default_factory=dict)
    """Outcomes of puts that another thread's write carried, for the putting thread to collect."""
    write_lock: threading.Lock = field(default_factory=threading.Lock)


class StoreUnavailable(Exception):
    """The store could not be read; the message says why (the caller skips the cycle and tries again)."""


class StateStore:
    def __init__(self, api_client: kubernetes.client.ApiClient, writer: KubeWriter, *, namespace: str,
                 prefix: str, on_request: RequestHook = ignore_request, shards: int = SHARDS,
                 data_limit: int = CONFIG_MAP_DATA_LIMIT) -> None:
        self._request = functools.partial(request, api_client)
        self._writer = writer
        self.namespace = namespace
        self._prefix = prefix
        self._on_request = on_request
        self._shard_count = shards
        self._data_limit = data_limit
        self._lock = threading.Lock()
        self._shards: dict[int, _Shard] = {}
        self._records: dict[TargetKey, TargetRecord] = {}
        self._loaded = False
        self._cycle = 0

    @property
    def description(self) -> str:
        return f"ConfigMaps {self.namespace}/{self._prefix}-state-*"

    # -- reading --------------------------------------------------------------------------------------------

    def loaded(self) -> bool:
        with self._lock:
            return self._loaded

    def invalidate(self) -> None:
        """Forget everything (leadership changed): the next `load()` reads the cluster again."""
        with self._lock:
            self._loaded = False

    def load(self) -> None:
        """Read every ConfigMap of the store (one list request); raises StoreUnavailable."""
        try:
            listing = call_json(self._on_request, "list", self._request, "GET", CONFIG_MAPS_PATH,
                                path_params={"namespace": self.namespace},
                                query={"labelSelector": f"{STORE_LABEL}={self._prefix}"},
                                _request_timeout=READ_TIMEOUT)
        except kubernetes.client.ApiException as error:
            raise StoreUnavailable(f"list ConfigMaps in {self.namespace}: HTTP {error.status} {error.reason}") \
                from error
        shards: dict[int, _Shard] = {}
        records: dict[TargetKey, TargetRecord] = {}
        for item in listing.get("items") or []:
            metadata = item.get("metadata") or {}
            index = self._index_of(metadata.get("name", ""))
            if index is None:
                continue
            shard = shards[index] = _Shard(name=metadata["name"], resource_version=metadata.get("resourceVersion"))
            for text_key, text in (item.get("data") or {}).items():
                try:
                    record = decode_record(text)
                except ValueError as error:  # a hand edit: that target starts afresh, and says so
                    log.warning("state_record_invalid", config_map=shard.name, key=text_key, error=str(error))
                    continue
                shard.data[text_key] = text
                records[key_of(text_key)] = record
        with self._lock:
            self._shards, self._records, self._loaded = shards, records, True
        log.info("state_loaded", store=self.description, config_maps=len(shards), records=len(records))

    def record(self, key: TargetKey) -> TargetRecord | None:
        with self._lock:
            return self._records.get(key)

    def records(self) -> dict[TargetKey, TargetRecord]:
        with self._lock:
            return dict(self._records)

    # -- writing --------------------------------------------------------------------------------------------

    def put(self, key: TargetKey, record: TargetRecord) -> WriteOutcome:
        """Write `record` now (with whatever else waits for its ConfigMap); returns when the write is answered."""
        shard = self._pend(key, record, staged=False)
        with shard.write_lock:
            with self._lock:
                carried = shard.carried.pop(data_key(key), None)
            if carried is not None:
                return carried
            return self._commit(shard, waiting=data_key(key))

    def stage(self, key: TargetKey, record: TargetRecord) -> None:
        """Keep `record` in memory now; it goes out with its ConfigMap's next write (see `end_cycle`)."""
        self._pend(key, record, staged=True)

    def has_staged(self) -> bool:
        with self._lock:
            return any(shard.staged_in for shard in self._shards.values())

    def end_cycle(self, *, flush_all: bool = False) -> None:
        """Write the ConfigMaps holding records staged before this cycle that no write has carried since
        (`flush_all`: every staged record, for a process about to exit)."""
        with self._lock:
            due = [shard for shard in self._shards.values()
                   if shard.staged_in and (flush_all or min(shard.staged_in.values()) < self._cycle)]
            self._cycle += 1
        for shard in due:
            with shard.write_lock:
                self._commit(shard, waiting=None)

    def _pend(self, key: TargetKey, record: TargetRecord, *, staged: bool) -> _Shard:
        record, dropped = fit(record)
        if dropped:
            log.warning("state_record_trimmed", namespace=key[0], deployment=key[1], dropped_entries=dropped,
                        max_bytes=MAX_RECORD_BYTES)
        text_key = data_key(key)
        with self._lock:
            index = shard_of(key, self._shard_count)
            shard = self._shards.setdefault(index, _Shard(name=shard_name(self._prefix, index)))
            shard.pending[text_key] = record
            shard.carried.pop(text_key, None)
            if staged:
                shard.staged_in.setdefault(text_key, self._cycle)
            else:
                shard.staged_in.pop(text_key, None)
            self._records[key] = record
        return shard

    def _commit(self, shard: _Shard, *, waiting: str | None) -> WriteOutcome:
        """One conditional write of `shard` with all its pending records; the caller holds its write lock."""
        with self._lock:
            batch, staged = dict(shard.pending), dict(shard.staged_in)
            shard.pending.clear()
            shard.staged_in.clear()
            data = {**shard.data, **{text_key: encode_record(record) for text_key, record in batch.items()}}
            resource_version = shard.resource_version
        size = sum(len(text) for text in data.values())
        if size > self._data_limit:
            outcome = WriteOutcome(applied=False, status=WriteStatus.FAILED, attempts=0, resource_version=None,
                                   detail=f"ConfigMap {self.namespace}/{shard.name} would hold {size} bytes of "
                                          f"data, beyond the API server's {self._data_limit}")
            log.error("state_write_refused", config_map=shard.name, bytes=size, limit=self._data_limit)
        else:
            outcome = self._writer.save_config_map(
                namespace=self.namespace, name=shard.name, labels={**MANAGED_BY, STORE_LABEL: self._prefix},
                data=data, resource_version=resource_version)
        with self._lock:
            if outcome.status == WriteStatus.APPLIED:
                shard.data, shard.resource_version = data, outcome.resource_version
            elif outcome.status == WriteStatus.CONFLICT:
                # Someone else wrote this ConfigMap: another leader, or `scalerd once`. Nothing here is current.
                self._loaded = False
                log.warning("state_conflict", config_map=shard.name, detail=outcome.detail)
            elif outcome.status != WriteStatus.DRY_RUN:
                for text_key, cycle in staged.items():  # outcomes are kept for the next write; intents are not
                    shard.pending.setdefault(text_key, batch[text_key])
                    shard.staged_in.setdefault(text_key, cycle)
            for text_key in batch:
                if text_key != waiting and text_key not in staged:
                    shard.carried[text_key] = outcome
        return outcome

    def _index_of(self, name: str) -> int | None:
        prefix = f"{self._prefix}-state-"
        suffix = name.removeprefix(prefix)
        if suffix == name or not suffix.isdigit() or int(suffix) >= self._shard_count:
            return None
        return int(suffix)

