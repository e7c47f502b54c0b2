"""The metric types: one module per `type:` of a metric, each registered once in `registry.py`.

A type's module holds everything about it: its configuration dataclass and the reader that builds it from YAML
(with the loader's `Section` helpers), the rule that turns its reading into a replica count, and the factory of
the source that reads it (`scalerd.sources.<type>`, imported only when a daemon or command reads metrics, so
that `scalerd validate` never loads a client library). Adding a type: its module, its tests, one registry line.
"""
