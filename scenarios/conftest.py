"""Every scenario file under scenarios/ is a test: pytest runs it in process.

The items are the pytest plugin's (``scenarios/pytest_plugin.py``: the step log as the failure, step counts
in the junit XML), named after the file's stem and always run in process, whatever ``--bank-url`` says. A
``*.scenario.yaml`` file is left to the plugin, so nothing is collected twice.
"""
from __future__ import annotations

import pytest

from scenarios import pytest_plugin

SLOW = {"scale_1000_investors.yaml"}


def pytest_collect_file(parent, file_path):
    if file_path.suffix in (".yaml", ".yml") and not pytest_plugin.is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest_plugin.ScenarioFile):
    def collect(self):
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        if self.path.name in SLOW:
            item.add_marker(pytest.mark.slow)
        yield item


class ScenarioItem(pytest_plugin.ScenarioItem):
    def run_options(self) -> pytest_plugin.Options:
        return pytest_plugin.Options()  # the built-in platform's scenarios: both apps in process
