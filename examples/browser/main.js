// The browser example: a Lua VM whose _home is kept in IndexedDB across reloads.
import { Lua, LuaError, IndexedDBStore } from 'lua-home';

const $ = (id) => document.getElementById(id);
const show = (value) => (typeof value === 'bigint' ? `${value}` : JSON.stringify(value, jsonSafe));
function jsonSafe(_key, value) {
  if (typeof value === 'bigint') return `${value}`;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  return value;
}

const lua = await Lua.create({ store: new IndexedDBStore('lua-home-example'), instructionLimit: 50_000_000 });
let runs = 0;

function renderHome() {
  const body = $('home').querySelector('tbody');
  body.replaceChildren();
  const home = lua.home.toJS();
  for (const [key, value] of Object.entries(home)) {
    const row = document.createElement('tr');
    for (const text of [key, show(value)]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      row.append(cell);
    }
    body.append(row);
  }
  $('status').textContent = `(${lua.home.size} keys, saved in IndexedDB)`;
}

async function run() {
  const output = $('output');
  try {
    const r = lua.compute($('code').value);
    await lua.save(); // only what changed; a failed compute changed nothing
    output.className = '';
    output.textContent = r.output;
    $('results').textContent = r.values.map(show).join(', ');
  } catch (e) {
    if (!(e instanceof LuaError)) throw e;
    output.className = 'error';
    output.textContent = `${e.output ?? ''}${e.kind} error: ${e.message}`;
    $('results').textContent = '';
  }
  output.setAttribute('data-run', String(++runs));
  renderHome();
}

$('run').addEventListener('click', run);
$('code').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && e.ctrlKey) run();
});
$('reset').addEventListener('click', async () => {
  lua.compute('for k in pairs(_home) do _home[k] = nil end');
  await lua.save();
  renderHome();
});
renderHome();
$('run').disabled = false;
