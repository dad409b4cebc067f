-- table building: arrays and hashes, built and read back
local n, sum = N or 700, 0
for round = 1, n do
  local a, h = {}, {}
  for i = 1, 1000 do a[i] = i * round end
  for i = 1, 300 do h["k" .. (i % 97)] = (h["k" .. (i % 97)] or 0) + a[i] end
  for i = 1, #a, 7 do sum = (sum + a[i]) % 1000000007 end
  for _, v in pairs(h) do sum = (sum + v) % 1000000007 end
end
return sum
