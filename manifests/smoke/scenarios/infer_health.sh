HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/_helpers.sh"
require_sandbox
command -v curl >/dev/null 2>&1 || loud_skip "NO CURL" "curl is not installed"
curl -fsS -m 10 "$PRIMGATE_SANDBOX_URL/infer/" || loud_fail "GET $PRIMGATE_SANDBOX_URL/infer/ failed"
