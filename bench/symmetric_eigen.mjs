// A plain-JavaScript symmetric eigensolver (Householder tridiagonalization + implicit QL, the
// classic tred2/tql2 pair as in JAMA/EISPACK): what a TensorFlow.js user must bring, since tfjs
// has no eigendecomposition. Used only by the whitening benchmark.
// a: n×n symmetric, row-major Float64Array. Returns { values (descending), vectors (n×n, column j
// is the eigenvector of values[j]) }.
export function symmetricEigen(a, n) {
  const V = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const at = (i, j) => i * n + j;

  // tred2: Householder reduction to tridiagonal form.
  for (let j = 0; j < n; ++j) d[j] = V[at(n - 1, j)];
  for (let i = n - 1; i > 0; --i) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; ++k) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; ++j) {
        d[j] = V[at(i - 1, j)];
        V[at(i, j)] = 0;
        V[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; ++k) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; ++j) e[j] = 0;
      for (let j = 0; j < i; ++j) {
        f = d[j];
        V[at(j, i)] = f;
        g = e[j] + V[at(j, j)] * f;
        for (let k = j + 1; k <= i - 1; ++k) {
          g += V[at(k, j)] * d[k];
          e[k] += V[at(k, j)] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; ++j) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; ++j) e[j] -= hh * d[j];
      for (let j = 0; j < i; ++j) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; ++k) V[at(k, j)] -= f * e[k] + g * d[k];
        d[j] = V[at(i - 1, j)];
        V[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; ++i) {
    V[at(n - 1, i)] = V[at(i, i)];
    V[at(i, i)] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; ++k) d[k] = V[at(k, i + 1)] / h;
      for (let j = 0; j <= i; ++j) {
        let g = 0;
        for (let k = 0; k <= i; ++k) g += V[at(k, i + 1)] * V[at(k, j)];
        for (let k = 0; k <= i; ++k) V[at(k, j)] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; ++k) V[at(k, i + 1)] = 0;
  }
  for (let j = 0; j < n; ++j) {
    d[j] = V[at(n - 1, j)];
    V[at(n - 1, j)] = 0;
  }
  V[at(n - 1, n - 1)] = 1;
  e[0] = 0;

  // tql2: implicit QL on the tridiagonal matrix, accumulating rotations into the columns of V.
  // The rotations sweep whole columns, so work on the transpose (W[c·n + k] = V[k][c]), where a
  // column is contiguous.
  const W = new Float64Array(n * n);
  for (let r = 0; r < n; ++r) for (let c = 0; c < n; ++c) W[c * n + r] = V[at(r, c)];
  for (let i = 1; i < n; ++i) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; ++l) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n && Math.abs(e[m]) > eps * tst1) ++m;
    if (m > l) {
      do {
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; ++i) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1];
        for (let i = m - 1; i >= l; --i) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const column = i * n;
          const next = (i + 1) * n;
          for (let k = 0; k < n; ++k) {
            const vk1 = W[next + k];
            W[next + k] = s * W[column + k] + c * vk1;
            W[column + k] = c * W[column + k] - s * vk1;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }

  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[y] - d[x]);
  const values = Float64Array.from(order, (i) => d[i]);
  const vectors = new Float64Array(n * n);
  order.forEach((source, col) => {
    for (let k = 0; k < n; ++k) vectors[k * n + col] = W[source * n + k];
  });
  return { values, vectors };
}
