# Shared helpers for the example smoke scenarios (source, do not run).
# Contract: exit 0 = PASS, exit 77 = loud SKIP, anything else = FAIL.

loud_skip() {  # loud_skip KIND REASON
    {
        echo "================================================================"
        echo "  SMOKE SKIPPED — $1"
        echo "  scenario: ${PRIMGATE_SCENARIO:-${WG_SMOKE_SCENARIO:-?}}"
        echo "  reason:   $2"
        echo "================================================================"
    } >&2
    exit 77
}

loud_fail() {  # loud_fail REASON
    {
        echo "================================================================"
        echo "  SMOKE FAILED"
        echo "  scenario: ${PRIMGATE_SCENARIO:-${WG_SMOKE_SCENARIO:-?}}"
        echo "  reason:   $1"
        echo "================================================================"
    } >&2
    exit 1
}

require_sandbox() {
    [ -n "${PRIMGATE_SANDBOX_URL:-}" ] || loud_skip "NO SANDBOX" \
        "PRIMGATE_SANDBOX_URL is not set; run with pytest --primgate --primgate-sandbox"
}

primgate_cmd() {  # the primgate CLI: on PATH, else through the Python that has the package
    if command -v primgate >/dev/null 2>&1; then
        primgate "$@"
    else
        "${PRIMGATE_PYTHON:-python3}" -m pytest_primgate.cli "$@"
    fi
}
