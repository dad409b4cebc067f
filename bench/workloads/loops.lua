-- numeric loops: integer arithmetic and bit operations (kept below 2^31: fengari's integers
-- have 32 bits)
local n, acc = N or 5000000, 0
for i = 1, n do
  acc = ((acc + i * 7 - (i // 3)) ~ (i & 1023)) % 1000003
end
return acc
