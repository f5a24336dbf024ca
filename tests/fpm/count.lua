-- wrk script shared by tests/fpm/run.sh and scripts/bench/stack.sh: counts
-- what token.php answered across all threads and prints one line:
--   WRK <requests> <requests/s> <empty> <non-200> <distinct tokens> <max ms> <p99 ms> <lock timeouts>
-- ("empty": an answer starting with EMPTY, i.e. getToken() gave ""; "lock
-- timeouts": empty answers whose reason is a timeout waiting for the cache lock).
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) empty = 0; bad = 0; lockwaits = 0; tokens = {} end
function response(status, headers, body)
    if status ~= 200 then bad = bad + 1 end
    if body:sub(1, 5) == "EMPTY" then
        empty = empty + 1
        if body:find("cache lock", 1, true) then lockwaits = lockwaits + 1 end
    elseif status == 200 then
        tokens[body] = true
    end
end
function done(summary, latency, requests)
    local e, b, l, seen, n = 0, 0, 0, {}, 0
    for _, t in ipairs(threads) do
        e = e + t:get("empty"); b = b + t:get("bad"); l = l + t:get("lockwaits")
        for k, _ in pairs(t:get("tokens")) do
            if not seen[k] then seen[k] = true; n = n + 1 end
        end
    end
    io.write(string.format("WRK %d %.0f %d %d %d %d %.2f %d\n", summary.requests,
        summary.requests / (summary.duration / 1e6), e, b, n, latency.max / 1000,
        latency:percentile(99) / 1000, l))
end
