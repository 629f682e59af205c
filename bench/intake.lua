-- wrk script for bench/intake: POSTs GitHub label deliveries as GitHub
-- would send them, each for an issue of its own, so that each one queues a
-- job (handoff answers a label event for an issue whose implementation is
-- queued as a duplicate of it), and each with a new X-GitHub-Delivery.
-- The deliveries are signed beforehand: the body differs only in the
-- issue's number, and the signatures are read from a file.
--
-- Environment:
--   BENCH_TEMPLATE    the body, with @NUMBER (7 bytes) where the issue
--                     number goes
--   BENCH_SIGNATURES  one "sha256=<64 hex digits>" a line: line i signs the
--                     body for issue BENCH_FIRST + i - 1 (numbers of 7
--                     digits)
--   BENCH_FIRST       the first issue's number
--   BENCH_THREADS     wrk's thread count: thread t takes lines t+1,
--                     t+1+THREADS, ...
--   BENCH_EVENT       X-GitHub-Event (default "issues")
--   BENCH_PATH        the URL path (default "/hooks/github")

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " must be set in the environment")
  end
  return v
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- 8 bytes of /dev/urandom in hex: each thread gets its own prefix, so ids
-- stay unique across threads and across runs against the same store.
local function random_hex()
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(8)
  f:close()
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- The request is formatted once, around markers where the signature, the
-- delivery id and the number go; each request is then one concatenation
-- (a function made for the markers' order), which keeps wrk's own CPU use
-- small next to the server's.
local pieces, build
-- The signatures stay one string (lines of SIGLEN bytes): a table of a
-- million strings would be marked by every garbage collection, and wrk
-- makes a 14 KB string of garbage per request.
local SIGLEN = 72
local sigs, nsigs
local prefix
local counter, next_line, stride, first = 0, 0, 1, 0
exhausted = 0

function init(args)
  local body = slurp(need("BENCH_TEMPLATE"))
  local event = os.getenv("BENCH_EVENT") or "issues"
  local path = os.getenv("BENCH_PATH") or "/hooks/github"
  local marks = { sig = "@@BENCH-SIGNATURE@@", id = "@@BENCH-DELIVERY@@",
    num = "@NUMBER" }
  local req, at, from, i

  sigs = slurp(need("BENCH_SIGNATURES"))
  assert(#sigs % SIGLEN == 0 and sigs:sub(SIGLEN, SIGLEN) == "\n",
    "BENCH_SIGNATURES: lines of " .. SIGLEN .. " bytes")
  nsigs = #sigs / SIGLEN
  first = tonumber(need("BENCH_FIRST"))
  stride = tonumber(need("BENCH_THREADS"))
  next_line = tid + 1
  prefix = random_hex()
  assert(select(2, body:gsub(marks.num, "")) == 1,
    "BENCH_TEMPLATE must hold @NUMBER once")
  req = wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = event,
    ["X-GitHub-Hook-ID"] = "1",
    ["X-Hub-Signature-256"] = marks.sig,
    ["X-GitHub-Delivery"] = marks.id,
  }, body)
  -- The markers in the order they appear (headers come in no set order).
  at = {}
  for kind, m in pairs(marks) do
    i = req:find(m, 1, true)
    at[#at + 1] = { pos = i, kind = kind, len = #m }
  end
  table.sort(at, function(a, b) return a.pos < b.pos end)
  pieces, from = {}, 1
  local code = "local P = ... return function(sig, id, num) return P[1]"
  for k, m in ipairs(at) do
    pieces[#pieces + 1] = req:sub(from, m.pos - 1)
    code = code .. " .. " .. m.kind .. " .. P[" .. (k + 1) .. "]"
    from = m.pos + m.len
  end
  pieces[#pieces + 1] = req:sub(from)
  build = assert(loadstring(code .. " end"))(pieces)
end

function request()
  local line = next_line

  if line > nsigs then
    -- Out of signed deliveries: send the first again (a duplicate) and
    -- say so at the end; bench/intake fails the run.
    exhausted = exhausted + 1
    line = tid + 1
  else
    next_line = next_line + stride
  end
  counter = counter + 1
  return build(sigs:sub((line - 1) * SIGLEN + 1, line * SIGLEN - 1),
    prefix .. "-" .. counter, tostring(first + line - 1))
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + (t:get("exhausted") or 0)
  end
  if n > 0 then
    io.write(string.format("EXHAUSTED: %d requests had no signed delivery"
      .. " of their own left\n", n))
  end
end
