"""Which llms.txt a group's agent reads, and the prompt built from it (pure but for file reads).

Wording follows prim.sh's ``canary-runner.ts`` so a real model gets the same instructions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_DOC_BYTES = 256 * 1024
NO_DOCS = "(API documentation not found. Proceed based on your knowledge of the service.)"

API_SYSTEM = (
    "You are an API tester for prim.sh. Use the http_request tool to make API calls. "
    "Be concise and structured in your final report."
)
CLI_SYSTEM = "\n".join((
    "You have a shell_exec tool. You are testing a CLI by executing a multi-step runbook.",
    "",
    "Rules:",
    "- Execute ONE command per shell_exec call. Do not combine commands with && or newlines.",
    "- After each command, read the output and decide what to do next based on the runbook "
    "instructions.",
    "- If a command prints a runbook or step list, execute each step sequentially using "
    "separate shell_exec calls.",
    "- Continue until ALL steps are complete or a step fails with no recovery path.",
    "- After all steps, report a structured summary of what passed and failed.",
))
TASK_RULES = "\n".join((
    "For each task:",
    "1. Decide which API call to make based on the docs",
    "2. Make the call using the http_request tool (you have a funded wallet — x402 payments "
    "are handled automatically)",
    "3. If a call fails, try once more with a corrected request. If it fails again, report the "
    "failure and move to the next task. Do NOT retry the same endpoint more than twice.",
    "4. Report: did it work? was anything confusing?",
))

_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class DocSource:
    """Where a group's documentation comes from: a file, or a URL fetched at run time."""

    path: Path | None = None
    url: str | None = None

    @property
    def label(self) -> str:
        """For the dry run and reports."""
        return str(self.path) if self.path is not None else (self.url or "(none)")


def group_prims(services: Sequence[str]) -> list[str]:
    """Prim ids a group covers, from its tests' ``service`` (``store.sh`` -> ``store``)."""
    seen: dict[str, None] = {}
    for service in services:
        if service:
            seen.setdefault(service.removesuffix(".sh"), None)
    return list(seen)


def search_roots(plan_dir: Path, rootdir: Path) -> list[Path]:
    """The plan's directory and its parents up to (and including) rootdir."""
    roots = [plan_dir]
    for parent in plan_dir.resolve().parents:
        roots.append(parent)
        if parent == rootdir.resolve() or len(roots) > 12:
            break
    return roots


def find_docs(
    prims: Sequence[str], *, plan_dir: Path, rootdir: Path, llms_dir: Path | None,
    endpoints: Mapping[str, str],
) -> DocSource:
    """``<llms-dir>/<prim>/llms.txt``, then ``site/<prim>/llms.txt`` beside the plan or in a
    parent directory, then ``https://<endpoint>/llms.txt``; ``llms.txt`` of the site when the
    group spans several prims (or none)."""
    rel = Path(prims[0]) / "llms.txt" if len(prims) == 1 else Path("llms.txt")
    candidates: list[Path] = []
    if llms_dir is not None:
        candidates.append(llms_dir / rel)
    candidates.extend(root / "site" / rel for root in search_roots(plan_dir, rootdir))
    for candidate in candidates:
        if candidate.is_file():
            return DocSource(path=candidate)
    if len(prims) == 1 and endpoints.get(prims[0]):
        return DocSource(url=f"https://{endpoints[prims[0]]}/llms.txt")
    return DocSource()


def read_docs(path: Path) -> str:
    """A llms.txt file, at most ``MAX_DOC_BYTES``."""
    with path.open("rb") as handle:
        return handle.read(MAX_DOC_BYTES).decode("utf-8", errors="replace")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """``{{name}}`` replaced where ``variables`` has it (setup hooks provide e.g. invite codes)."""
    return _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), text)


def api_prompt(group_prompt: str, service_name: str, endpoint: str, docs: str) -> str:
    """The user message of an API group (upstream's ``buildCanaryPrompt``)."""
    return f"""You are testing {service_name} ({endpoint}).

Read the API documentation below, then complete the following tasks:
{group_prompt}

{TASK_RULES}

When you have completed all tasks, provide a final structured report with:
- Which steps worked and which failed
- Any UX observations (confusing error messages, unclear docs, missing info, broken workflows)
- Overall assessment

## API Documentation
{docs}"""
