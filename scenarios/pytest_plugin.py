"""A pytest plugin: every ``*.scenario.yaml`` (or ``*.scenario.yml``) file is one test.

Installed with wanxin-sandbox and registered through the ``pytest11`` entry point ``wanxin``
(setup.cfg), so ``pytest path/to/test_x.scenario.yaml`` works in any repository. Without
``--bank-url`` the scenario runs in process, as ``wanxin scenario run`` does; with it, against that
bank. The test is named after the scenario's ``name:`` (the file's stem when it has none). A failure
shows the runner's step log (the failing step with its file and line), an invalid file the list of
its problems, never a Python traceback of the runner; ``--junitxml`` records one testcase per file
with its step counts as properties.

Only the stdlib, ``scenarios.templating`` and pytest are imported when pytest starts: the runner and
the bank load when the first scenario runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

from . import templating

SUFFIXES = (".scenario.yaml", ".scenario.yml")


def is_scenario_file(path: Path) -> bool:
    """Whether this plugin collects ``path`` (``test_x.scenario.yaml``, ``x.scenario.yml``)."""
    return path.name.endswith(SUFFIXES)


@dataclass(frozen=True)
class Options:
    """What the command line (or the environment) says about where the scenarios run."""

    bank_url: Optional[str] = None
    platform_url: Optional[str] = None
    sim_token: Optional[str] = None
    variables: dict[str, str] = field(default_factory=dict)
    platforms: Optional[list[dict]] = None


OPTIONS = pytest.StashKey[Options]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wanxin", "wanxin-sandbox scenarios (*.scenario.yaml files)")
    group.addoption("--bank-url", dest="wanxin_bank_url", metavar="URL", default=None,
                    help="Run scenarios against this bank instead of starting one in process [env WANXIN_BANK_URL].")
    group.addoption("--platform-url", dest="wanxin_platform_url", metavar="URL", default=None,
                    help="Run scenarios against this platform instead of starting the built-in one "
                         "[env WANXIN_PLATFORM_URL].")
    group.addoption("--var", dest="wanxin_vars", metavar="NAME=VALUE", action="append", default=[],
                    help="Set the scenario variable NAME (over the file's vars:); repeatable.")
    group.addoption("--sim-token", dest="wanxin_sim_token", metavar="TOKEN", default=None,
                    help="The --bank-url bank's operator credential [env WANXIN_SIM_TOKEN].")
    group.addoption("--platform", dest="wanxin_platforms", metavar="SPEC", action="append", default=[],
                    help="For platform: external with the bank in process: a platform the bank trusts, repeatable, "
                         "as 'wanxin bank serve --platform' takes it (no=acme,key=PATH,notify=URL[,…]).")


def pytest_configure(config: pytest.Config) -> None:
    """Read the options once; a bad ``--var`` or ``--platform`` is a usage error before anything runs."""
    try:
        variables = templating.parse_vars(config.getoption("wanxin_vars"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    platforms = None
    if config.getoption("wanxin_platforms"):
        from bank_depository.services.platforms import PlatformSpecError, parse_spec

        try:
            platforms = [parse_spec(text) for text in config.getoption("wanxin_platforms")]
        except PlatformSpecError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[OPTIONS] = Options(
        bank_url=config.getoption("wanxin_bank_url") or os.environ.get("WANXIN_BANK_URL") or None,
        platform_url=config.getoption("wanxin_platform_url") or os.environ.get("WANXIN_PLATFORM_URL") or None,
        sim_token=config.getoption("wanxin_sim_token") or os.environ.get("WANXIN_SIM_TOKEN") or None,
        variables=variables, platforms=platforms)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: one test."""

    def item_name(self) -> str:
        """The scenario's ``name:``, or the file's stem (without ``.scenario``) when it has none or cannot be
        read (running it then reports why)."""
        import yaml

        stem = self.path.name
        for suffix in SUFFIXES + (".yaml", ".yml"):
            if stem.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return stem
        name = data.get("name") if isinstance(data, dict) else None
        return name.strip() if isinstance(name, str) and name.strip() else stem

    def collect(self):
        yield ScenarioItem.from_parent(self, name=self.item_name())


class ScenarioItem(pytest.Item):
    """Runs the file with :func:`scenarios.runner.run_file`; the step log is the report."""

    def run_options(self) -> Options:
        """Where this scenario runs: the plugin's options (the repository's own scenarios override this)."""
        return self.config.stash.get(OPTIONS, Options())

    def runtest(self) -> None:
        from scenarios import runner, spec

        opts = self.run_options()
        lines: list[str] = []
        try:
            scenario = spec.load(self.path, variables=opts.variables)
            external = scenario.platform == "external"
            if bool(opts.bank_url) != bool(opts.platform_url) and not (opts.bank_url and external):
                raise ScenarioInvalid([f"{self.path}: give both --bank-url and --platform-url, or neither"
                                       " (a scenario with platform: external needs only --bank-url)"])
            result = runner.run_file(self.path, bank_url=opts.bank_url, platform_url=opts.platform_url,
                                     sim_token=opts.sim_token if opts.bank_url else None,
                                     variables=opts.variables, platforms=opts.platforms, echo=lines.append)
        except spec.ScenarioError as exc:
            # a CI report still names the file: nothing ran, and ``problems`` says how many to fix
            for key, value in (("scenario", self.name), ("file", self.nodeid.split("::")[0]),
                               ("problems", len(exc.problems))):
                self.user_properties.append((key, value))
            raise ScenarioInvalid(exc.problems) from None
        passed = sum(1 for s in result.steps if s.ok)
        failed = len(result.steps) - passed
        for key, value in (("scenario", scenario.name), ("file", self.nodeid.split("::")[0]),
                           ("steps", len(scenario.steps)), ("steps_passed", passed),
                           ("steps_failed", failed), ("steps_not_run", len(scenario.steps) - len(result.steps))):
            self.user_properties.append((key, value))
        if not result.ok:
            raise ScenarioFailed(lines, result)
        # shown with -rP, and in the junit XML's system-out with -o junit_logging=system-out
        self.add_report_section("call", "stdout", "\n".join(lines))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style=None):
        exc = excinfo.value
        if isinstance(exc, ScenarioFailed):
            return exc.render(str(self.path))
        if isinstance(exc, ScenarioInvalid):
            first = _unprefixed(exc.problems[0], str(self.path)) if exc.problems else "invalid"
            count = f"{len(exc.problems)} problems, " if len(exc.problems) > 1 else ""
            return StepLog([f"✗ {p}" for p in exc.problems], Crash(str(self.path), 0, f"invalid ({count}{first})"))
        return super().repr_failure(excinfo, style=style)  # a bug in the runner: its traceback helps

    def reportinfo(self):
        return self.path, None, f"scenario: {self.name}"


class ScenarioFailed(Exception):
    """A step failed, or the run could not start (``result.error``); ``lines`` is what the runner printed."""

    def __init__(self, lines: list[str], result: Any):
        super().__init__("\n".join(lines))
        self.lines = lines
        self.result = result

    def render(self, path: str) -> "StepLog":
        if self.result.error and not self.result.steps:  # the run did not start (an unreachable bank, …)
            return StepLog([f"✗ {self.result.error}"], Crash(path, 0, _unprefixed(self.result.error, path)))
        bad = next((s for s in self.result.steps if not s.ok), None)
        headline = self.result.error or "failed"
        if bad is not None:
            headline = f"step {bad.number} {bad.name}: {bad.detail.splitlines()[0] if bad.detail else 'failed'}"
        return StepLog(self.lines, Crash(path, bad.line if bad is not None else 0, headline))


class ScenarioInvalid(Exception):
    """The file cannot run: every problem, one a line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def _unprefixed(message: str, path: str) -> str:
    """A problem without the file name it starts with (the summary line names the test already)."""
    return message[len(path) + 2:] if message.startswith(path + ": ") else message


@dataclass
class Crash:
    """Where and why, as pytest's short summary (``FAILED … - message``) and ``--tb=line`` show it."""

    path: str
    lineno: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {self.message}" if self.lineno else f"{self.path}: {self.message}"


class StepLog:
    """A failure as the lines the runner printed; a failed line in red on a terminal.

    pytest prints it through ``toterminal``; the junit XML and xdist take ``str()``; ``reprcrash`` gives the
    one-line message (the junit failure's ``message``)."""

    def __init__(self, lines: list[str], crash: Crash):
        self.lines = lines
        self.reprcrash = crash

    def toterminal(self, tw) -> None:
        for line in self.lines:
            failed = "✗" in line or line.lstrip().startswith("FAILED")
            tw.line(line, red=failed, bold=failed)

    def __str__(self) -> str:
        return "\n".join(self.lines)
