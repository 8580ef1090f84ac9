"""The JSON Schemas shipped with the package, compiled once per process."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for ``schemas/<name>.schema.json`` (``plan``, ``prim``, ``smoke``)."""
    text = resources.files("pytest_primgate.manifests").joinpath(f"schemas/{name}.schema.json")
    return Draft202012Validator(json.loads(text.read_text(encoding="utf-8")))
