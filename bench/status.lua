-- wrk script for bench/status: GETs the status pages as an operator's
-- browser would, with the token, rotating over the index and the pages
-- of the jobs in the store.
--
-- Environment:
--   BENCH_WEB_TOKEN   the [web] token, sent as "Authorization: Bearer"
--   BENCH_JOBS        the jobs whose pages are asked for: ids 1 to
--                     BENCH_JOBS, visited in a stride that spreads
--                     them over the store
--   BENCH_INDEX_EVERY one request in BENCH_INDEX_EVERY is GET / (the
--                     rest are GET /jobs/N); 1 asks for the index alone
--   BENCH_THREADS     wrk's thread count: each thread starts elsewhere
--                     in the rotation

local function need(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " must be set in the environment")
  end
  return v
end

local function gcd(a, b)
  while b ~= 0 do
    a, b = b, a % b
  end
  return a
end

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- Every request is formatted once: the index, then one per job.
local index, pages, npages, every, counter, at, stride

function init(args)
  local headers = {
    ["Authorization"] = "Bearer " .. need("BENCH_WEB_TOKEN"),
    ["Accept"] = "text/html",
    ["User-Agent"] = "handoff-bench/status",
  }
  local jobs = tonumber(need("BENCH_JOBS"))
  local nthreads = tonumber(need("BENCH_THREADS"))

  every = tonumber(need("BENCH_INDEX_EVERY"))
  assert(jobs >= 1 and every >= 1, "BENCH_JOBS and BENCH_INDEX_EVERY >= 1")
  index = wrk.format("GET", "/", headers)
  pages, npages = {}, jobs
  for id = 1, jobs do
    pages[id] = wrk.format("GET", "/jobs/" .. id, headers)
  end
  -- A stride about a third of the way round and prime to the count, so
  -- that consecutive requests ask for jobs far apart.
  stride = math.floor(jobs / 3) + 1
  while gcd(stride, jobs) ~= 1 do
    stride = stride + 1
  end
  at = math.floor(tid * jobs / nthreads)
  counter = tid
end

function request()
  counter = counter + 1
  if counter % every == 0 then
    return index
  end
  at = (at + stride) % npages
  return pages[at + 1]
end
