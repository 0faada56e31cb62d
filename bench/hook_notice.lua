-- wrk script: POST pre-signed change notices to Ferry's /hooks/<system>.
--   wrk -s bench/hook_notice.lua URL -- DIR
-- DIR holds t0.txt, t1.txt… (one per wrk thread) from `hook_notices.py gen`: each line is
-- `timestamp|signature|body`, one new record per line, so no request is a replay. Signing
-- happens before the run, so wrk spends its time sending, not hashing. Prints a
-- machine-readable line starting with "JSON " in done(), like ../shared/bench/post.lua.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  ts, sig, body = {}, {}, {}
  for line in io.lines(args[1] .. "/t" .. tid .. ".txt") do
    local t, s, b = line:match("^(%d+)|([^|]+)|(.*)$")
    ts[#ts + 1], sig[#sig + 1], body[#body + 1] = t, s, b
  end
  i = 0
end

function request()
  -- Past the end of the file the last notice repeats: Ferry refuses replays (409), which
  -- shows as non-2xx in the summary, so a too-short file cannot pass unnoticed.
  if i < #body then i = i + 1 end
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-Ferry-Timestamp"] = ts[i],
    ["X-Ferry-Signature"] = sig[i],
  }, body[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_s":%.3f,"rps":%.1f,"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_timeout":%d,"err_status":%d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect, e.read, e.write, e.timeout, e.status))
end
