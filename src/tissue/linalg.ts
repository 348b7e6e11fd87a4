/**
 * The small dense linear algebra the from-original initialisation needs: a symmetric
 * eigendecomposition and a truncated-SVD low-rank factorisation, in float64.
 */

/**
 * Eigenvalues (descending) and eigenvectors (columns of `vectors`, n×n row-major) of a
 * symmetric n×n matrix: Householder reduction to tridiagonal form, then the implicit QL
 * method (tred2/tql2 of EISPACK, as in JAMA). O(n³), about 6n³ flops in all, where cyclic
 * Jacobi took that per sweep: the from-original init of a 256-channel layer went from
 * about a second per unit to a tenth.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  // W is V stored column-major (W[j*n + k] = V[k][j]): the rotations below walk columns.
  const W = Float64Array.from(a.subarray(0, n * n)); // A is symmetric: its transpose is itself
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: new Float64Array(0) };
  tred2(W, d, e, n);
  tql2(W, d, e, n);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j]! - d[i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = d[src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = W[src * n + k]!;
  });
  return { values, vectors };
}

function tred2(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  const at = (k: number, j: number): number => j * n + k; // V[k][j]
  for (let j = 0; j < n; j++) d[j] = W[at(n - 1, j)]!;
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j++) {
        d[j] = W[at(i - 1, j)]!;
        W[at(i, j)] = 0;
        W[at(j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        W[at(j, i)] = f;
        g = e[j]! + W[at(j, j)]! * f;
        const col = j * n;
        for (let k = j + 1; k <= i - 1; k++) {
          g += W[col + k]! * d[k]!;
          e[k] = e[k]! + W[col + k]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j++) {
        f = d[j]!;
        g = e[j]!;
        const col = j * n;
        for (let k = j; k <= i - 1; k++) W[col + k] = W[col + k]! - (f * e[k]! + g * d[k]!);
        d[j] = W[at(i - 1, j)]!;
        W[at(i, j)] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i++) {
    W[at(n - 1, i)] = W[at(i, i)]!;
    W[at(i, i)] = 1;
    const h = d[i + 1]!;
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = W[next + k]! / h;
      for (let j = 0; j <= i; j++) {
        const col = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += W[next + k]! * W[col + k]!;
        for (let k = 0; k <= i; k++) W[col + k] = W[col + k]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k++) W[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = W[at(n - 1, j)]!;
    W[at(n - 1, j)] = 0;
  }
  W[at(n - 1, n - 1)] = 1;
  e[0] = 0;
}

function tql2(W: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]!) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      for (let iter = 0; iter < 64; iter++) {
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          const ci = i * n;
          const cj = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const hk = W[cj + k]!;
            W[cj + k] = s * W[ci + k]! + c * hk;
            W[ci + k] = c * W[ci + k]! - s * hk;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
        if (!(Math.abs(e[l]!) > eps * tst1)) break;
      }
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}

/**
 * Best rank-r factorisation M ≈ B·A of a rows×cols matrix (row-major), split evenly
 * (A = √S·Vᵀ [r×cols], B = U·√S [rows×r], from the truncated SVD M = U·S·Vᵀ), via the
 * eigendecomposition of the smaller Gram matrix. Components with (near-)zero singular
 * values come back as zero rows/columns. O(rows·cols·min(rows, cols) + min(rows, cols)³).
 */
export function lowRankFactors(
  m: Float64Array | Float32Array,
  rows: number,
  cols: number,
  r: number,
): { a: Float64Array; b: Float64Array; singular: Float64Array } {
  const rank = Math.min(r, rows, cols);
  const a = new Float64Array(r * cols);
  const b = new Float64Array(rows * r);
  const singular = new Float64Array(r);
  if (rank === 0) return { a, b, singular };
  const byRows = rows <= cols;
  const p = byRows ? rows : cols;
  const g = new Float64Array(p * p);
  // Gram of the smaller side: M·Mᵀ (rows×rows) or Mᵀ·M (cols×cols).
  if (byRows) {
    for (let i = 0; i < rows; i++) {
      for (let j = i; j < rows; j++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += m[i * cols + k]! * m[j * cols + k]!;
        g[i * p + j] = s;
        g[j * p + i] = s;
      }
    }
  } else {
    for (let i = 0; i < cols; i++) {
      for (let j = i; j < cols; j++) {
        let s = 0;
        for (let k = 0; k < rows; k++) s += m[k * cols + i]! * m[k * cols + j]!;
        g[i * p + j] = s;
        g[j * p + i] = s;
      }
    }
  }
  const { values, vectors } = symmetricEigen(g, p);
  const tol = Math.max(values[0]!, 0) * 1e-12;
  for (let c = 0; c < rank; c++) {
    const lambda = values[c]!;
    if (!(lambda > tol)) break;
    const sigma = Math.sqrt(lambda);
    const root = Math.sqrt(sigma);
    singular[c] = sigma;
    if (byRows) {
      // u = eigenvector (rows); Vᵀ row = uᵀM/σ; A row = √σ·Vᵀ row = uᵀM/√σ; B col = √σ·u.
      // Row by row, so the inner loop walks M contiguously.
      const out = c * cols;
      for (let i = 0; i < rows; i++) {
        const coef = vectors[i * p + c]! / root;
        if (coef === 0) continue;
        const row = i * cols;
        for (let k = 0; k < cols; k++) a[out + k] = a[out + k]! + coef * m[row + k]!;
      }
      for (let i = 0; i < rows; i++) b[i * r + c] = vectors[i * p + c]! * root;
    } else {
      // v = eigenvector (cols); A row = √σ·vᵀ; B col = M·v/√σ.
      for (let k = 0; k < cols; k++) a[c * cols + k] = vectors[k * p + c]! * root;
      for (let i = 0; i < rows; i++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += m[i * cols + k]! * vectors[k * p + c]!;
        b[i * r + c] = s / root;
      }
    }
  }
  return { a, b, singular };
}
