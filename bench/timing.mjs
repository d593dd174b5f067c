// Timing helpers shared by the benchmarks: warm-up by time (so V8 has tiered every contender's
// WASM up to its optimizing compiler), then interleaved runs so that drift of the shared machine
// hits every contender alike, reported as medians.

export function warmUp(fn, { seconds = 0.6, minCalls = 5 } = {}) {
  const start = performance.now();
  let calls = 0;
  while (calls < minCalls || performance.now() - start < seconds * 1000) {
    fn();
    ++calls;
  }
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

// Runs each contender `runs` times, interleaved; returns { name: ms }, the median run's time or,
// with statistic 'min', the fastest run's (see interleavedAsync).
export function interleaved(contenders, runs, { statistic = 'median' } = {}) {
  const times = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
  for (let r = 0; r < runs; ++r) {
    for (const [name, fn] of Object.entries(contenders)) {
      const start = performance.now();
      fn();
      times[name].push(performance.now() - start);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, list]) => [name, reduceRuns(list, statistic)]));
}

// The same statistics with each contender's runs back to back (`runs` calls in a row, one
// contender after another) instead of interleaved: the figure of a caller that makes the same call
// repeatedly. Threaded contenders read faster this way on machines whose idle cores slow down:
// interleaved, each of their runs comes after ~15 ms in which only one core worked.
export function backToBack(contenders, runs, { statistic = 'median' } = {}) {
  return Object.fromEntries(Object.entries(contenders).map(([name, fn]) => {
    const list = [];
    for (let r = 0; r < runs; ++r) {
      const start = performance.now();
      fn();
      list.push(performance.now() - start);
    }
    return [name, reduceRuns(list, statistic)];
  }));
}

// --order interleaved | back-to-back: how a benchmark orders its runs (default interleaved).
export function orderArgument(bench) {
  return choiceArgument(bench, '--order', ['interleaved', 'back-to-back']);
}

// The value of `--flag`, one of `choices` (default the first).
function choiceArgument(bench, flag, choices) {
  const index = process.argv.indexOf(flag);
  const value = index < 0 ? choices[0] : process.argv[index + 1];
  if (!choices.includes(value)) {
    throw new Error(`${bench} bench: ${flag} must be ${choices.map((c) => `'${c}'`).join(' or ')}, received ${value}`);
  }
  return value;
}

function reduceRuns(list, statistic) {
  return statistic === 'min' ? Math.min(...list) : median(list);
}

// --sizes 128,512: a benchmark's problem sizes (null when not given).
export function sizesArgument(bench) {
  const index = process.argv.indexOf('--sizes');
  if (index < 0) return null;
  const sizes = (process.argv[index + 1] ?? '').split(',').map(Number);
  if (!sizes.every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error(`${bench} bench: --sizes must be positive integers separated by commas, received ${process.argv[index + 1]}`);
  }
  return sizes;
}

// --stat median | min: the statistic of the runs a benchmark reports (default median).
export function statArgument(bench) {
  return choiceArgument(bench, '--stat', ['median', 'min']);
}

export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((row) => String(row[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padStart(widths[i])).join('  ');
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

// The same for contenders that return promises (kx.attention): each call is awaited.
export async function warmUpAsync(fn, { seconds = 0.6, minCalls = 3 } = {}) {
  const start = performance.now();
  let calls = 0;
  while (calls < minCalls || performance.now() - start < seconds * 1000) {
    await fn();
    ++calls;
  }
}

// `statistic`: 'median' (default) or 'min' — the fastest run, the better estimate of a contender's
// own speed when other jobs share the machine and preempt some runs (the attention bench's --stat).
// `settleMs`: an idle pause before each timed run. Threaded contenders need it: onnxruntime-web's
// pool keeps a core busy for some milliseconds after a run (allow_spinning '0' notwithstanding),
// which slowed the threaded kexue call timed right after it (0.73–0.81× at n = 512 without it).
export async function interleavedAsync(contenders, runs, { statistic = 'median', settleMs = 0 } = {}) {
  const times = Object.fromEntries(Object.keys(contenders).map((name) => [name, []]));
  for (let r = 0; r < runs; ++r) {
    for (const [name, fn] of Object.entries(contenders)) {
      if (settleMs > 0) await new Promise((resolve) => setTimeout(resolve, settleMs));
      const start = performance.now();
      await fn();
      times[name].push(performance.now() - start);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, list]) => [name, reduceRuns(list, statistic)]));
}
