"""constraints/image.txt pins every package the daemon's image installs (setup.cfg's install_requires and what they
need), none of the plot extra; the Dockerfile installs through it. CI resolves it for real (.ci/run)."""
from __future__ import annotations

import configparser
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints" / "image.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, separator, version = line.partition("==")
            assert separator and version and canonicalize_name(name) == name, f"not NAME==VERSION: {line!r}"
            assert name not in pins, f"pinned twice: {name}"
            pins[name] = version
    return pins


def _setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg")
    return parser


def _install_requires() -> list[Requirement]:
    return [Requirement(line) for line in _setup_cfg()["options"]["install_requires"].splitlines() if line.strip()]


def test_each_install_requirement_is_pinned_within_its_range():
    pins = _pins()
    unpinned_or_outside = [str(requirement) for requirement in _install_requires()
                           if not requirement.specifier.contains(pins.get(canonicalize_name(requirement.name), ""))]
    assert unpinned_or_outside == []


def test_what_the_requirements_need_is_pinned_too():
    needed, stack = set(), [requirement.name for requirement in _install_requires()]
    while stack:
        name = canonicalize_name(stack.pop())
        if name in needed:
            continue
        needed.add(name)
        for line in distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                stack.append(requirement.name)
    assert sorted(needed - set(_pins())) == []


def test_matplotlib_is_the_plot_extra_and_not_in_the_image():
    extras = _setup_cfg()["options.extras_require"]
    assert [Requirement(line).name for line in extras["plot"].splitlines() if line.strip()] == ["matplotlib"]
    assert "matplotlib" not in {requirement.name for requirement in _install_requires()}
    assert "matplotlib" not in _pins()


def test_the_image_installs_through_the_pins():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "COPY constraints/image.txt ./constraints/image.txt" in dockerfile
    assert "RUN pip install --no-cache-dir --prefix=/install -c constraints/image.txt ." in dockerfile
