// `npm test`: bootstrap, build both trees, then run every suite and summarise:
//   1. native GoogleTest (ASan + UBSan) through ctest
//   2. the same GoogleTest suite compiled to WASM, run by node (two processes side by side)
//   3. the JS tests (node --test tests/js/*.test.mjs), including the demo page in headless Chromium
// Every suite runs even when an earlier one fails; the exit code is non-zero if any failed.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT, bootstrap } from './bootstrap.mjs';
import { build } from './build.mjs';

bootstrap();
build();

// Runs a command, echoing its output, and returns { status, counts }: counts is what `parseCounts`
// reads in the output ({ passed, failed }), or null when it finds no summary.
function runSuite(title, command, args, parseCounts) {
  process.stdout.write(`\n=== ${title} ===\n`);
  const result = spawnSync(command, args, {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, NODE_PATH: '/usr/share/nodejs' },
  });
  const output = (result.stdout || '') + (result.stderr || '');
  process.stdout.write(output);
  return { status: result.status ?? 1, counts: parseCounts(output) };
}

// The WASM suite runs as two GoogleTest processes side by side, each given every other test by
// --gtest_filter, rather than through ctest, which starts one node process per test: each start
// compiles the test module and spawns its pthread workers again (about 3 minutes for ~440 tests,
// against 15 s for all of them in one process). GoogleTest's own sharding variables do not reach
// a WASM program (Emscripten does not copy the host's environment), hence the filters. The list
// of tests and each part's results are read from GoogleTest's JSON files, not from its console
// output: the program's writes to a pipe can be cut short when it exits (a listing read that way
// lost 47 of 436 names).
function readJson(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

async function runShardedWasmSuite(title) {
  process.stdout.write(`\n=== ${title} ===\n`);
  const binary = path.join('build', 'wasm', 'kexue_tests.js');
  const dir = mkdtempSync(path.join(tmpdir(), 'kexue-wasm-tests-'));
  const env = { ...process.env, NODE_PATH: '/usr/share/nodejs' };
  const listFile = path.join(dir, 'list.json');
  spawnSync(process.execPath, [binary, '--gtest_list_tests', `--gtest_output=json:${listFile}`], { cwd: ROOT, env, stdio: 'ignore' });
  const names = (readJson(listFile)?.testsuites ?? []).flatMap((suite) => suite.testsuite.map((test) => `${suite.name}.${test.name}`));
  if (names.length === 0) {
    process.stdout.write('could not list the tests of the WASM suite\n');
    return { status: 1, counts: { passed: 0, failed: 1 } };
  }
  const parts = 2;
  const runs = Array.from({ length: parts }, (_, index) => new Promise((resolve) => {
    const filter = names.filter((_, i) => i % parts === index).join(':');
    const resultFile = path.join(dir, `part-${index}.json`);
    const child = spawn(process.execPath, [binary, '--gtest_brief=1', `--gtest_filter=${filter}`,
      `--gtest_output=json:${resultFile}`], { cwd: ROOT, env });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; });
    child.stderr.on('data', (chunk) => { output += chunk; });
    child.on('close', (code, signal) => resolve({ status: code ?? 1, signal, output, results: readJson(resultFile) }));
  }));
  const results = await Promise.all(runs);
  rmSync(dir, { recursive: true, force: true });
  const seen = new Set();
  let passed = 0, failed = 0;
  results.forEach(({ status, signal, output, results: json }, index) => {
    process.stdout.write(`--- part ${index + 1} of ${parts} (exit ${status}${signal ? `, ${signal}` : ''}) ---\n${output}`);
    for (const suite of json?.testsuites ?? []) {
      for (const test of suite.testsuite) {
        const name = `${suite.name}.${test.name}`;
        seen.add(name);
        if (test.failures?.length) {
          failed += 1;
          process.stdout.write(`FAILED ${name}\n${test.failures.map((f) => f.failure).join('\n')}\n`);
        } else {
          passed += 1;  // skipped tests count as passed, as ctest counts them
        }
      }
    }
    // A part that crashed writes no results, or exits non-zero without a failure to show for it.
    if (!json || (status !== 0 && !(json.failures > 0))) {
      process.stdout.write(`part ${index + 1} did not finish cleanly\n`);
      failed += 1;
    }
  });
  const missing = names.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    process.stdout.write(`${missing.length} listed tests did not run: ${missing.slice(0, 10).join(', ')}\n`);
    failed += missing.length;
  }
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  return { status: failed === 0 ? 0 : 1, counts: { passed, failed } };
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
  { title: 'native GoogleTest (ASan+UBSan)',
    run: (title) => runSuite(title, 'ctest', ['--test-dir', 'build/native', '--output-on-failure', '-j', '2'], ctestCounts) },
  { title: 'WASM GoogleTest (node)', run: (title) => runShardedWasmSuite(title) },
  { title: 'JS tests (node --test)',
    run: (title) => runSuite(title, process.execPath, ['--test', '--test-reporter=spec', ...jsTests], nodeTestCounts) },
];

let totalPassed = 0;
let totalFailed = 0;
const lines = [];
for (const suite of suites) {
  const { status, counts: summary } = await suite.run(suite.title);
  const counts = summary ?? { passed: 0, failed: 1 };
  if (status !== 0 && counts.failed === 0) counts.failed = 1; // crashed without a summary
  totalPassed += counts.passed;
  totalFailed += counts.failed;
  lines.push(`${suite.title}: ${counts.passed} passed, ${counts.failed} failed`);
}
process.stdout.write(`\n=== summary ===\n${lines.join('\n')}\n`);
process.stdout.write(`kexue: ${totalPassed} passed, ${totalFailed} failed\n`);
process.exit(totalFailed === 0 ? 0 : 1);
