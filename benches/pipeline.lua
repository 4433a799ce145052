-- pipeline.lua - wrk script: every write carries DEPTH pipelined "GET /" requests (default 16);
-- wrk counts each response, so requests/s is responses/s.
--   wrk -t1 -c50 -d10s -s benches/pipeline.lua http://127.0.0.1:18090/ -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local batch = {}
  for i = 1, depth do
    batch[i] = wrk.format("GET", "/")
  end
  req = table.concat(batch)
end

request = function()
  return req
end
