-- garbage-heavy allocation: short-lived tables, closures and strings (little live data)
local n, acc = N or 200000, 0
for i = 1, n do
  local t = { i, i + 1, name = "n" .. (i % 100) }
  local f = function() return t[1] + t[2] end
  acc = (acc + f() + #t.name) % 1000000007
end
return acc
