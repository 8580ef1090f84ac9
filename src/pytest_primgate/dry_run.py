"""Rows of ``--primgate-dry-run``: what each selected item would do, with nothing sent."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_primgate import checks
from pytest_primgate import records as rp
from pytest_primgate.gate import resolve_gate
from pytest_primgate.items import CanaryItem, PlanItem, ScenarioItem
from pytest_primgate.report.terminal import DryRunRow
from pytest_primgate.session import get_session
from pytest_primgate.settings import get_settings

SANDBOX_PLACEHOLDER = "http://127.0.0.1:<port>"
"""The sandbox's address in a dry run: it is not started, its port is chosen when it is."""


def dry_run_rows(config: pytest.Config, items: Sequence[pytest.Item]) -> list[DryRunRow]:
    """One row per selected primgate item, URLs rewritten as they would be sent."""
    settings = get_settings(config)
    session = get_session(config)
    urlmap = settings.urlmap
    if settings.sandbox and session.sandbox_url is None:  # not started for a dry run
        from pytest_primgate.lifecycle import sandbox_hosts

        urlmap = urlmap.merged(sandbox_hosts(SANDBOX_PLACEHOLDER))
    rows: list[DryRunRow] = []
    for item in items:
        props = rp.as_dict(item.user_properties)
        if rp.KIND not in props:
            continue
        raw_threshold = props.get(rp.THRESHOLD)
        gate = resolve_gate(
            str(props[rp.PRIM]), str(props[rp.PRIM_STATUS]),
            float(raw_threshold) if raw_threshold not in (None, "") else None,
            settings.thresholds,
        )
        if isinstance(item, PlanItem):
            variables = {**session.base_variables, **settings.variables}
            url = urlmap.rewrite(checks.render(item.test.endpoint, variables))
            method = item.test.method
            pulled = " (pulled in as dependency)" if props.get(rp.PULLED_IN) else ""
            group = item.test.group + pulled
            ident = item.test.id
        elif isinstance(item, ScenarioItem):
            url = f"bash {item.scenario.script}"
            method = "RUN"
            group = "smoke"
            ident = item.scenario.name
        elif isinstance(item, CanaryItem):
            from pytest_primgate.canary.run import model_target

            docs = item.spec.docs(config.rootpath, settings.canary_llms_dir).label
            docs = docs.removeprefix(str(config.rootpath) + "/")
            group = f"{item.group_id} (canary, {item.spec.interface}, docs: {docs})"
            ident = "canary"
            method = "AGENT"
            url = settings.urlmap.rewrite(model_target(config, item.spec)[0])
        else:  # pragma: no cover - only primgate items carry KIND
            continue
        rows.append(DryRunRow(
            group=group, id=ident, method=method, target=url, prim=gate.prim or "-",
            status=str(props[rp.PRIM_STATUS]), threshold=gate.threshold,
        ))
    return rows
