/**
 * The small dense linear algebra the from-original initialisation needs: a symmetric
 * eigendecomposition and a truncated-SVD low-rank factorisation, in float64.
 */

/**
 * Eigenvalues (descending) and eigenvectors (columns of `vectors`, n×n row-major) of a
 * symmetric n×n matrix, by cyclic Jacobi rotations. O(n³) per sweep, ~6–10 sweeps.
 */
export function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let norm = 0;
  for (let i = 0; i < n * n; i++) norm += A[i]! * A[i]!;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! * A[p * n + q]!;
    if (off <= 1e-30 * norm || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const app = A[p * n + p]!;
        const aqq = A[q * n + q]!;
        const theta = (aqq - app) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = A[k * n + p]!;
          const akq = A[k * n + q]!;
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = A[p * n + k]!;
          const aqk = A[q * n + k]!;
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!;
          const vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => A[j * n + j]! - A[i * n + i]!);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((src, dst) => {
    values[dst] = A[src * n + src]!;
    for (let k = 0; k < n; k++) vectors[k * n + dst] = V[k * n + src]!;
  });
  return { values, vectors };
}

/**
 * Best rank-r factorisation M ≈ B·A of a rows×cols matrix (row-major), split evenly
 * (A = √S·Vᵀ [r×cols], B = U·√S [rows×r], from the truncated SVD M = U·S·Vᵀ), via the
 * eigendecomposition of the smaller Gram matrix. Components with (near-)zero singular
 * values come back as zero rows/columns. O(rows·cols·min(rows, cols) + min(rows, cols)³).
 */
export function lowRankFactors(m: Float64Array | Float32Array, rows: number, cols: number, r: number): { a: Float64Array; b: Float64Array; singular: Float64Array } {
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
      for (let k = 0; k < cols; k++) {
        let s = 0;
        for (let i = 0; i < rows; i++) s += vectors[i * p + c]! * m[i * cols + k]!;
        a[c * cols + k] = s / root;
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
