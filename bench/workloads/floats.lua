-- float math: a Mandelbrot set (iterations summed)
local size = N or 360
local total = 0
for y = 0, size - 1 do
  local ci = 2.0 * y / size - 1.0
  for x = 0, size - 1 do
    local cr = 2.5 * x / size - 2.0
    local zr, zi, i = 0.0, 0.0, 0
    while i < 50 and zr * zr + zi * zi < 4.0 do
      zr, zi = zr * zr - zi * zi + cr, 2.0 * zr * zi + ci
      i = i + 1
    end
    total = total + i
  end
end
return total + math.floor(math.sin(size) * 1000 + math.sqrt(total))
