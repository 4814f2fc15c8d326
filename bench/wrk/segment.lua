-- wrk script: POST unique Segment track calls (or any JSON body) with Basic auth.
-- args: <authorization header> <run id>. Prints one JSON line of results in done().
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
end

function init(args)
  auth = args[1]
  prefix = args[2] .. "-" .. tostring(tid)
  counter = 0
end

function request()
  counter = counter + 1
  local body = '{"userId":"user-' .. (counter % 1000) .. '","event":"tap","messageId":"' .. prefix .. '-' ..
    counter .. '","properties":{"screen":"home","n":' .. counter .. ',"premium":false}}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = auth}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
