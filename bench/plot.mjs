// A line chart as a standalone SVG string, for the README's figures (docs/bench/*.svg): no
// dependency, no fonts beyond the viewer's sans-serif, readable on GitHub's light and dark themes
// (its own white background).
//
//   lineChart({ title, xLabel, yLabel, xs, series: [{ name, ys, low?, high? }], logX? })
// xs: the x positions (shared by every series); ys: one y per x (null: no point); low/high: an
// optional band per x (e.g. the range over seeds), drawn as error bars.

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

function niceTicks(min, max, count = 5) {
  const span = max - min || 1;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= step0);
  const ticks = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function lineChart({ title, xLabel, yLabel, xs, series, logX = false, width = 820, height = 420 }) {
  const margin = { left: 64, right: 290, top: 40, bottom: 52 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const values = series.flatMap((s) => [...s.ys, ...(s.low ?? []), ...(s.high ?? [])]).filter((v) => v !== null && Number.isFinite(v));
  const yTicks = niceTicks(Math.min(...values), Math.max(...values));
  const yMin = Math.min(yTicks[0], Math.min(...values));
  const yMax = Math.max(yTicks.at(-1), Math.max(...values));
  const fx = logX ? Math.log2 : (x) => x;
  const x0 = fx(xs[0]), x1 = fx(xs.at(-1));
  const px = (x) => margin.left + ((fx(x) - x0) / (x1 - x0 || 1)) * plotW;
  const py = (y) => margin.top + (1 - (y - yMin) / (yMax - yMin || 1)) * plotH;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${margin.left}" y="22" font-size="14" font-weight="bold">${escape(title)}</text>`);
  for (const t of yTicks) {
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${margin.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const x of xs) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${margin.top}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${margin.top + plotH + 16}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escape(xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(yLabel)}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const dash = i % 2 ? '6 3' : '';  // every other series dashed, so neighbours in the legend differ twice
    const points = xs.map((x, j) => (s.ys[j] === null ? null : [px(x), py(s.ys[j])])).filter(Boolean);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''} points="${points.map((p) => p.join(',')).join(' ')}"/>`);
    for (const [x, y] of points) out.push(`<circle cx="${x}" cy="${y}" r="3" fill="${color}"/>`);
    if (s.low && s.high) {
      xs.forEach((x, j) => {
        if (s.low[j] === null || s.high[j] === null) return;
        out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${py(s.low[j])}" y2="${py(s.high[j])}" stroke="${color}" stroke-width="1"/>`);
      });
    }
    const ly = margin.top + 14 + i * 20;
    const lx = margin.left + plotW + 14;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ''}/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">${escape(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
