"""Scenario scripts (YAML) and the machinery that runs them against live servers."""
