// `npm test`: bootstrap, build both trees, then run every suite and summarise:
//   1. native GoogleTest (ASan + UBSan) through ctest
//   2. the same GoogleTest suite compiled to WASM, run by node through ctest
//   3. the JS tests (node --test tests/js/*.test.mjs), including the demo page in headless Chromium
// Every suite runs even when an earlier one fails; the exit code is non-zero if any failed.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT, bootstrap } from './bootstrap.mjs';
import { build } from './build.mjs';

bootstrap();
build();

// Runs a command, echoing its output, and returns { status, output }.
function runSuite(title, command, args) {
  process.stdout.write(`\n=== ${title} ===\n`);
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NODE_PATH: '/usr/share/nodejs' },
  });
  const output = (result.stdout || '') + (result.stderr || '');
  process.stdout.write(output);
  return { status: result.status ?? 1, output };
}

function ctestCounts(output) {
  const match = output.match(/(\d+)% tests passed, (\d+) tests? failed out of (\d+)/);
  if (!match) return null;
  const failed = Number(match[2]);
  return { passed: Number(match[3]) - failed, failed };
}

function nodeTestCounts(output) {
  const pass = output.match(/^ℹ pass (\d+)/m);
  const fail = output.match(/^ℹ fail (\d+)/m);
  if (!pass || !fail) return null;
  return { passed: Number(pass[1]), failed: Number(fail[1]) };
}

const jsTests = readdirSync(path.join(ROOT, 'tests', 'js'))
  .filter((name) => name.endsWith('.test.mjs'))
  .sort()
  .map((name) => path.join('tests', 'js', name));

const suites = [
  { title: 'native GoogleTest (ASan+UBSan)', counts: ctestCounts,
    run: () => runSuite('native GoogleTest (ASan+UBSan)', 'ctest',
      ['--test-dir', 'build/native', '--output-on-failure', '-j', '2']) },
  { title: 'WASM GoogleTest (node)', counts: ctestCounts,
    run: () => runSuite('WASM GoogleTest (node)', 'ctest',
      ['--test-dir', 'build/wasm', '--output-on-failure', '-j', '2']) },
  { title: 'JS tests (node --test)', counts: nodeTestCounts,
    run: () => runSuite('JS tests (node --test)', process.execPath,
      ['--test', '--test-reporter=spec', ...jsTests]) },
];

let totalPassed = 0;
let totalFailed = 0;
const lines = [];
for (const suite of suites) {
  const { status, output } = suite.run();
  const counts = suite.counts(output) ?? { passed: 0, failed: 1 };
  if (status !== 0 && counts.failed === 0) counts.failed = 1; // crashed without a summary
  totalPassed += counts.passed;
  totalFailed += counts.failed;
  lines.push(`${suite.title}: ${counts.passed} passed, ${counts.failed} failed`);
}
process.stdout.write(`\n=== summary ===\n${lines.join('\n')}\n`);
process.stdout.write(`kexue: ${totalPassed} passed, ${totalFailed} failed\n`);
process.exit(totalFailed === 0 ? 0 : 1);
