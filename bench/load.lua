-- wrk script for `make bench-load`: a fixed, repeating mix of reads and
-- writes over all three stores. STRATA_KEY comes from the environment.
local key = os.getenv("STRATA_KEY")
local json = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
local auth = { ["Authorization"] = "Bearer " .. key }
local blob = string.rep("x", 1024)
local n = 0
local reqs = {
  function() return wrk.format("POST", "/v1/d1/query", json, '{"sql":"insert into load_d1 (v) values (?)","params":["w' .. n .. '"]}') end,
  function() return wrk.format("POST", "/v1/d1/query", json, '{"sql":"select id, v from load_d1 order by id desc limit 5"}') end,
  function() return wrk.format("POST", "/v1/pg/query", json, '{"sql":"insert into load_pg (v) values ($1)","params":["w' .. n .. '"]}') end,
  function() return wrk.format("GET", "/v1/rest/load_pg?select=id,v&order=id.desc&limit=5", auth) end,
  function() return wrk.format("POST", "/v1/pg/query", json, '{"sql":"select count(*) as n from load_pg"}') end,
  function() return wrk.format("PUT", "/v1/objects/load/" .. (n % 50), auth, blob) end,
  function() return wrk.format("GET", "/v1/objects/load/seed", auth) end,
  function() return wrk.format("GET", "/v1/rest/load_d1?select=id&order=id.desc&limit=5", auth) end,
}
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]()
end
local bad = 0
response = function(status, headers, body)
  if status >= 400 then
    bad = bad + 1
    if bad <= 5 then io.stderr:write("unexpected " .. status .. ": " .. string.sub(body, 1, 200) .. "\n") end
  end
end
