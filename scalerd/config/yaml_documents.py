"""YAML text to plain Python documents, with the two YAML 1.1 surprises a config must not have.

- `time: 22:00` is the integer 1320 in YAML 1.1 (base-60 numbers); here it stays the string "22:00".
- A key written twice silently keeps the last value in PyYAML; here it is a problem with its line.
Numbers follow YAML 1.2 instead (`1e3` is a float, `010` is not an octal integer).
"""
from __future__ import annotations

import re
from typing import ClassVar

import yaml

from scalerd.config.errors import ConfigError

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ConfigLoader(_BaseLoader):
    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT, _FLOAT)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicate_keys: list[tuple[yaml.Mark, str]] = []

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    continue
                key = (key_node.tag, key_node.value)
                if key in seen:
                    self.duplicate_keys.append((key_node.start_mark, key_node.value))
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_ConfigLoader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_ConfigLoader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
            |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
        re.VERBOSE,
    ),
    list("-+0123456789."),
)
_ConfigLoader.add_constructor(_INT, lambda _loader, node: _construct_int(node.value))


def _construct_int(text: str) -> int:
    digits = text.replace("_", "")
    if digits.startswith(("0o", "0x")):
        return int(digits, 0)
    # Base 10 explicitly: YAML 1.2 reads "010" as ten, where base 0 would refuse it.
    return int(digits, 10)


def read_documents(text: str, *, source: str) -> tuple[list[object], list[str]]:
    """The documents of `text`, and one "FILE:LINE:COL: duplicate key" problem per repeated key.

    Raises ConfigError("FILE:LINE:COL: <problem>") when the text is not YAML.
    """
    loader = _ConfigLoader(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
    except yaml.MarkedYAMLError as error:
        raise ConfigError([_marked_problem(error, source=source)]) from None
    except yaml.reader.ReaderError as error:
        line, column = _line_and_column(text, error.position)
        raise ConfigError([f"{source}:{line}:{column}: {error.reason}"]) from None
    except yaml.YAMLError as error:
        raise ConfigError([f"{source}: {_one_line(error)}"]) from None
    except (ValueError, RecursionError) as error:
        # Integers beyond Python's 4300-digit limit, or nesting deeper than the interpreter's stack.
        raise ConfigError([f"{source}: cannot parse: {_one_line(error)}"]) from None
    finally:
        loader.dispose()
    duplicates = [
        f"{source}:{mark.line + 1}:{mark.column + 1}: duplicate key {key!r} (the last value would silently win)"
        for mark, key in loader.duplicate_keys
    ]
    return documents, duplicates


def _marked_problem(error: yaml.MarkedYAMLError, *, source: str) -> str:
    mark = error.problem_mark or error.context_mark
    problem = error.problem or error.context or "invalid YAML"
    location = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
    if error.context and error.problem and error.context_mark is not None:
        problem += f" ({error.context} at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
    return f"{location}: {problem}"


def _line_and_column(text: str, position: int) -> tuple[int, int]:
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return line, column


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())
