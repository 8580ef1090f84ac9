"""Line positions in JSON text (pure)."""

from __future__ import annotations

from pytest_primgate.manifests.jsonlines import LineIndex, lines_at


def test_lines_at_counts_like_a_line_index_in_and_out_of_order() -> None:
    text = "{\n\n  \"a\": 1,\n  \"b\": [\n 2\n ]\n}\n"
    index = LineIndex(text)
    ascending = list(range(0, len(text), 3))
    assert lines_at(text, ascending) == [index.line(o) for o in ascending]
    shuffled = [20, 4, 4, 0, len(text) - 1, 9]
    assert lines_at(text, shuffled) == [index.line(o) for o in shuffled]
    assert lines_at(text, []) == []
