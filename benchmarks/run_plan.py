"""Running plan tests against the sandbox vs a plain pytest + httpx suite doing the same.

1. 1,000 free GET plan tests (status + body shape) vs one parametrized pytest test doing the
   same requests and checks with one keep-alive ``httpx.Client`` (SPEC §12: ratio ≤ 1.2).
   Both run with one attempt per item (``--primgate-runs 1``); the default 2-of-3 majority
   sends two requests per passing item and is printed for information.
2. A latency-bound plan: 100 ms injected latency on every request, 40 tests in 8 independent
   chains of 5, with ``-n 8`` so independent chains overlap. The time the latency adds (same
   run without latency subtracted, which removes worker start-up) is compared with the critical
   path of the ``depends_on`` graph, 5 × 100 ms (target ≤ 1.5×; fully serial would add 4 s).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_measured

from pytest_primgate.sandbox.process import start_sandbox

N = 1000
BASELINE = '''
import httpx, pytest, os

URL = os.environ["SANDBOX_URL"] + "/store/"

@pytest.fixture(scope="session")
def client():
    with httpx.Client(timeout=30) as c:
        yield c

@pytest.mark.parametrize("i", range({n}))
def test_health(client, i):
    r = client.get(URL)
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body["service"], str) and body["status"] == "ok"
'''


def free_plan(n: int) -> dict[str, object]:
    tests = [{
        "id": f"H-{i}", "service": "store.sh", "test": "health", "method": "GET",
        "endpoint": "https://store.prim.sh/", "input": None,
        "expected": {"status": 200, "body": {"service": "string", "status": "ok"}},
        "depends_on": [], "captures": {}, "notes": "Free.",
    } for i in range(n)]
    return {"plan": "bench", "version": 1, "network": "Base Sepolia (eip155:84532)",
            "context": "", "groups": [{"id": "health", "name": "h", "prompt": "",
                                       "tests": [t["id"] for t in tests]}], "tests": tests}


def chain_plan(chains: int, length: int) -> dict[str, object]:
    tests = []
    groups = []
    for c in range(chains):
        ids = [f"C{c}-{i}" for i in range(length)]
        groups.append({"id": f"chain{c}", "name": "c", "prompt": "", "tests": ids})
        for i, tid in enumerate(ids):
            tests.append({
                "id": tid, "service": "store.sh", "test": "step", "method": "GET",
                "endpoint": "https://store.prim.sh/", "input": None, "expected": {"status": 200},
                "depends_on": [ids[i - 1]] if i else [], "captures": {}, "notes": "Free.",
            })
    return {"plan": "bench", "version": 1, "network": "x", "context": "", "groups": groups,
            "tests": tests}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, start_sandbox() as sandbox:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "base").mkdir()
        (root / "base" / "test_baseline.py").write_text(BASELINE.format(n=N))
        (root / "plan").mkdir()
        (root / "plan" / "smoke-test-plan.json").write_text(json.dumps(free_plan(N)))
        env = {"SANDBOX_URL": sandbox.url}
        common = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
        base_urls = ["--primgate-base-url", f"*.prim.sh={sandbox.url}/{{prim}}"]
        baseline = run_measured([*common, "base"], cwd=root, env=env)
        ours = run_measured(
            [*common, "--primgate", *base_urls, "--primgate-runs", "1", "plan"], cwd=root, env=env
        )
        default = run_measured([*common, "--primgate", *base_urls, "plan"], cwd=root, env=env,
                               repeat=1)
        print(f"{N} free GETs, plain pytest + httpx: {baseline.wall:.2f} s")
        print(f"{N} free GETs, primgate (1 attempt): {ours.wall:.2f} s "
              f"ratio {ours.wall / baseline.wall:.2f} (target <= 1.2)")
        print(f"{N} free GETs, primgate default 2-of-3 (2 requests per passing item): "
              f"{default.wall:.2f} s")

        (root / "chains").mkdir()
        chains, length = 8, 5
        chain_file = root / "chains" / "smoke-test-plan.json"
        chain_file.write_text(json.dumps(chain_plan(chains, length)))
        xdist = [*common[:-2], "-n", str(chains), "--primgate", *base_urls, "--primgate-runs", "1"]
        sandbox.set_faults([])
        zero = run_measured([*xdist, "chains"], cwd=root, repeat=3)
        for latency in (0.1, 0.5):
            sandbox.set_faults([{"path_glob": "/store/*", "latency_ms": latency * 1000}])
            slow = run_measured([*xdist, "chains"], cwd=root, repeat=3)
            critical = length * latency
            added = max(slow.wall - zero.wall, 0.0)
            print(f"latency-bound: {chains} chains x {length} tests, {latency * 1000:.0f} ms each, "
                  f"-n {chains}: {slow.wall:.2f} s with latency, {zero.wall:.2f} s without; "
                  f"latency added {added:.2f} s vs critical path {critical:.2f} s "
                  f"(serial would add {chains * length * latency:.1f} s); "
                  f"ratio {added / critical:.2f} (target <= 1.5)")
        sandbox.set_faults([])

if __name__ == "__main__":
    main()
