// The package as users get it: `npm pack` of the built package, installed into a fresh project.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuiltPackage } from './built-package';

const root = join(__dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Builds (when stale), packs and installs lua-home into a new temporary project; returns its directory. */
export function installPackedPackage(prefix: string): string {
  ensureBuiltPackage();
  const project = mkdtempSync(join(tmpdir(), prefix));
  execFileSync(npm, ['pack', '--pack-destination', project, '--silent'], { cwd: root, encoding: 'utf8' });
  const tarball = readdirSync(project).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack made no tarball');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'packed-test', version: '1.0.0', private: true }));
  execFileSync(npm, ['install', `./${tarball}`, '--offline', '--no-audit', '--no-fund', '--silent'], { cwd: project, encoding: 'utf8' });
  return project;
}
