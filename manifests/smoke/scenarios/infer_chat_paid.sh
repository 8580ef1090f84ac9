HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/_helpers.sh"
require_sandbox
primgate_cmd fetch "https://infer.prim.sh/v1/chat" --method POST --wallet ephemeral --replay-safe \
    --json '{"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "Say hello in exactly three words."}]}' \
    || loud_fail "paid POST /infer/v1/chat did not return 2xx"
