// Under a file size limit (`ulimit -f 150`: writes past 150 KiB fail with EFBIG), every save the
// store acknowledged is still there after a reload, and the state always loads: a compaction that
// cannot write its snapshot leaves the previous snapshot and journal in charge.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lua, NodeFileStore } from '../../js/src/node';

it('a process under ulimit -f 150 loses no acknowledged save, and its state loads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lua-home-ulimit-'));
  try {
    const child = join(__dirname, 'fixtures', 'file-size-limit-child.cjs');
    const out = execFileSync('bash', ['-c', 'ulimit -f 150 && exec "$0" "$1" "$2"', process.execPath, child, join(dir, 'state')]).toString();
    const acknowledged = out.split('\n').filter((l) => l.startsWith('ok ')).map((l) => Number(l.slice(3)));
    const failures = out.split('\n').filter((l) => l.startsWith('failed '));
    expect(failures.length).toBeGreaterThan(0); // the limit was met
    expect(failures.every((l) => / (EFBIG|ENOSPC)$/.test(l))).toBe(true);
    const last = Math.max(...acknowledged);
    const store = new NodeFileStore(join(dir, 'state'));
    const lua = await Lua.create({ store });
    // Every value of the last acknowledged save (a rejected save's values are retried by the next).
    const intact = lua.compute(`local ok = 0 for i = 1, ${last} do if _home[i] == tostring(i % 10):rep(5000) then ok = ok + 1 end end return ok`).value;
    expect(intact).toBe(last);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
