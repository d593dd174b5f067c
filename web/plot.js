// Small canvas plots for the demo page: line charts (linear or log axes), a heatmap, histograms
// and a scatter plot over a filled contour. Hand-written rather than a charting library because
// the page needs a heatmap and a contour underlay that line-chart libraries (uPlot, Chart.js) do
// not draw, and ~200 lines keep the page dependency-free and working offline.
// Every function sets canvas.dataset.drawn (a counter the browser tests watch) and an aria-label.

const PAD = { left: 52, right: 12, top: 14, bottom: 34 };
const AXIS_COLOR = '#5a6272';
const GRID_COLOR = '#e4e8ef';
export const COLORS = ['#3b6fd8', '#d8573b', '#2a9d58', '#8e44ad', '#c99a06', '#17a2b8'];

function setup(canvas, label) {
  const ratio = globalThis.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = '12px system-ui, sans-serif';
  canvas.setAttribute('aria-label', label);
  canvas.dataset.drawn = String(Number(canvas.dataset.drawn || 0) + 1);
  return { ctx, width, height };
}

function niceTicks(min, max, count = 5) {
  const span = max - min || 1;
  const step = 10 ** Math.floor(Math.log10(span / count));
  const err = (count * step) / span;
  const nice = step * (err <= 0.15 ? 10 : err <= 0.35 ? 5 : err <= 0.75 ? 2 : 1);
  const ticks = [];
  for (let t = Math.ceil(min / nice) * nice; t <= max + 1e-9 * span; t += nice) ticks.push(+t.toPrecision(12));
  return ticks;
}

function formatTick(value) {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e4 || abs < 1e-3) return value.toExponential(0);
  return String(+value.toPrecision(3));
}

// A mapping from data to pixels for one axis, linear or log10.
function axis(min, max, from, to, log) {
  const f = log ? Math.log10 : (x) => x;
  const a = f(min);
  const b = f(max);
  return (x) => from + ((f(x) - a) / (b - a || 1)) * (to - from);
}

function extent(values, log) {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v) || (log && v <= 0)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  if (min === Infinity) return [log ? 1 : 0, log ? 10 : 1];
  if (min === max) return log ? [min / 2, max * 2] : [min - 0.5, max + 0.5];
  return [min, max];
}

function drawAxes(ctx, width, height, x, y, xTicks, yTicks, xLabel, yLabel) {
  ctx.strokeStyle = GRID_COLOR;
  ctx.fillStyle = AXIS_COLOR;
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  for (const t of xTicks) {
    ctx.beginPath();
    ctx.moveTo(x(t), PAD.top);
    ctx.lineTo(x(t), height - PAD.bottom);
    ctx.stroke();
    ctx.fillText(formatTick(t), x(t), height - PAD.bottom + 14);
  }
  ctx.textAlign = 'right';
  for (const t of yTicks) {
    ctx.beginPath();
    ctx.moveTo(PAD.left, y(t));
    ctx.lineTo(width - PAD.right, y(t));
    ctx.stroke();
    ctx.fillText(formatTick(t), PAD.left - 5, y(t) + 4);
  }
  ctx.textAlign = 'center';
  if (xLabel) ctx.fillText(xLabel, (PAD.left + width - PAD.right) / 2, height - 4);
  if (yLabel) {
    ctx.save();
    ctx.translate(12, (PAD.top + height - PAD.bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
  }
}

// Top-right, as wide as the longest name, on a translucent box so lines under it stay visible.
function legend(ctx, width, series) {
  const named = series.map((s, i) => ({ ...s, color: s.color ?? COLORS[i % COLORS.length] })).filter((s) => s.name);
  if (!named.length) return;
  const textWidth = Math.max(...named.map((s) => ctx.measureText(s.name).width));
  const left = width - PAD.right - textWidth - 26;
  ctx.fillStyle = 'rgba(255, 255, 255, 0.8)';
  ctx.fillRect(left - 4, PAD.top, textWidth + 30, 16 * named.length + 4);
  ctx.textAlign = 'left';
  let top = PAD.top + 4;
  for (const s of named) {
    ctx.fillStyle = s.color;
    ctx.fillRect(left, top + 2, 12, 3);
    ctx.fillStyle = AXIS_COLOR;
    ctx.fillText(s.name, left + 17, top + 7);
    top += 16;
  }
}

function logTicks(min, max) {
  const ticks = [];
  const decades = Math.log10(max / min);
  // 1-2-5 ticks over a few decades; powers of 10 only (every other one past 8) over many.
  const mantissas = decades <= 3 ? [1, 2, 5] : [1];
  const stride = decades > 8 ? 2 : 1;
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e += stride) {
    for (const m of mantissas) {
      const t = m * 10 ** e;
      if (t >= min * 0.999 && t <= max * 1.001) ticks.push(t);
    }
  }
  return ticks.length >= 2 ? ticks : [min, max];
}

// series: [{ name, color, points: [[x, y], …] }]
export function linePlot(canvas, { series, xLog = false, yLog = false, xLabel = '', yLabel = '', yMin, yMax, label }) {
  const { ctx, width, height } = setup(canvas, label);
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = extent(xs, xLog);
  let [y0, y1] = extent(ys, yLog);
  if (yMin !== undefined) y0 = yMin;
  if (yMax !== undefined) y1 = yMax;
  const x = axis(x0, x1, PAD.left, width - PAD.right, xLog);
  const y = axis(y0, y1, height - PAD.bottom, PAD.top, yLog);
  drawAxes(ctx, width, height, x, y, xLog ? logTicks(x0, x1) : niceTicks(x0, x1),
    yLog ? logTicks(y0, y1) : niceTicks(y0, y1), xLabel, yLabel);
  for (const [i, s] of series.entries()) {
    ctx.strokeStyle = s.color ?? COLORS[i % COLORS.length];
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let started = false;
    for (const [px, py] of s.points) {
      if (!Number.isFinite(py) || (yLog && py <= 0)) continue;
      if (started) ctx.lineTo(x(px), y(py));
      else ctx.moveTo(x(px), y(py));
      started = true;
    }
    ctx.stroke();
    if (s.points.length <= 40) {
      for (const [px, py] of s.points) {
        if (Number.isFinite(py) && !(yLog && py <= 0)) ctx.fillRect(x(px) - 2.5, y(py) - 2.5, 5, 5);
      }
    }
  }
  legend(ctx, width, series);
}

// A perceptual-ish blue→yellow colormap for t in [0, 1].
export function colormap(t) {
  const c = Math.min(1, Math.max(0, t));
  const r = Math.round(255 * Math.min(1, Math.max(0, 1.6 * c - 0.3)));
  const g = Math.round(255 * Math.min(1, Math.max(0, 0.15 + 0.9 * c)));
  const b = Math.round(255 * Math.min(1, Math.max(0, 0.55 + 0.6 * c - 1.1 * c * c)));
  return [r, g, b];
}

// matrix: Float32Array rows×cols, drawn row 0 at the top. gamma < 1 brightens small weights.
export function heatmap(canvas, matrix, rows, cols, { label, gamma = 0.5, xLabel = 'key j', yLabel = 'query i' }) {
  const { ctx, width, height } = setup(canvas, label);
  let max = 0;
  for (const v of matrix) max = Math.max(max, v);
  const image = new ImageData(cols, rows);
  for (let i = 0; i < rows * cols; ++i) {
    const [r, g, b] = colormap((matrix[i] / (max || 1)) ** gamma);
    image.data.set([r, g, b, 255], 4 * i);
  }
  const bitmap = document.createElement('canvas');
  bitmap.width = cols;
  bitmap.height = rows;
  bitmap.getContext('2d').putImageData(image, 0, 0);
  const size = Math.min(width - PAD.left - PAD.right, height - PAD.top - PAD.bottom);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmap, PAD.left, PAD.top, size, size);
  const x = axis(0, cols, PAD.left, PAD.left + size, false);
  const y = axis(0, rows, PAD.top, PAD.top + size, false);
  ctx.fillStyle = AXIS_COLOR;
  ctx.textAlign = 'center';
  for (const t of niceTicks(0, cols, 4)) ctx.fillText(formatTick(t), x(t), PAD.top + size + 14);
  ctx.textAlign = 'right';
  for (const t of niceTicks(0, rows, 4)) ctx.fillText(formatTick(t), PAD.left - 5, y(t) + 4);
  ctx.textAlign = 'center';
  ctx.fillText(xLabel, PAD.left + size / 2, PAD.top + size + 30);
  ctx.save();
  ctx.translate(12, PAD.top + size / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, 0);
  ctx.restore();
}

// series: [{ name, color, values }] as overlaid histograms over [min, max].
export function histogram(canvas, { series, bins = 60, min, max, xLabel = '', label }) {
  const counts = series.map((s) => {
    const c = new Float64Array(bins);
    for (const v of s.values) {
      const b = Math.floor(((v - min) / (max - min)) * bins);
      if (b >= 0 && b < bins) c[b] += 1;
    }
    const total = s.values.length || 1;
    return Array.from(c, (n) => n / total);
  });
  const { ctx, width, height } = setup(canvas, label);
  const top = Math.max(...counts.flat(), 1e-9);
  const x = axis(min, max, PAD.left, width - PAD.right, false);
  const y = axis(0, top, height - PAD.bottom, PAD.top, false);
  drawAxes(ctx, width, height, x, y, niceTicks(min, max), niceTicks(0, top, 4), xLabel, 'share');
  for (const [i, c] of counts.entries()) {
    ctx.fillStyle = (series[i].color ?? COLORS[i]) + '99';
    const w = (width - PAD.left - PAD.right) / bins;
    c.forEach((share, b) => ctx.fillRect(x(min) + b * w, y(share), w - 0.5, y(0) - y(share)));
  }
  legend(ctx, width, series);
}

// points: Float32Array (x0, y0, x1, y1, …) per series; field: optional { values, size, range }
// (size×size grid of values over range, drawn as a filled contour underlay).
export function scatter(canvas, { series, range, field, label }) {
  const { ctx, width, height } = setup(canvas, label);
  const [lo, hi] = range;
  const size = Math.min(width - PAD.left - PAD.right, height - PAD.top - PAD.bottom);
  const x = axis(lo, hi, PAD.left, PAD.left + size, false);
  const y = axis(lo, hi, PAD.top + size, PAD.top, false);
  if (field) {
    const { values, size: n } = field;
    let fmin = Infinity;
    let fmax = -Infinity;
    for (const v of values) { fmin = Math.min(fmin, v); fmax = Math.max(fmax, v); }
    const image = new ImageData(n, n);
    const levels = 12;
    for (let r = 0; r < n; ++r) {
      for (let c = 0; c < n; ++c) {
        // Row r of the grid is y = lo + r·step (bottom to top): flip so that up is +y.
        const t = (values[r * n + c] - fmin) / (fmax - fmin || 1);
        const [R, G, B] = colormap(Math.floor(t * levels) / levels);
        image.data.set([R, G, B, 90], 4 * ((n - 1 - r) * n + c));
      }
    }
    const bitmap = document.createElement('canvas');
    bitmap.width = n;
    bitmap.height = n;
    bitmap.getContext('2d').putImageData(image, 0, 0);
    ctx.drawImage(bitmap, PAD.left, PAD.top, size, size);
  }
  ctx.strokeStyle = GRID_COLOR;
  ctx.strokeRect(PAD.left, PAD.top, size, size);
  ctx.fillStyle = AXIS_COLOR;
  ctx.textAlign = 'center';
  for (const t of niceTicks(lo, hi, 4)) ctx.fillText(formatTick(t), x(t), PAD.top + size + 14);
  ctx.textAlign = 'right';
  for (const t of niceTicks(lo, hi, 4)) ctx.fillText(formatTick(t), PAD.left - 5, y(t) + 4);
  for (const [i, s] of series.entries()) {
    ctx.fillStyle = s.color ?? COLORS[i % COLORS.length];
    const r = s.radius ?? 1.5;
    for (let p = 0; p + 1 < s.points.length; p += 2) {
      const px = x(s.points[p]);
      const py = y(s.points[p + 1]);
      if (px >= PAD.left && px <= PAD.left + size && py >= PAD.top && py <= PAD.top + size) {
        ctx.fillRect(px - r, py - r, 2 * r, 2 * r);
      }
    }
  }
  ctx.textAlign = 'left';
  let left = PAD.left;
  for (const [i, s] of series.entries()) {
    if (!s.name) continue;
    ctx.fillStyle = s.color ?? COLORS[i % COLORS.length];
    ctx.fillRect(left, PAD.top + size + 22, 8, 8);
    ctx.fillStyle = AXIS_COLOR;
    ctx.fillText(s.name, left + 12, PAD.top + size + 30);
    left += ctx.measureText(s.name).width + 30;
  }
}
