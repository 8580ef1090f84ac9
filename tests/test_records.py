"""Item records rebuilt from report properties: the node id supplies test id and node id."""

from __future__ import annotations

import pytest

from pytest_primgate import records as rp


@pytest.mark.parametrize(("nodeid", "test_id"), [
    ("smoke-test-plan.json::store::ST-1", "ST-1"),
    ("sub/dir/smoke-test-plan.json::store::a::b", "a::b"),
    ("smoke/manifest.toml::health", "health"),
    ("smoke/manifest.toml::odd::name", "odd::name"),
    ("p.json::onboarding::canary", "canary"),
])
def test_the_test_id_is_what_the_node_id_ends_with(nodeid: str, test_id: str) -> None:
    assert rp.node_test_id(nodeid) == test_id


def test_a_record_takes_its_ids_from_the_report_unless_the_item_says_otherwise() -> None:
    props = {rp.KIND: "plan", rp.GROUP: "store", rp.PRIM: "store", rp.OUTCOME: "passed"}
    record = rp.record_from_report(
        "smoke-test-plan.json::store::ST-1", "call", "passed", props, "", 0.1, "")
    assert record is not None
    assert (record.nodeid, record.test_id, record.group) == (
        "smoke-test-plan.json::store::ST-1", "ST-1", "store")
    opaque = rp.record_from_report(  # holdout items carry their opaque id as a property
        "holdout/m01::H-0123456789", "call", "passed", {**props, rp.TEST_ID: "H-0123456789"},
        "", 0.1, "")
    assert opaque is not None and opaque.test_id == "H-0123456789"
    assert rp.record_from_report("test_x.py::test_y", "call", "passed", {}, "", 0.1, "") is None
