"""What a plan test waits for when plan tests run concurrently (pure logic)."""

from __future__ import annotations

from pytest_primgate.ordering import OrderFacts, waits

CONSTANTS = frozenset({"test_prefix", "runner", "iso_timestamp"})


def fact(tid: str, method: str = "GET", *, deps: tuple[str, ...] = (), uses: str = "",
         captures: tuple[str, ...] = (), plan: str = "p") -> OrderFacts:
    return OrderFacts(f"{plan}::{tid}", plan, tid, method, deps, captures,
                     frozenset(uses.split()) if uses else frozenset())


def ids(result: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {k.split("::")[1]: [d.split("::")[1] for d in v] for k, v in result.items() if v}


def test_depends_on_and_capturers_are_waited_for() -> None:
    tests = [fact("A", "POST", captures=("bucket_id",)), fact("B", deps=("A",)),
             fact("C", uses="bucket_id")]  # uses A's capture without saying so
    assert ids(waits(tests, CONSTANTS)) == {"B": ["A"], "C": ["A"]}


def test_a_write_waits_for_earlier_reads_of_its_resource_and_reads_for_the_write() -> None:
    tests = [
        fact("MK", "POST", captures=("b",)),
        fact("USAGE0", uses="b", deps=("MK",)),     # reads usage_bytes 0
        fact("LIST", uses="b", deps=("MK",)),       # another read: overlaps USAGE0
        fact("PUT", "PUT", uses="b", deps=("MK",)),  # must come after both reads
        fact("GET", uses="b", deps=("PUT",)),
        fact("QUOTA", uses="b", deps=("PUT",)),
        fact("DEL", "DELETE", uses="b", deps=("GET",)),
    ]
    assert ids(waits(tests, CONSTANTS)) == {
        "USAGE0": ["MK"], "LIST": ["MK"], "PUT": ["MK", "USAGE0", "LIST"],
        "GET": ["PUT", "MK"], "QUOTA": ["PUT", "MK"], "DEL": ["GET", "MK", "PUT", "QUOTA"],
    }


def test_constants_name_no_resource_and_later_tests_are_never_waited_for() -> None:
    tests = [fact("A", "POST", uses="test_prefix"), fact("B", "POST", uses="test_prefix runner"),
             fact("C", deps=("D",)), fact("D")]
    assert ids(waits(tests, CONSTANTS)) == {}


def test_plans_are_apart() -> None:
    tests = [fact("A", "POST", uses="agent_address", plan="p"),
             fact("A", "POST", uses="agent_address", plan="q"),
             fact("B", uses="agent_address", plan="q")]
    assert waits(tests, CONSTANTS) == {"p::A": (), "q::A": (), "q::B": ("q::A",)}
