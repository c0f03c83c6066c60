"""The scenario step vocabulary is declared once (``scenarios.spec.STEPS``): the README lists it,
validation reads it, and the runner has a function for each step and none besides."""
from __future__ import annotations

import pathlib
import re

from scenarios import spec
from scenarios.runner import Runner

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_steps(text: str) -> set[str]:
    """The step names of the README's ``Steps:`` paragraph (parenthesised remarks left out)."""
    start = text.index("\nSteps:")
    paragraph = text[start:text.index("\n\n", start)]
    while re.search(r"\([^()]*\)", paragraph):
        paragraph = re.sub(r"\([^()]*\)", "", paragraph)
    listing = paragraph.split(".")[0]
    return set(re.findall(r"`([a-z_]+)`", listing))


def test_the_readme_lists_exactly_the_registered_steps():
    listed = readme_steps(README.read_text(encoding="utf-8"))
    assert {"missing from the README": sorted(set(spec.STEPS) - listed),
            "in the README, not a step": sorted(listed - set(spec.STEPS))} == \
        {"missing from the README": [], "in the README, not a step": []}


def test_the_readme_parser_ignores_remarks_in_parentheses():
    text = "x\nSteps: `a`, `b` (`method`: `c` (`d`)), and `e` (`true`, or `{x?}`).\nMore `f`.\n\nnext"
    assert readme_steps(text) == {"a", "b", "e"}


def test_every_step_has_a_runner_function_and_every_runner_function_is_a_step():
    runners = {name for name in vars(Runner) if name.startswith("step_")}
    assert sorted(d.runner for d in spec.STEPS.values() if not callable(getattr(Runner, d.runner, None))) == []
    assert sorted(runners - {d.runner for d in spec.STEPS.values()}) == []


def test_each_declaration_is_consistent():
    for d in spec.STEPS.values():
        assert d.kind in ("none", "actor", "project", "int", "map", "bool_or_map", "any_map"), d.name
        assert d.required <= d.keys, d.name
        named = {key for key, _ in d.actors} | set(d.projects)
        assert named <= d.required, (d.name, "a key naming an actor or project must be required")
        assert not d.single or d.actors, d.name
