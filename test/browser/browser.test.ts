// The browser example, built with Vite and driven in Debian's Chromium by playwright-core:
// run code, read the output, reload, and find _home intact (kept in IndexedDB).
import { execFileSync } from 'node:child_process';
import { createServer, Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';

const root = join(__dirname, '..', '..');
const example = join(root, 'examples', 'browser');
const site = join(example, 'dist');
const artifacts = join(root, 'test-artifacts');
const types: Record<string, string> = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
};

let server: Server;
let browser: Browser;
let page: Page;
let url: string;
let profile: string;
const requests: string[] = [];

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'error'], {
    cwd: example,
    stdio: 'inherit',
  });
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = normalize(join(site, decodeURIComponent((req.url ?? '/').split('?')[0])));
    const file = path.endsWith('/') ? join(path, 'index.html') : path;
    if (!file.startsWith(site) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  profile = mkdtempSync(join(tmpdir(), 'lua-home-chromium-'));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await (await browser.newContext()).newPage();
}, 120000);

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function run(code: string): Promise<{ output: string; results: string }> {
  await page.fill('#code', code);
  const before = await page.getAttribute('#output', 'data-run');
  await page.click('#run');
  await page.waitForFunction((n) => document.querySelector('#output')?.getAttribute('data-run') !== n, before);
  return {
    output: (await page.textContent('#output')) ?? '',
    results: (await page.textContent('#results')) ?? '',
  };
}

async function home(): Promise<Record<string, string>> {
  return page.$$eval('#home tbody tr', (rows) =>
    Object.fromEntries(rows.map((r) => [r.children[0].textContent ?? '', r.children[1].textContent ?? ''])),
  );
}

describe('the browser example in Chromium', () => {
  it('runs Lua, and _home survives a reload', async () => {
    await page.goto(url);
    await page.waitForSelector('#run:not([disabled])');
    const first = await run('_home.count = (_home.count or 0) + 1 print("count is", _home.count) return _home.count');
    expect(first.output).toBe('count is\t1\n');
    expect(first.results).toBe('1');
    expect((await home()).count).toBe('1');

    await page.reload();
    await page.waitForSelector('#run:not([disabled])');
    expect((await home()).count).toBe('1');
    const second = await run('_home.count = _home.count + 1 _home.items = { "a", "b" } return _home.count');
    expect(second.results).toBe('2');

    await page.reload();
    await page.waitForSelector('#run:not([disabled])');
    const view = await home();
    expect(view.count).toBe('2');
    expect(view.items).toBe('["a","b"]');

    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'browser-example.png'), fullPage: true });
  });

  it('shows Lua errors as errors, and a failed run changes nothing in _home', async () => {
    const before = await home();
    const r = await run('_home.count = 99 error("nope")');
    expect(r.output).toContain('nope');
    expect(await page.getAttribute('#output', 'class')).toBe('error');
    expect(await home()).toEqual(before);
  });

  it('loads lua.wasm from its own origin, never from a CDN', () => {
    expect(requests.some((r) => r.endsWith('.wasm'))).toBe(true);
  });
});
