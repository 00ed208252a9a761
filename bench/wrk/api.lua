-- wrk script of the API benchmark (bench/api.py). One script, four kinds of request:
--   wrk ... -s bench/wrk/api.lua URL -- MODE FIRST_ID LAST_ID RUN API_KEY
-- MODE: purchase (POST /api/v1/purchases/), member (GET /api/v1/members/{id}/),
--       baseline-write (POST /bench/baseline/), baseline-read (GET /bench/baseline/members/{id}/).
-- Member ids are drawn at random in [FIRST_ID, LAST_ID]; every purchase has a new
-- order_id (RUN, the thread's number and a counter), and a 3-line basket.
-- At the end, one line "BENCH_RESULT {json}" for bench/api.py to read.

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
end

function init(args)
  mode = args[1]
  first_id = tonumber(args[2])
  last_id = tonumber(args[3])
  run = args[4]
  api_key = args[5]
  sent = 0
  math.randomseed(os.time() * 1000 + thread_id * 7919)
  auth_headers = {["Authorization"] = "Api-Key " .. api_key}
  json_headers = {["Authorization"] = "Api-Key " .. api_key,
                  ["Content-Type"] = "application/json"}
end

local function money(cents)
  return string.format("%d.%02d", math.floor(cents / 100), cents % 100)
end

local function purchase_body(member_id)
  sent = sent + 1
  local shoe = math.random(3000, 12000)
  local socks_qty, socks = math.random(1, 3), math.random(300, 900)
  local bag = math.random(1500, 6000)
  local amount = shoe + socks_qty * socks + bag
  return string.format(
    '{"order_id":"%s-%d-%d","member_id":%d,"amount":"%s","items":[' ..
    '{"sku":"SHOE-%d","category":"shoes","quantity":1,"unit_price":"%s"},' ..
    '{"sku":"SOCK-%d","category":"accessories","quantity":%d,"unit_price":"%s"},' ..
    '{"sku":"BAG-%d","category":"bags","quantity":1,"unit_price":"%s"}]}',
    run, thread_id, sent, member_id, money(amount),
    math.random(1, 40), money(shoe), math.random(1, 20), socks_qty, money(socks),
    math.random(1, 10), money(bag))
end

function request()
  local member_id = math.random(first_id, last_id)
  if mode == "purchase" then
    return wrk.format("POST", "/api/v1/purchases/", json_headers, purchase_body(member_id))
  elseif mode == "member" then
    return wrk.format("GET", "/api/v1/members/" .. member_id .. "/", auth_headers)
  elseif mode == "baseline-write" then
    return wrk.format("POST", "/bench/baseline/", json_headers,
                      string.format('{"member_id":%d,"points":%d}', member_id,
                                    math.random(50, 400)))
  elseif mode == "baseline-read" then
    return wrk.format("GET", "/bench/baseline/members/" .. member_id .. "/", auth_headers)
  end
  error("unknown mode " .. tostring(mode))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.connect, e.read, e.write,
    e.status, e.timeout))
end
