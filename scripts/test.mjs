// `npm test`: bootstrap, build both trees, then run every suite and summarise:
//   1. native GoogleTest (ASan + UBSan) through ctest
//   2. the same GoogleTest suite compiled to WASM, run by node through ctest
//   3. the JS tests (node --test tests/js/*.test.mjs), including the demo page in headless Chromium
// Every suite runs even when an earlier one fails; the exit code is non-zero if any failed.
import { spawn, spawnSync } from 'node:child_process';
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

// The WASM suite runs as two GoogleTest processes side by side, each given every other test by
// --gtest_filter, rather than through ctest, which starts one node process per test: each start
// compiles the test module and spawns its pthread workers again (about 3 minutes for ~440 tests,
// against 15 s for all of them in one process). GoogleTest's own sharding variables do not reach
// a WASM program (Emscripten does not copy the host's environment), hence the filters.
function listGtestTests(binary) {
  const { stdout } = spawnSync(process.execPath, [binary, '--gtest_list_tests'], { cwd: ROOT, encoding: 'utf8' });
  const names = [];
  let suite = '';
  for (const line of (stdout || '').split('\n')) {
    if (/^\S.*\.$/.test(line)) suite = line.trim().split(/\s/)[0];
    else if (/^  \S/.test(line)) names.push(suite + line.trim().split(/\s/)[0]);
  }
  return names;
}

async function runShardedWasmSuite(title) {
  process.stdout.write(`\n=== ${title} ===\n`);
  const binary = path.join('build', 'wasm', 'kexue_tests.js');
  const names = listGtestTests(binary);
  const shards = 2;
  const runs = Array.from({ length: shards }, (_, index) => new Promise((resolve) => {
    const filter = names.filter((_, i) => i % shards === index).join(':');
    const child = spawn(process.execPath, [binary, '--gtest_brief=1', `--gtest_filter=${filter}`], {
      cwd: ROOT, env: { ...process.env, NODE_PATH: '/usr/share/nodejs' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('close', (code, signal) => resolve({ status: code ?? 1, signal, output }));
  }));
  const results = await Promise.all(runs);
  let passed = 0, failed = names.length === 0 ? 1 : 0;
  if (names.length === 0) process.stdout.write('could not list the tests of the WASM suite\n');
  results.forEach(({ status, signal, output }, index) => {
    process.stdout.write(`--- part ${index + 1} of ${shards} ---\n${output}`);
    const counts = gtestCounts(output);
    // A part that ended without its summary (a crash, a signal) counts as one failure at least.
    if (!counts || (status !== 0 && counts.failed === 0)) {
      process.stdout.write(`part ${index + 1} ended without a clean summary (status ${status}${signal ? `, ${signal}` : ''})\n`);
      failed += 1;
    }
    if (counts) {
      passed += counts.passed;
      failed += counts.failed;
    }
  });
  if (passed + failed < names.length) {
    process.stdout.write(`the parts ran ${passed + failed} of the ${names.length} tests listed\n`);
    failed += names.length - passed - failed;
  }
  return { status: failed === 0 ? 0 : 1, output: '', counts: { passed, failed } };
}

// GoogleTest's own summary: "[  PASSED  ] N tests." and, when any failed, "[  FAILED  ] M tests,".
// Skipped tests count as passed, as ctest counts them.
function gtestCounts(output) {
  const ran = output.match(/^\[=+\] (\d+) tests? from \d+ test suites? ran/m);
  if (!ran) return null;
  const failed = output.match(/^\[  FAILED  \] (\d+) tests?, listed below/m);
  const failedCount = failed ? Number(failed[1]) : 0;
  return { passed: Number(ran[1]) - failedCount, failed: failedCount };
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
  { title: 'WASM GoogleTest (node)', counts: (output, result) => result.counts,
    run: () => runShardedWasmSuite('WASM GoogleTest (node)') },
  { title: 'JS tests (node --test)', counts: nodeTestCounts,
    run: () => runSuite('JS tests (node --test)', process.execPath,
      ['--test', '--test-reporter=spec', ...jsTests]) },
];

let totalPassed = 0;
let totalFailed = 0;
const lines = [];
for (const suite of suites) {
  const result = await suite.run();
  const { status, output } = result;
  const counts = suite.counts(output, result) ?? { passed: 0, failed: 1 };
  if (status !== 0 && counts.failed === 0) counts.failed = 1; // crashed without a summary
  totalPassed += counts.passed;
  totalFailed += counts.failed;
  lines.push(`${suite.title}: ${counts.passed} passed, ${counts.failed} failed`);
}
process.stdout.write(`\n=== summary ===\n${lines.join('\n')}\n`);
process.stdout.write(`kexue: ${totalPassed} passed, ${totalFailed} failed\n`);
process.exit(totalFailed === 0 ? 0 : 1);
