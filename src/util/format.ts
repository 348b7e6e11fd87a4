/** Number formatting shared by every printed report (one rule, so one number prints one way). */

/** 1234 → "1.23K", 2359296 → "2.36M" (three significant digits); integers below 1000 as they are. */
export function humanCount(x: number): string {
  const a = Math.abs(x);
  if (a < 1000) return Number.isInteger(x) ? String(x) : x.toFixed(2);
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [v, u] of units) if (a >= v) return `${(x / v).toFixed(a / v >= 100 ? 0 : a / v >= 10 ? 1 : 2)}${u}`;
  return String(x);
}

/** Bytes with binary units: "97.5 MiB". */
export function humanBytes(x: number): string {
  if (x < 1024) return `${x} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = x;
  let i = -1;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
