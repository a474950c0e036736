-- wrk script for scripts/load: POSTs ticket requests to /api/uploads/request as many users at once,
-- or (LOAD_KIND=companion) asks @uppy/companion's /s3/params for the same file's signed POST.
-- Environment (set by scripts/load):
--   LOAD_KIND     `app` (the default) or `companion`
--   LOAD_ORIGIN   the app's origin, sent as `origin` (the same-origin guard refuses anything else)
--   LOAD_COOKIES  file of `s3drop_session=…` lines, one per user
--   LOAD_SHA256   base64 SHA-256 of the declared 1024-byte file (any valid digest: nothing is uploaded)
--   LOAD_SECONDS  how long to send; wrk's -d is longer, so that requests still in flight at the end
--                 are answered and counted instead of abandoned (their rows would go uncounted)
--   LOAD_RESULT   file that done() writes its figures to, as key=value lines

local ffi_ok, ffi = pcall(require, "ffi")
if ffi_ok then
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_usec; } load_timeval;
    int gettimeofday(load_timeval *tv, void *tz);
  ]]
end

-- Wall clock in milliseconds (LuaJIT's FFI; os.time's whole seconds otherwise).
local function now_ms()
  if ffi_ok then
    local tv = ffi.new("load_timeval")
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
  end
  return os.time() * 1000
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- setup() runs in wrk's main thread, once per worker thread, before init().
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- Per worker thread from here on: each has its own Lua state and globals.
local cookies = {}
local cursor = 0
local sha256, stop_at, headers
-- wrk calls request() once in thread 0 before the run, to check it; real requests follow a delay().
local live = false
-- Read by done() through thread:get, so globals.
sent, answered, ok, first_ms, last_ms = 0, 0, 0, 0, 0
statuses = {}

local companion = os.getenv("LOAD_KIND") == "companion"

function init(args)
  stop_at = now_ms() + 1000 * tonumber(os.getenv("LOAD_SECONDS") or "30")
  if companion then return end
  for line in io.lines(os.getenv("LOAD_COOKIES")) do
    if line ~= "" then table.insert(cookies, line) end
  end
  assert(#cookies > 0, "no cookies in " .. tostring(os.getenv("LOAD_COOKIES")))
  -- Threads start at opposite ends of the list, so two threads rarely use one user at once.
  cursor = math.floor(id * #cookies / 2) % #cookies
  sha256 = urlencode(assert(os.getenv("LOAD_SHA256"), "LOAD_SHA256 is not set"))
  headers = {
    ["origin"] = assert(os.getenv("LOAD_ORIGIN"), "LOAD_ORIGIN is not set"),
    ["content-type"] = "application/x-www-form-urlencoded",
  }
end

-- Called before every request: past LOAD_SECONDS a connection waits out the run instead of
-- sending, so by the time wrk stops every request sent has had its answer. The wait is not part
-- of any latency (wrk starts the clock when it writes the request).
function delay()
  live = true
  if now_ms() >= stop_at then return 3600 * 1000 end
  return 0
end

function request()
  if live then
    sent = sent + 1
    if first_ms == 0 then first_ms = now_ms() end
  end
  if companion then
    return wrk.format("GET", string.format("/s3/params?filename=load-%d-%d.bin&type=application%%2Foctet-stream", id, sent))
  end
  cursor = cursor % #cookies + 1
  headers["cookie"] = cookies[cursor]
  local body = string.format(
    "file_name=load-%d-%d.bin&size=1024&content_type=application%%2Foctet-stream&sha256=%s", id, sent, sha256)
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  last_ms = now_ms()
  if status == 200 then ok = ok + 1 end
  statuses[status] = (statuses[status] or 0) + 1
end

-- Back in the main thread: add up what the worker threads counted.
function done(summary, latency, requests)
  local total, total_ok, total_sent, first, last = 0, 0, 0, nil, 0
  local by_status = {}
  for _, t in ipairs(threads) do
    total = total + t:get("answered")
    total_ok = total_ok + t:get("ok")
    total_sent = total_sent + t:get("sent")
    local f, l = t:get("first_ms"), t:get("last_ms")
    if f > 0 and (first == nil or f < first) then first = f end
    if l > last then last = l end
    for status, n in pairs(t:get("statuses")) do by_status[status] = (by_status[status] or 0) + n end
  end
  -- Over the sending time plus the last answers, not wrk's whole -d (which includes the idle tail).
  local seconds = (first and last > first) and (last - first) / 1000 or summary.duration / 1e6
  local rps = total / seconds
  local p50, p99 = latency:percentile(50) / 1000, latency:percentile(99) / 1000
  local non200 = total - total_ok
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout

  io.write(string.format("  requests answered  %d (sent %d) in %.2f s\n", total, total_sent, seconds))
  io.write(string.format("  200                %d\n", total_ok))
  local codes = {}
  for status in pairs(by_status) do if status ~= 200 then table.insert(codes, status) end end
  table.sort(codes)
  for _, status in ipairs(codes) do
    io.write(string.format("  %-18s %d%s\n", tostring(status), by_status[status],
      status == 429 and "  (per-user ticket limit hit: raise LOAD_USERS)" or ""))
  end
  io.write(string.format("  requests/s         %.1f\n", rps))
  io.write(string.format("  latency p50        %.2f ms\n", p50))
  io.write(string.format("  latency p99        %.2f ms\n", p99))
  if socket_errors > 0 then
    io.write(string.format("  socket errors      connect %d, read %d, write %d, timeout %d\n",
      errors.connect, errors.read, errors.write, errors.timeout))
  end
  if total_sent ~= total then
    io.write(string.format("  unanswered         %d (still in flight when wrk stopped)\n", total_sent - total))
  end

  local out = os.getenv("LOAD_RESULT")
  if out then
    local f = assert(io.open(out, "w"))
    local parts = {}
    for _, status in ipairs(codes) do table.insert(parts, status .. ":" .. by_status[status]) end
    f:write(string.format(
      "ok=%d\nanswered=%d\nsent=%d\nnon200=%d\nstatuses=%s\nrps=%.1f\np50_ms=%.2f\np99_ms=%.2f\nsocket_errors=%d\n",
      total_ok, total, total_sent, non200, table.concat(parts, ","), rps, p50, p99, socket_errors))
    f:close()
  end
end
