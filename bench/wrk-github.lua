-- wrk script for bench/intake: POSTs one GitHub delivery over and over, as
-- GitHub would send it, each time with a new X-GitHub-Delivery so that every
-- request is a new delivery (handoff answers a repeated id as a duplicate).
--
-- Environment:
--   BENCH_BODY       the delivery's body (a file)
--   BENCH_SIGNATURE  "sha256=<hex HMAC-SHA256(secret, body)>"
--   BENCH_EVENT      X-GitHub-Event (default "issues")
--   BENCH_PATH       the URL path (default "/hooks/github")

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

local body = slurp(need("BENCH_BODY"))
local signature = need("BENCH_SIGNATURE")
local event = os.getenv("BENCH_EVENT") or "issues"
local path = os.getenv("BENCH_PATH") or "/hooks/github"
local marker = "@@BENCH-DELIVERY@@"

-- The request is formatted once, around a marker where the delivery id
-- goes; each request is then two concatenations, which keeps wrk's own CPU
-- use small next to the server's on a shared machine.
local head, tail
local prefix
local counter = 0

function init(args)
  prefix = random_hex()
  local req = wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/bench",
    ["X-GitHub-Event"] = event,
    ["X-GitHub-Hook-ID"] = "1",
    ["X-Hub-Signature-256"] = signature,
    ["X-GitHub-Delivery"] = marker,
  }, body)
  local i, j = req:find(marker, 1, true)
  head = req:sub(1, i - 1)
  tail = req:sub(j + 1)
end

function request()
  counter = counter + 1
  return head .. prefix .. "-" .. counter .. tail
end
