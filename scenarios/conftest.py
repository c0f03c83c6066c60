"""Every scenario file under scenarios/ is a test: pytest runs it in process."""
from __future__ import annotations

import pytest

from scenarios import runner, spec

SLOW = {"scale_1000_investors.yaml"}


def pytest_collect_file(parent, file_path):
    if file_path.suffix in (".yaml", ".yml"):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        if self.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
        yield item


class ScenarioItem(pytest.Item):
    def runtest(self):
        lines: list[str] = []
        result = runner.run_file(self.path, echo=lines.append)
        if not result.ok:
            raise ScenarioFailed("\n".join(lines))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (ScenarioFailed, spec.ScenarioError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, 0, f"scenario: {self.name}"


class ScenarioFailed(Exception):
    pass
