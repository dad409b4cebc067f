-- strings: concatenation, string.format, find, gsub, byte/char
local n, total = N or 50000, 0
local parts = {}
for i = 1, n do
  local s = string.format("item %d costs %.2f (%s)", i, i / 7, i % 3 == 0 and "sale" or "list")
  parts[#parts + 1] = s
  if s:find("sale", 1, true) then total = total + 1 end
  total = total + #s:gsub("%d", "#") + s:byte(-2)
  if #parts > 100 then parts = { table.concat(parts, ";"):sub(1, 50) } end
end
return total + #table.concat(parts)
