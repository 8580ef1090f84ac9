HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/_helpers.sh"
require_sandbox
# primgate fetch (not curl): it retries transient faults the way the plan tests do, and the
# scenario item records those retries.
primgate_cmd fetch "https://infer.prim.sh/" --no-setup \
    || loud_fail "GET https://infer.prim.sh/ (the sandbox's /infer/) failed"
