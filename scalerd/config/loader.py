"""YAML configuration text to the typed model (`scalerd.config.model`), reporting every problem at once.

A file holds YAML documents of two kinds:
- at most one `apiVersion: scalerd/v1` document (defaults and targets). Its paths have no prefix:
  `targets[0].behavior.scaleUp.policies[1].value`. A document without apiVersion is read as this one.
- any number of the seed's `kind: AutoScalerPolicy` documents, each one more target taking the scalerd/v1
  document's defaults. Their paths start with the document's index in the file, from 0:
  `documents[1].spec.metrics[0].threshold`.
"""
from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from croniter import CroniterBadDateError, croniter

from scalerd.config.checks import (
    REQUIRED,
    Problems,
    Section,
    as_mapping,
    child_path,
    dns_label_problem,
    is_dns_label,
    url_problem,
)
from scalerd.config.describe import describe
from scalerd.config.errors import ConfigError
from scalerd.config.model import (
    API_VERSION,
    Behavior,
    Config,
    CronWindow,
    DailyEntry,
    Defaults,
    Fallback,
    HistoryFromPrometheus,
    KafkaSettings,
    Metric,
    PolicyType,
    Predictive,
    PrometheusSettings,
    ScalingPolicy,
    ScalingRules,
    ScheduleEntry,
    SelectPolicy,
    Target,
)
from scalerd.config.yaml_documents import read_documents

SEED_API_VERSION = "autoscale.example.com/v1"
SEED_KIND = "AutoScalerPolicy"
DEFAULT_NAMESPACE = "default"
DEFAULT_MIN_REPLICAS = 1
SEED_DEFAULT_MAX_REPLICAS = 10
DEFAULT_FAILURE_THRESHOLD = 3

# HPA autoscaling/v2 validation bounds.
MAX_STABILIZATION_WINDOW = 3600.0
MIN_POLICY_PERIOD = 1.0
MAX_POLICY_PERIOD = 1800.0

_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})")
# Any fixed instant works: a cron expression that matches nothing after it matches nothing at all.
_CRON_PROBE_START = datetime(2024, 1, 1)


def load_config_file(path: str | Path, *, targets_required: bool = True) -> Config:
    """The configuration in the file at `path`; ConfigError listing every problem otherwise.

    `targets_required=False` (`--policies`: the targets may all be AutoScalerPolicy objects): a file with only
    `defaults` is valid."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror or error}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError([f"{path}: cannot read: not UTF-8 text ({error.reason} on line {line})"]) from None
    return load_config_text(text, source=str(path), targets_required=targets_required)


def load_config_text(text: str, *, source: str = "<config>", targets_required: bool = True) -> Config:
    """The configuration in `text` (e.g. a ConfigMap's config.yaml); `source` names it in YAML syntax errors."""
    documents, problem_lines = read_documents(text, source=source)
    problems = Problems()
    problems.lines.extend(problem_lines)
    config = _read_documents(documents, source=source, problems=problems, targets_required=targets_required)
    if problems.lines:
        raise ConfigError(problems.lines)
    return config


@dataclass(frozen=True)
class _Placed:
    """A target with the paths its name and deployment came from, for problems between targets."""

    target: Target
    path: str
    name_path: str
    deployment_path: str


def _read_documents(documents: list[object], *, source: str, problems: Problems, targets_required: bool) -> Config:
    present = [(index, document) for index, document in enumerate(documents) if document is not None]
    if not present:
        problems.add(source, f"empty configuration: expected a document with apiVersion: {API_VERSION}")
        return Config(defaults=Defaults(), targets=())

    # Seed documents need the scalerd/v1 document's defaults whichever comes first, so documents are read out of
    # order; each gets its own list of problems to report them in file order all the same.
    problems_of = {index: Problems() for index, _ in present}
    main_index = None
    seed_indexes = []
    for index, document in present:
        document_path = f"documents[{index}]"
        if not isinstance(document, dict):
            problems_of[index].add(
                document_path, f"must be a mapping with apiVersion: {API_VERSION} (got {describe(document)})"
            )
        elif document.get("kind") == SEED_KIND or document.get("apiVersion") == SEED_API_VERSION:
            seed_indexes.append(index)
        elif main_index is None:
            main_index = index
        elif document.get("apiVersion") == API_VERSION:
            problems_of[index].add(
                document_path,
                f"a second {API_VERSION} document; a file holds at most one "
                f"(the first is documents[{main_index}]): put all targets in it",
            )
        else:
            problems_of[index].add(
                child_path(document_path, "apiVersion"),
                f"must be {API_VERSION} (or {SEED_API_VERSION} with kind: {SEED_KIND}) "
                f"(got {describe(document.get('apiVersion'))})",
            )

    main = _main_document(documents[main_index], problems_of[main_index]) if main_index is not None else None
    defaults = _defaults(main.section("defaults", known=_DEFAULTS_FIELDS)) if main else Defaults()

    placed: list[_Placed] = []
    for index, document in present:
        if index == main_index:
            placed.extend(_main_targets(main, defaults=defaults,
                                        targets_required=targets_required and not seed_indexes))
        elif index in seed_indexes:
            seed = _seed_target(document, f"documents[{index}]", problems_of[index], defaults=defaults)
            if seed is not None:
                placed.append(seed)
        problems.lines.extend(problems_of[index].lines)
    _check_between_targets(placed, problems)
    return Config(defaults=defaults, targets=tuple(entry.target for entry in placed))


# --- the scalerd/v1 document ---------------------------------------------------------------------------------

_MAIN_FIELDS = ("apiVersion", "defaults", "targets")
_DEFAULTS_FIELDS = ("interval", "timezone", "prometheus", "kafka")
_PROMETHEUS_FIELDS = (
    "url", "timeout", "bearerTokenFile", "caFile", "insecureSkipVerify", "username", "passwordFile", "maxConcurrency",
)
_KAFKA_FIELDS = ("bootstrapServers", "config", "timeout")
_TARGET_FIELDS = (
    "name", "namespace", "deployment", "minReplicas", "maxReplicas", "paused", "timezone", "metrics", "schedule",
    "behavior", "fallback", "predictive",
)


def _main_document(document: dict, problems: Problems) -> Section:
    main = as_mapping(document, "", problems, known=_MAIN_FIELDS)
    if "apiVersion" not in document:
        problems.add("apiVersion", f"required (must be {API_VERSION})")
    elif document["apiVersion"] != API_VERSION:
        problems.add("apiVersion", f"must be {API_VERSION} (got {describe(document['apiVersion'])})")
    return main


def _defaults(section: Section | None) -> Defaults:
    if section is None:
        return Defaults()
    built = Defaults()
    return Defaults(
        interval=section.duration("interval", default=built.interval, exclusive_minimum=True),
        timezone=section.checked_string("timezone", check=_timezone_problem, default=built.timezone),
        prometheus=_prometheus_settings(section.section("prometheus", known=_PROMETHEUS_FIELDS)),
        kafka=_kafka_settings(section.section("kafka", known=_KAFKA_FIELDS)),
    )


def _prometheus_settings(section: Section | None) -> PrometheusSettings:
    built = PrometheusSettings()
    if section is None:
        return built
    settings = PrometheusSettings(
        url=section.checked_string("url", check=url_problem, default=built.url),
        timeout=section.duration("timeout", default=built.timeout, exclusive_minimum=True),
        bearer_token_file=section.string("bearerTokenFile", default=None, nullable=True),
        ca_file=section.string("caFile", default=None, nullable=True),
        insecure_skip_verify=section.boolean("insecureSkipVerify", default=built.insecure_skip_verify),
        username=section.string("username", default=None, nullable=True),
        password_file=section.string("passwordFile", default=None, nullable=True),
        max_concurrency=section.integer("maxConcurrency", minimum=1, default=built.max_concurrency),
    )
    has_username = section.data.get("username") is not None
    has_password_file = section.data.get("passwordFile") is not None
    if has_password_file and not has_username:
        section.report("username", "required when passwordFile is set (basic auth)")
    if has_username and not has_password_file:
        section.report("passwordFile", "required when username is set (basic auth)")
    if section.data.get("bearerTokenFile") is not None and has_username:
        section.report("bearerTokenFile", "give either bearerTokenFile or username/passwordFile, not both")
    return settings


def _kafka_settings(section: Section | None) -> KafkaSettings:
    built = KafkaSettings()
    if section is None:
        return built
    return KafkaSettings(
        bootstrap_servers=section.string("bootstrapServers", default=built.bootstrap_servers),
        config=_librdkafka_config(section),
        timeout=section.duration("timeout", default=built.timeout, exclusive_minimum=True),
    )


def _librdkafka_config(section: Section) -> dict[str, str]:
    raw = section.data.get("config")
    path = section.path_of("config")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        section.report("config", f"must be a mapping of librdkafka settings (got {describe(raw)})")
        return {}
    settings = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            section.problems.add(path, f"setting names must be strings (got {describe(key)})")
        elif isinstance(value, bool):
            settings[key] = "true" if value else "false"
        elif isinstance(value, (str, int, float)):
            settings[key] = str(value)
        else:
            # The value itself may be a secret (sasl.password): name the key, never show the value.
            section.problems.add(child_path(path, key), "must be a string, number or boolean")
    return settings


def _main_targets(main: Section | None, *, defaults: Defaults, targets_required: bool) -> list[_Placed]:
    if main is None:
        return []
    if "targets" not in main.data and targets_required:
        main.report("targets", "required: at least one target")
        return []
    items = main.items("targets")
    if items is None:
        return []
    if not items and targets_required:
        main.report("targets", "at least one target is required")
    placed = []
    for path, item in items:
        section = as_mapping(item, path, main.problems, known=_TARGET_FIELDS)
        if section is not None:
            placed.append(_target(section, defaults=defaults))
    return placed


def _target(section: Section, *, defaults: Defaults, owner: tuple[str, str] | None = None) -> _Placed:
    """`owner`: the (name, namespace) of the AutoScalerPolicy the section is the spec of, which names the target;
    its deployment defaults to that name. Without it, both are the section's own fields."""
    if owner is None:
        name = section.dns_label("name")
        namespace = section.dns_label("namespace", default=DEFAULT_NAMESPACE)
        deployment = section.dns_subdomain("deployment")
    else:
        name, namespace = policy_target_name(owner[1], owner[0]), owner[1]
        deployment = section.dns_subdomain("deployment") if section.has("deployment") else owner[0]
    min_replicas = section.integer("minReplicas", minimum=0, default=DEFAULT_MIN_REPLICAS)
    max_replicas = _max_replicas(section, default=REQUIRED, min_replicas=min_replicas)
    paused = section.boolean("paused", default=False)
    timezone = section.checked_string("timezone", check=_timezone_problem, default=defaults.timezone)
    metrics = _metrics(section)
    schedule = _schedule(section.items("schedule") or [], section.problems)
    if not (_has_entries(section, "metrics") or _has_entries(section, "schedule")):
        section.problems.add(section.path, "needs at least one metric or schedule entry")
    target = Target(
        name=name,
        namespace=namespace,
        deployment=deployment,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        timezone=timezone,
        metrics=metrics,
        schedule=schedule,
        behavior=_behavior(section.section("behavior", known=_BEHAVIOR_FIELDS)),
        fallback=_fallback(section),
        predictive=_predictive(section),
        paused=paused,
    )
    return _Placed(
        target=target, path=section.path, name_path=section.path_of("name"),
        deployment_path=section.path_of("deployment"),
    )


def _max_replicas(section: Section, *, default: object, min_replicas: int | None) -> int | None:
    """maxReplicas: >= 1 and >= minReplicas."""
    max_replicas = section.integer("maxReplicas", minimum=1, default=default)
    if min_replicas is not None and max_replicas is not None and max_replicas < min_replicas:
        section.report("maxReplicas", f"must be >= minReplicas (got {max_replicas} < {min_replicas})")
        return None
    return max_replicas


def _has_entries(section: Section, key: str) -> bool:
    """True when `key` holds something, valid or not: a broken metric list is reported on its own."""
    return section.data.get(key) not in (None, [])


# --- metrics -------------------------------------------------------------------------------------------------

def _metrics(target: Section) -> tuple[Metric, ...]:
    metrics: list[Metric] = []
    first_path_of_name: dict[str, str] = {}
    for path, item in target.items("metrics") or []:
        metric = _metric(item, path, target.problems)
        if metric is None:
            continue
        if metric.name in first_path_of_name:
            target.problems.add(
                child_path(path, "name"),
                f"duplicate metric name {describe(metric.name)} (also {first_path_of_name[metric.name]}; "
                "a metric's name defaults to its type)",
            )
        elif metric.name is not None:  # None: an invalid name, already reported
            first_path_of_name[metric.name] = path
        metrics.append(metric)
    return tuple(metrics)


def _metric(item: object, path: str, problems: Problems) -> Metric | None:
    # Imported here: each type's module reads its section with this package's helpers, so importing the
    # registry while this package is being imported would be circular.
    from scalerd.metric_types.registry import METRIC_TYPES

    if not isinstance(item, dict):
        problems.add(path, f"must be a mapping (got {describe(item)})")
        return None
    allowed = ", ".join(METRIC_TYPES)
    if "type" not in item:
        problems.add(child_path(path, "type"), f"required (one of {allowed})")
        return None
    metric_type = item["type"]
    if not isinstance(metric_type, str) or metric_type not in METRIC_TYPES:
        problems.add(child_path(path, "type"), f"must be one of {allowed} (got {describe(metric_type)})")
        return None
    registered = METRIC_TYPES[metric_type]
    return registered.read(as_mapping(item, path, problems, known=registered.fields))


# --- schedule ------------------------------------------------------------------------------------------------

_SCHEDULE_FIELDS = ("time", "cron", "duration", "replicas")


def _schedule(
    items: list[tuple[str, object]], problems: Problems, *, known: tuple[str, ...] = _SCHEDULE_FIELDS
) -> tuple[ScheduleEntry, ...]:
    entries: list[ScheduleEntry] = []
    first_path_of_minute: dict[int, str] = {}
    for path, item in items:
        section = as_mapping(item, path, problems, known=known)
        if section is None:
            continue
        entry = _schedule_entry(section, allows_cron="cron" in known)
        if isinstance(entry, DailyEntry):
            if entry.minute_of_day in first_path_of_minute:
                first = first_path_of_minute[entry.minute_of_day]
                section.report("time", f"duplicate time {describe(section.data['time'])} (also {first})")
            else:
                first_path_of_minute[entry.minute_of_day] = path
        if entry is not None:
            entries.append(entry)
    return tuple(entries)


def _schedule_entry(section: Section, *, allows_cron: bool) -> ScheduleEntry | None:
    has_cron = allows_cron and section.has("cron")
    if section.has("time") and has_cron:
        section.problems.add(section.path, "give either time (HH:MM) or cron (with duration), not both")
        return None
    if section.has("time"):
        if allows_cron and section.has("duration"):
            section.report("duration", "only a cron entry has a duration (a time entry lasts until the next time)")
        minute = _minute_of_day(section)
        replicas = section.integer("replicas", minimum=0)
        return DailyEntry(minute_of_day=minute, replicas=replicas) if minute is not None else None
    if has_cron:
        cron = section.checked_string("cron", check=_cron_problem)
        duration = section.duration("duration", exclusive_minimum=True)
        return CronWindow(cron=cron, duration=duration, replicas=section.integer("replicas", minimum=0))
    if allows_cron:
        section.problems.add(section.path, "needs time (HH:MM) or cron (a 5-field expression with a duration)")
    else:
        section.report("time", "required (HH:MM)")
    return None


def _minute_of_day(section: Section) -> int | None:
    value = section.data["time"]
    match = _TIME_OF_DAY.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        section.report("time", f"must be HH:MM from 00:00 to 23:59 (got {describe(value)})")
        return None
    return int(match[1]) * 60 + int(match[2])


# --- behavior and fallback -----------------------------------------------------------------------------------

_BEHAVIOR_FIELDS = ("cooldown", "tolerance", "scaleUp", "scaleDown")
_RULES_FIELDS = ("stabilizationWindow", "selectPolicy", "policies")
_POLICY_FIELDS = ("type", "value", "period")
_FALLBACK_FIELDS = ("failureThreshold", "replicas")


def _behavior(section: Section | None) -> Behavior:
    built = Behavior()
    if section is None:
        return built
    cooldown = section.duration("cooldown", default=built.cooldown)
    tolerance = section.number("tolerance", default=built.tolerance)
    if tolerance is not None and not 0 <= tolerance < 1:
        section.report("tolerance", f"must be >= 0 and < 1 (got {describe(section.data['tolerance'])})")
        tolerance = None
    return Behavior(
        cooldown=cooldown,
        tolerance=tolerance,
        scale_up=_scaling_rules(section.section("scaleUp", known=_RULES_FIELDS), built.scale_up),
        scale_down=_scaling_rules(section.section("scaleDown", known=_RULES_FIELDS), built.scale_down),
    )


def _scaling_rules(section: Section | None, default: ScalingRules) -> ScalingRules:
    """`default` with the fields the section sets: a given policies list replaces the default list."""
    if section is None:
        return default
    return ScalingRules(
        stabilization_window=section.duration(
            "stabilizationWindow", default=default.stabilization_window, maximum=MAX_STABILIZATION_WINDOW
        ),
        select_policy=section.choice("selectPolicy", SelectPolicy, default=default.select_policy),
        policies=_policies(section) if section.has("policies") else default.policies,
    )


def _policies(section: Section) -> tuple[ScalingPolicy, ...]:
    items = section.items("policies")
    if items is None:
        return ()
    if not items:
        section.report("policies", "must list at least one policy (selectPolicy: Disabled turns this direction off)")
    policies = []
    for path, item in items:
        policy = as_mapping(item, path, section.problems, known=_POLICY_FIELDS)
        if policy is None:
            continue
        policies.append(ScalingPolicy(
            type=policy.choice("type", PolicyType),
            value=policy.positive_integer("value"),
            period=policy.duration("period", minimum=MIN_POLICY_PERIOD, maximum=MAX_POLICY_PERIOD),
        ))
    return tuple(policies)


def _fallback(target: Section) -> Fallback | None:
    """The contract bounds only the count (>= 0): like a schedule's, a fallback count is clipped to the bounds."""
    section = target.optional_section("fallback", known=_FALLBACK_FIELDS)
    if section is None:
        return None
    failure_threshold = section.integer("failureThreshold", minimum=1, default=DEFAULT_FAILURE_THRESHOLD)
    return Fallback(failure_threshold=failure_threshold, replicas=section.integer("replicas", minimum=0))


_PREDICTIVE_FIELDS = ("leadTime", "history", "historyFrom")
_HISTORY_FROM_FIELDS = ("prometheus",)
_HISTORY_PROMETHEUS_FIELDS = ("url", "labels")
MAX_LEAD_TIME = 30 * 60.0
MIN_HISTORY, MAX_HISTORY = 3600.0, 35 * 86400.0
OWN_VALUE_LABELS = ("target", "metric", "type")
"""The labels scalerd itself gives `scalerd_metric_value`: `historyFrom.prometheus.labels` may not set them."""
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _predictive(target: Section) -> Predictive | None:
    section = target.optional_section("predictive", known=_PREDICTIVE_FIELDS)
    if section is None:
        return None
    return Predictive(
        lead_time=section.duration("leadTime", maximum=MAX_LEAD_TIME),
        history=section.duration("history", default=Predictive.history, minimum=MIN_HISTORY, maximum=MAX_HISTORY),
        history_from=_history_from(section),
    )


def _history_from(predictive: Section) -> HistoryFromPrometheus | None:
    section = predictive.optional_section("historyFrom", known=_HISTORY_FROM_FIELDS)
    if section is None:
        return None
    if "prometheus" not in section.data:
        section.report("prometheus", "required: the Prometheus that scrapes scalerd's /metrics "
                                     "({} for defaults.prometheus)")
        return None
    prometheus = section.section("prometheus", known=_HISTORY_PROMETHEUS_FIELDS)
    if prometheus is None:
        return None
    return HistoryFromPrometheus(url=prometheus.checked_string("url", check=url_problem, default=None, nullable=True),
                                 labels=_label_matchers(prometheus))


def _label_matchers(prometheus: Section) -> tuple[tuple[str, str], ...]:
    """`labels`: {name: value} exact matchers added to the query, sorted by name."""
    raw = prometheus.data.get("labels")
    path = prometheus.path_of("labels")
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        prometheus.report("labels", f"must be a mapping of label names to values (got {describe(raw)})")
        return ()
    matchers = []
    for name, value in raw.items():
        if not isinstance(name, str) or _LABEL_NAME.fullmatch(name) is None or name.startswith("__"):
            prometheus.problems.add(child_path(path, name), "must be a Prometheus label name: letters, digits and "
                                    "'_', not starting with a digit or '__'")
        elif name in OWN_VALUE_LABELS:
            prometheus.problems.add(child_path(path, name), "set by scalerd itself (the target's name, the "
                                    "metric's name and its type): choose the series with other labels, e.g. job")
        elif not isinstance(value, str):
            prometheus.problems.add(child_path(path, name), f"must be a string (got {describe(value)})")
        else:
            matchers.append((name, value))
    return tuple(sorted(matchers))


# --- the seed's AutoScalerPolicy document --------------------------------------------------------------------

_SEED_FIELDS = ("apiVersion", "kind", "metadata", "spec")
_SEED_METADATA_FIELDS = ("name", "namespace", "labels", "annotations")
_SEED_SPEC_FIELDS = ("deploymentName", "minReplicas", "maxReplicas", "metrics", "schedule", "kafka")
_SEED_METRIC_FIELDS = ("type", "threshold")
_SEED_KAFKA_FIELDS = ("group", "topics")
_SEED_SCHEDULE_FIELDS = ("time", "replicas")


class _SeedMetricType:
    KAFKA_LAG = "KafkaLag"
    CPU = "CPU"
    ALL = (KAFKA_LAG, CPU)


def _seed_target(document: dict, path: str, problems: Problems, *, defaults: Defaults) -> _Placed | None:
    seed = as_mapping(document, path, problems, known=_SEED_FIELDS)
    if document.get("apiVersion") != SEED_API_VERSION:
        got = describe(document.get("apiVersion"))
        seed.report("apiVersion", f"must be {SEED_API_VERSION} for kind {SEED_KIND} (got {got})")
    if document.get("kind") != SEED_KIND:
        seed.report("kind", f"must be {SEED_KIND} (got {describe(document.get('kind'))})")
    metadata = seed.section("metadata", known=_SEED_METADATA_FIELDS)
    if "spec" not in document:
        seed.report("spec", "required")
        return None
    spec = seed.section("spec", known=_SEED_SPEC_FIELDS)
    if spec is None:
        return None

    deployment = spec.dns_subdomain("deploymentName")
    name, name_path = deployment, spec.path_of("deploymentName")
    if metadata is not None and metadata.has("name"):
        name, name_path = metadata.dns_label("name"), metadata.path_of("name")
    elif deployment is not None and not is_dns_label(deployment):
        problems.add(name_path, dns_label_problem(deployment) + "; set metadata.name to name the target")
        name = None
    namespace = metadata.dns_label("namespace", default=DEFAULT_NAMESPACE) if metadata else DEFAULT_NAMESPACE
    for key in ("labels", "annotations"):
        value = metadata.data.get(key) if metadata else None
        if value is not None and not isinstance(value, dict):
            metadata.report(key, f"must be a mapping (got {describe(value)})")

    target = _seed_spec_target(spec, name=name, namespace=namespace, deployment=deployment, defaults=defaults)
    return _Placed(target=target, path=path, name_path=name_path, deployment_path=spec.path_of("deploymentName"))


def _seed_spec_target(spec: Section, *, name: str | None, namespace: str | None, deployment: str | None,
                      defaults: Defaults) -> Target:
    metrics = _seed_metrics(spec)
    schedule = _schedule(spec.items("schedule") or [], spec.problems, known=_SEED_SCHEDULE_FIELDS)
    min_replicas = spec.integer("minReplicas", minimum=0, default=DEFAULT_MIN_REPLICAS)
    max_replicas = _max_replicas(spec, default=_seed_default_max(schedule, min_replicas), min_replicas=min_replicas)
    if not (_has_entries(spec, "metrics") or _has_entries(spec, "schedule")):
        spec.problems.add(spec.path, "needs at least one metric or schedule entry")
    return Target(
        name=name,
        namespace=namespace,
        deployment=deployment,
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        timezone=defaults.timezone,
        metrics=metrics,
        schedule=schedule,
    )


def _seed_default_max(schedule: tuple[ScheduleEntry, ...], min_replicas: int | None) -> int:
    """The largest scheduled count, else 10; never below minReplicas or 1, which would make the seed invalid."""
    scheduled = [entry.replicas for entry in schedule if entry.replicas is not None]
    if not scheduled:
        return SEED_DEFAULT_MAX_REPLICAS
    return max(max(scheduled), min_replicas or 0, 1)


def _seed_metrics(spec: Section) -> tuple[Metric, ...]:
    from scalerd.metric_types.cpu import CpuMetric  # imported here for the reason given in _metric

    metrics: list[Metric] = []
    first_path_of_type: dict[str, str] = {}
    for path, item in spec.items("metrics") or []:
        section = as_mapping(item, path, spec.problems, known=_SEED_METRIC_FIELDS)
        if section is None:
            continue
        metric_type = section.data.get("type")
        threshold = section.positive_number("threshold")
        if "type" not in section.data:
            section.report("type", f"required (one of {', '.join(_SeedMetricType.ALL)})")
            continue
        if metric_type not in _SeedMetricType.ALL:
            section.report("type", f"must be one of {', '.join(_SeedMetricType.ALL)} (got {describe(metric_type)})")
            continue
        if metric_type in first_path_of_type:
            section.report("type", f"duplicate metric type {metric_type} (also {first_path_of_type[metric_type]})")
            continue
        first_path_of_type[metric_type] = path
        if metric_type == _SeedMetricType.CPU:
            metrics.append(CpuMetric(name="cpu", target_utilization=threshold))
        else:
            metrics.append(_seed_kafka_metric(spec, lag_per_replica=threshold))
    return tuple(metrics)


def _seed_kafka_metric(spec: Section, *, lag_per_replica: float | None) -> Metric:
    from scalerd.metric_types.kafka import KafkaMetric, read_topics  # imported here for the reason given in _metric

    if not spec.has("kafka"):
        spec.report("kafka", "required by the KafkaLag metric: {group, topics}")
        return KafkaMetric(name="kafka", group=None, topics=(), lag_per_replica=lag_per_replica)
    kafka = spec.section("kafka", known=_SEED_KAFKA_FIELDS)
    if kafka is None:
        return KafkaMetric(name="kafka", group=None, topics=(), lag_per_replica=lag_per_replica)
    return KafkaMetric(
        name="kafka", group=kafka.string("group"), topics=read_topics(kafka), lag_per_replica=lag_per_replica
    )


# --- between targets -----------------------------------------------------------------------------------------

def _check_between_targets(placed: list[_Placed], problems: Problems) -> None:
    first_by_name: dict[str, _Placed] = {}
    first_by_deployment: dict[tuple[str, str], _Placed] = {}
    for entry in placed:
        target = entry.target
        if target.name is not None:
            if target.name in first_by_name:
                problems.add(
                    entry.name_path,
                    f"duplicate target name {describe(target.name)} (also {first_by_name[target.name].path})",
                )
            else:
                first_by_name[target.name] = entry
        if target.namespace is not None and target.deployment is not None:
            key = (target.namespace, target.deployment)
            if key in first_by_deployment:
                problems.add(
                    entry.deployment_path,
                    f"{target.namespace}/{target.deployment} is already scaled by {first_by_deployment[key].path}; "
                    "two targets would fight over its replicas",
                )
            else:
                first_by_deployment[key] = entry


# --- value checks (each returns the problem, or None) ----------------------------------------------------------

@functools.lru_cache(maxsize=1024)
def _timezone_problem(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {describe(name)} (an IANA name such as UTC or Europe/Berlin)"
    return None


@functools.lru_cache(maxsize=1024)
def _cron_problem(expression: str) -> str | None:
    fields = expression.split()
    if len(fields) != 5:
        return (
            "must be a 5-field cron expression: minute hour day-of-month month day-of-week "
            f"(got {len(fields)} fields in {describe(expression)})"
        )
    if not croniter.is_valid(expression):
        return f"invalid cron expression {describe(expression)}"
    try:
        croniter(expression, _CRON_PROBE_START).get_next(datetime)
    except CroniterBadDateError:
        return f"cron expression {describe(expression)} never matches a date"
    return None


# --- AutoScalerPolicy objects (contract §1c) ---------------------------------------------------------------------

_POLICY_SPEC_FIELDS = tuple(field for field in _TARGET_FIELDS if field not in ("name", "namespace"))


def policy_target(policy: dict, *, defaults: Defaults) -> Target:
    """The target an AutoScalerPolicy object stands for: its spec is one target without name and namespace (the
    object's own; deployment defaults to its name), or the seed's compact form. ConfigError lists every problem,
    with paths from `spec.`."""
    metadata = policy.get("metadata") or {}
    owner = (metadata.get("name"), metadata.get("namespace") or DEFAULT_NAMESPACE)
    problems = Problems()
    spec = policy.get("spec")
    target = None
    if spec is None:
        problems.add("spec", "required")
    elif _is_seed_form(spec):
        section = as_mapping(spec, "spec", problems, known=_SEED_SPEC_FIELDS)
        deployment = section.dns_subdomain("deploymentName") if section.has("deploymentName") else owner[0]
        target = _seed_spec_target(section, name=policy_target_name(owner[1], owner[0]), namespace=owner[1],
                                   deployment=deployment,
                                   defaults=defaults)
    else:
        section = as_mapping(spec, "spec", problems, known=_POLICY_SPEC_FIELDS)
        if section is not None:
            target = _target(section, defaults=defaults, owner=owner).target
    if problems.lines or target is None:
        raise ConfigError(problems.lines)
    return target


def policy_target_name(namespace: str, name: str) -> str:
    """A policy's target is named after the object: unique across namespaces, and never a file target's name."""
    return f"{namespace}/{name}"


def _is_seed_form(spec: object) -> bool:
    """The seed's keys, or a metric written its way (`type: KafkaLag|CPU`, `threshold`)."""
    if not isinstance(spec, dict):
        return False
    metrics = spec.get("metrics") if isinstance(spec.get("metrics"), list) else []
    return "deploymentName" in spec or "kafka" in spec or any(
        isinstance(metric, dict) and (metric.get("type") in _SeedMetricType.ALL or "threshold" in metric)
        for metric in metrics)
