-- Runs once per `npm start`. Everything under _home lives in the host and is saved to disk,
-- so it is still there on the next run: a new process, a new VM, the same _home.
_home.runs = (_home.runs or 0) + 1
_home.first_run = _home.first_run or os.date("%Y-%m-%d %H:%M:%S UTC")

-- A nested table: deep-copied into external tables the first time, then updated in place.
_home.history = _home.history or {}
local history = _home.history
history[#history + 1] = os.date("%H:%M:%S")
if #history > 5 then -- keep the last five: shift down, clear the top
  for i = 1, #history - 1 do history[i] = history[i + 1] end
  history[#history] = nil
end

print(("This is run #%d of this VM's _home (first run: %s)."):format(_home.runs, _home.first_run))
print("Last runs at: " .. table.concat({ table.unpack(history, 1, #history) }, ", "))
return _home.runs
