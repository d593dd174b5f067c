// Makes a fresh Debian 12 machine ready to build and test kexue: the apt packages the build
// needs (installed when running as root, otherwise the exact command is printed and we exit
// non-zero) and the npm packages of package-lock.json (npm ci when node_modules is missing or
// was installed from another lock file). Uses only Node's standard library, so it runs before
// any npm install.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const APT_PACKAGES = [
  'emscripten', 'binaryen', 'cmake', 'make', 'g++', 'libgtest-dev',
  'libxsimd-dev', 'libxtensor-dev', 'xtl-dev', 'libeigen3-dev',
  'chromium', 'mesa-vulkan-drivers', 'libvulkan1',
  // The English text the transformer trains on (public domain; scripts/corpus.mjs).
  'dict-devil',
];

function log(message) {
  process.stdout.write(`[bootstrap] ${message}\n`);
}

function missingAptPackages() {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${db:Status-Status}\n', ...APT_PACKAGES],
    { encoding: 'utf8' });
  const installed = new Set(
    (result.stdout || '').split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([, status]) => status === 'installed')
      .map(([name]) => name.replace(/:.*$/, '')),
  );
  return APT_PACKAGES.filter((name) => !installed.has(name));
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: ROOT, ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed with exit code ${result.status}`);
  }
}

export function ensureAptPackages() {
  const missing = missingAptPackages();
  if (missing.length === 0) return;
  const installLine = `apt-get install -y ${missing.join(' ')}`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    process.stderr.write(`kexue needs these Debian packages: ${missing.join(' ')}\n` +
      `Install them as root with:\n  sudo apt-get update && sudo ${installLine}\n`);
    process.exit(1);
  }
  log(`installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', ...missing], { env });
}

function lockHash() {
  return createHash('sha256').update(readFileSync(path.join(ROOT, 'package-lock.json'))).digest('hex');
}

export function ensureNodeModules() {
  const stamp = path.join(ROOT, 'node_modules', '.kexue-lock-sha256');
  const want = lockHash();
  if (existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === want) return;
  log('node_modules missing or stale: npm ci');
  run('npm', ['ci', '--no-audit', '--no-fund'], { env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
  writeFileSync(stamp, want + '\n');
}

export function bootstrap() {
  ensureAptPackages();
  ensureNodeModules();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  bootstrap();
  execFileSync('node', ['--version'], { stdio: 'inherit' });
}
