// Lua and JavaScript calling each other: arguments reach a chunk as `...`, a JavaScript function
// is a Lua global, an async one is awaited by Lua under computeAsync, and a Lua function comes
// back to JavaScript as a handle to call. Run it: node examples/node/host-functions.mjs
import { Lua, LuaError, multi } from 'lua-home';

const prices = { apple: 0.5, bread: 2.25, cheese: 7 };

const lua = await Lua.create({
  instructionLimit: 1_000_000,
  functions: {
    // Sync: called like any Lua function; multi(...) gives Lua several results.
    price: (item) => {
      if (!(item in prices)) throw new Error(`no price for ${item}`);
      return multi(prices[item], 'EUR');
    },
    // Async: Lua waits for the Promise (only under computeAsync).
    stock: async (item) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return item === 'cheese' ? 0 : 10;
    },
  },
});

// Arguments: the chunk receives them as `...` (objects and arrays become Lua tables).
const order = { apple: 4, bread: 1 };
const total = lua.compute(`
  local order, label = ...
  local sum = 0
  for item, n in pairs(order) do sum = sum + n * price(item) end
  return label .. ": " .. sum, select("#", ...)
`, order, 'total');
console.log(total.values); // [ 'total: 4.25', 2 ]

// A JavaScript exception is a Lua error: pcall catches it, and uncaught it is a LuaError.
console.log(lua.compute('return pcall(price, "caviar")').values); // [ false, 'no price for caviar' ]
try {
  lua.compute('return price("caviar")');
} catch (e) {
  if (!(e instanceof LuaError)) throw e;
  console.log(e.message, '/ cause:', e.cause.message);
}

// Async: computeAsync lets Lua call stock() as if it were synchronous.
const r = await lua.computeAsync(`
  local out = {}
  for _, item in ipairs({ "apple", "cheese" }) do
    out[#out + 1] = item .. "=" .. stock(item)
  end
  return table.concat(out, " ")
`);
console.log(r.value); // apple=10 cheese=0

// A Lua function called from JavaScript: a handle, with call() (and callAsync()).
const discount = lua.compute(`
  return function(amount, percent)
    print("discount of " .. percent .. "%")
    return amount * (100 - percent) / 100
  end
`).value;
const d = discount.call(80, 25);
console.log(d.value, JSON.stringify(d.output)); // 60 "discount of 25%\n"
discount.release(); // the VM may collect the function now
lua.close();
