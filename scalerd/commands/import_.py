"""`scalerd import FILE... [--from-cluster] [-n NS] [--as-policies]`: HPAs and KEDA ScaledObjects in, one scalerd/v1
file out (or, with --as-policies, one AutoScalerPolicy object per target).

stdout: the file (it always passes `scalerd validate`). stderr: one line per field that has no scalerd counterpart,
`KIND NAMESPACE/NAME: PATH: why`, and one per document that is not an HPA or a ScaledObject.

Exit status: 0 when everything was mapped; 1 when the file was written but some fields were not mapped; 2 when
no target could be made (or a file could not be read, or the cluster could not be listed).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scalerd.commands import exits
from scalerd.config.errors import ConfigError
from scalerd.config.yaml_documents import read_documents
from scalerd.migrate import objects_in, render, render_policies, translate

DEFAULT_NAMESPACE = "default"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="YAML files of HorizontalPodAutoscalers (autoscaling/v2) and ScaledObjects "
                             "(keda.sh/v1alpha1); '-' reads stdin")
    parser.add_argument("--from-cluster", action="store_true",
                        help="also list the HPAs and ScaledObjects of the cluster (--kubeconfig, --context)")
    parser.add_argument("-n", "--namespace", metavar="NS",
                        help="with --from-cluster: only this namespace (default: all); for files: the namespace "
                             "of objects that name none (default: default)")
    parser.add_argument("--as-policies", action="store_true",
                        help="write AutoScalerPolicy objects (scalerd.io/v1alpha1, the objects `run` manages with policies) instead "
                             "of a scalerd/v1 file")


def run(args: argparse.Namespace) -> int:
    if not args.files and not args.from_cluster:
        print("import: give FILE... or --from-cluster", file=sys.stderr)
        return exits.INVALID_INPUT
    objects, skipped = [], []
    for name in args.files:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            print(f"{name}: cannot read: {getattr(error, 'strerror', None) or error}", file=sys.stderr)
            return exits.INVALID_INPUT
        try:
            documents, problems = read_documents(text, source=name)
        except ConfigError as error:
            documents, problems = [], list(error.problems)
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            return exits.INVALID_INPUT
        found, not_found = objects_in(documents, source=name, namespace=args.namespace or DEFAULT_NAMESPACE)
        objects += found
        skipped += not_found
    if args.from_cluster:
        from scalerd.migrate.cluster import ClusterError, list_objects

        try:
            found, notes = list_objects(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace)
        except ClusterError as error:
            print(f"error: {error}", file=sys.stderr)
            return exits.INVALID_INPUT
        objects += found
        skipped += notes
    result = translate(objects, skipped=skipped)
    for line in result.skipped:
        print(line, file=sys.stderr)
    for line in result.unmapped:
        print(line.line(), file=sys.stderr)
    if not result.targets:
        print(f"import: no target could be made from {len(objects)} HorizontalPodAutoscaler/ScaledObject object(s)",
              file=sys.stderr)
        return exits.INVALID_INPUT
    sys.stdout.write(render_policies(result) if args.as_policies else render(result))
    return exits.FAILED if result.unmapped else exits.OK
