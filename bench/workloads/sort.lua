-- sorting: table.sort with a comparator, on pseudo-random data (30,000 values, N rounds;
-- the array stays small enough for lua-home's 1.5 MB heap). The generator works in floats,
-- exactly, so that fengari's 32-bit integers give the same checksum.
local rounds, size = N or 4, 30000
local seed, check = 42.0, 0.0
local a = {}
for round = 1, rounds do
  for i = 1, size do seed = (seed * 16807) % 2147483647 a[i] = seed end
  table.sort(a, function(x, y) return x > y end)
  for i = 1, size, 97 do check = (check * 31 + a[i]) % 1000000007 end
end
return math.floor(check)
