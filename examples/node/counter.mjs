// `npm start`: a Lua script whose _home survives from one run to the next, kept on disk by the
// file store. Run it twice and watch the count go on. Delete ./.lua-home-state to start over.
import { readFileSync } from 'node:fs';
import { Lua, LuaError, NodeFileStore } from 'lua-home/node';

const here = new URL('.', import.meta.url);
const stateDir = process.env.LUA_HOME_STATE ?? '.lua-home-state';
const store = new NodeFileStore(stateDir);
const lua = await Lua.create({ store, instructionLimit: 10_000_000 });

try {
  const { output, value: runs } = lua.compute(readFileSync(new URL('counter.lua', here), 'utf8'));
  process.stdout.write(output);
  await lua.save(); // durable when this resolves

  // A failing compute changes nothing: its writes to _home are rolled back.
  try {
    lua.compute('_home.runs = -1 error("changed my mind")');
  } catch (e) {
    if (!(e instanceof LuaError)) throw e;
    console.log(`A failed compute (${e.kind} error: ${e.message}) left _home.runs at ${lua.home.get('runs')}.`);
  }

  // JavaScript reads _home directly, without running Lua.
  console.log(`From JavaScript: _home has ${lua.home.size} keys; runs = ${runs}; history =`, lua.home.get('history').toJS());
  console.log(`State kept in ${stateDir}/ — run \`npm start\` again and the count goes on.`);
} finally {
  lua.close();
  await store.close();
}
