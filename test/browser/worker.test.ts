// LuaWorker in Chromium (Debian's, driven by playwright-core), from the packed package served as
// it is (no bundler): a Web Worker running the package's worker script, with an IndexedDBStore.
// A `while true do end` is stopped by timeoutMs, and the next compute runs on the restored state.
// Then the same package bundled by Vite (which bundles the worker script too).
import { execFileSync } from 'node:child_process';
import { createServer, Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { installPackedPackage } from '../support/packed-package';

const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

let project: string;
let server: Server;
let browser: Browser;
let page: Page;
let url: string;
const requests: string[] = [];

const PAGE = `<!doctype html><meta charset="utf-8"><title>LuaWorker</title>
<script type="module">
  import * as luaHome from '/node_modules/lua-home/dist/esm/index.js';
  window.luaHome = luaHome;
  window.ready = true;
</script>`;

// A page bundled by Vite from the installed package (no alias: 'lua-home' resolves as for users).
const VITE_PAGE = `<!doctype html><meta charset="utf-8"><script type="module" src="./main.js"></script>`;
const VITE_MAIN = `import { LuaWorker, LuaError } from 'lua-home';
window.trial = async () => {
  const w = await LuaWorker.create({ timeoutMs: 300 });
  await w.compute('_home.n = 1');
  await w.save();
  let kind;
  try { await w.compute('_home.n = 2 while true do end'); } catch (e) { kind = e instanceof LuaError && e.kind; }
  const n = (await w.compute('return _home.n')).value;
  await w.close();
  return [kind, n, w.restarts];
};
window.ready = true;
`;

beforeAll(async () => {
  project = installPackedPackage('lua-home-browser-worker-');
  writeFileSync(join(project, 'index.html'), PAGE);
  const app = join(project, 'vite-app');
  mkdirSync(app);
  writeFileSync(join(app, 'index.html'), VITE_PAGE);
  writeFileSync(join(app, 'main.js'), VITE_MAIN);
  writeFileSync(join(app, 'vite.config.mjs'), `export default { base: './', build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' }, logLevel: 'error' };\n`);
  execFileSync(process.execPath, [join(__dirname, '..', '..', 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: app, stdio: 'inherit' });
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = normalize(join(project, decodeURIComponent((req.url ?? '/').split('?')[0])));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(project) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (project) rmSync(project, { recursive: true, force: true });
});

async function load(): Promise<void> {
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
}

describe('LuaWorker in Chromium, from the packed package', () => {
  it('stops `while true do end` and a string.rep loop with timeoutMs; the next compute runs on the state of the last save in IndexedDB', async () => {
    await load();
    const r = await page.evaluate(async () => {
      const { LuaWorker, LuaError, IndexedDBStore } = (window as unknown as { luaHome: typeof import('../../js/src/index') }).luaHome;
      const store = new IndexedDBStore('lua-home-worker-test');
      const w = await LuaWorker.create({ store, timeoutMs: 500 });
      const first = (await w.compute('_home.n = 1 _home.list = { "a", "b" } return _home.n')).value;
      await w.save();
      await w.compute('_home.n = 2'); // not saved
      const stopped: string[] = [];
      const started = performance.now();
      for (const loop of ['while true do end', 'local n = 0 while true do local s = string.rep("ab", 100000) n = n + #s end']) {
        try {
          await w.compute(`_home.n = 3 ${loop}`);
          stopped.push('not stopped');
        } catch (e) {
          stopped.push(e instanceof LuaError ? e.kind : String(e));
        }
      }
      const elapsed = performance.now() - started;
      const after = (await w.compute('_home.n = _home.n + 10 return _home.n, #_home.list')).values;
      await w.save();
      const restarts = w.restarts;
      await w.close();
      await store.close();
      return { first, stopped, elapsed, after, restarts };
    });
    expect(r.first).toBe(1);
    expect(r.stopped).toEqual(['timeout', 'timeout']);
    expect(r.elapsed).toBeLessThan(20_000);
    expect(r.after).toEqual([11, 2]);
    expect(r.restarts).toBe(2);

    // After a reload, a new LuaWorker on the same database finds the last save.
    await load();
    const again = await page.evaluate(async () => {
      const { LuaWorker, IndexedDBStore } = (window as unknown as { luaHome: typeof import('../../js/src/index') }).luaHome;
      const store = new IndexedDBStore('lua-home-worker-test');
      const w = await LuaWorker.create({ store });
      const values = (await w.compute('return _home.n, _home.list[2]')).values;
      const home = await w.home.toJS();
      const stats = await w.stats();
      await w.close();
      await store.close();
      return { values, home, pages: stats.pages };
    });
    expect(again.values).toEqual([11, 'b']);
    expect(again.home).toEqual({ n: 11, list: ['a', 'b'] });
    expect(again.pages).toBe(32);
  });

  it('works bundled by Vite: the worker script is bundled, and a timeout restores the last save', async () => {
    await page.goto(`${url}vite-app/dist/`);
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    expect(await page.evaluate(() => (window as unknown as { trial(): Promise<unknown> }).trial())).toEqual(['timeout', 1, 1]);
    expect(requests.some((r) => /^\/vite-app\/dist\/assets\/worker-main-[\w-]+\.js$/.test(r))).toBe(true);
  });

  it('runs the worker script and lua.wasm of the package, from its own origin', () => {
    expect(requests).toContain('/node_modules/lua-home/dist/esm/worker/worker-main.js');
    expect(requests).toContain('/node_modules/lua-home/dist/lua.wasm');
  });
});
