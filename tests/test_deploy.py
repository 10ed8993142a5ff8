"""The files in deploy/ name only metrics the bot exports, so an alert cannot watch a series
that never exists. (`promtool check rules` and `promtool test rules`, in .ci/run, check the
rules themselves.)"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from bot.metrics import BotMetrics
from tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
WATCHERS = [
    DEPLOY / "prometheus" / "alerts.yml",
    DEPLOY / "prometheus" / "alerts_test.yml",
    DEPLOY / "grafana" / "intron-bot.json",
]


def exported_names() -> set[str]:
    """Every series name the bot's registry can expose (`_total`, `_bucket`, ... included)."""
    registry = CollectorRegistry()
    BotMetrics(registry)
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            suffixes = ("_bucket", "_count", "_sum", "_created")
            names |= {family.name + suffix for suffix in suffixes}
    return names


def test_deploy_files_name_only_exported_metrics() -> None:
    exported = exported_names()
    for path in WATCHERS:
        used = set(re.findall(r"\bbot_[a-z_]+\b", path.read_text()))
        assert used, f"{path.name} names no bot metric"
        unknown = sorted(used - exported)
        where = path.relative_to(PROJECT_ROOT)
        assert not unknown, f"{where} names metrics the bot does not export: {unknown}"
