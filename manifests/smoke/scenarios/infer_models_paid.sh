HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/_helpers.sh"
require_sandbox
primgate_cmd fetch "https://infer.prim.sh/v1/models" --wallet ephemeral \
    || loud_fail "paid GET /infer/v1/models did not return 2xx"
