// Exact decimals for money and quantities: the API sends them as strings and they are shown
// as strings. This covers what the dashboard computes (a live unrealised P&L, a percentage
// shown from a ratio) without going through JS floats.

export interface Dec {
  readonly units: bigint; // value * 10^scale
  readonly scale: number;
}

const DEC_RE = /^([+-])?(\d+)(?:\.(\d+))?$|^([+-])?\.(\d+)$/;

export function isDecimal(text: string): boolean {
  return DEC_RE.test(text.trim());
}

export function parse(text: string): Dec {
  const t = text.trim();
  const m = DEC_RE.exec(t);
  if (!m) throw new Error(`not a decimal: ${JSON.stringify(text)}`);
  const sign = (m[1] ?? m[4]) === "-" ? -1n : 1n;
  const int = m[2] ?? "0";
  const frac = m[3] ?? m[5] ?? "";
  return { units: sign * BigInt(int + frac), scale: frac.length };
}

function rescale(a: Dec, scale: number): bigint {
  return a.units * 10n ** BigInt(scale - a.scale);
}

export function add(a: Dec, b: Dec): Dec {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

export function sub(a: Dec, b: Dec): Dec {
  return add(a, { units: -b.units, scale: b.scale });
}

export function mul(a: Dec, b: Dec): Dec {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

/** a / b to `places` fraction digits (rounded half away from zero); b must not be 0. */
export function div(a: Dec, b: Dec, places: number): Dec {
  if (b.units === 0n) throw new Error("division by zero");
  // a/b = (ua / 10^sa) / (ub / 10^sb); scaled by 10^(places+1) for the rounding digit.
  const exp = places + 1 + b.scale - a.scale;
  let num = a.units;
  let den = b.units;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den *= 10n ** BigInt(-exp);
  const neg = num < 0n !== den < 0n;
  const q = (num < 0n ? -num : num) / (den < 0n ? -den : den);
  const rounded = (q + 5n) / 10n;
  return { units: neg ? -rounded : rounded, scale: places };
}

export function cmp(a: Dec, b: Dec): number {
  const scale = Math.max(a.scale, b.scale);
  const d = rescale(a, scale) - rescale(b, scale);
  return d === 0n ? 0 : d > 0n ? 1 : -1;
}

export function isZero(a: Dec): boolean {
  return a.units === 0n;
}

export function sign(a: Dec): -1 | 0 | 1 {
  return a.units === 0n ? 0 : a.units > 0n ? 1 : -1;
}

/** Move the decimal point: shift(x, 2) is x * 100 (a ratio as a percentage). */
export function shift(a: Dec, places: number): Dec {
  if (places >= 0) {
    const scale = a.scale - places;
    return scale >= 0
      ? { units: a.units, scale }
      : { units: a.units * 10n ** BigInt(-scale), scale: 0 };
  }
  return { units: a.units, scale: a.scale - places };
}

/** Round half away from zero to `places` fraction digits. */
export function round(a: Dec, places: number): Dec {
  if (a.scale <= places) return { units: rescale(a, places), scale: places };
  const drop = 10n ** BigInt(a.scale - places);
  const neg = a.units < 0n;
  const abs = neg ? -a.units : a.units;
  let q = abs / drop;
  if ((abs % drop) * 2n >= drop) q += 1n;
  return { units: neg ? -q : q, scale: places };
}

export function str(a: Dec): string {
  const neg = a.units < 0n;
  let digits = (neg ? -a.units : a.units).toString();
  if (a.scale === 0) return (neg ? "-" : "") + digits;
  digits = digits.padStart(a.scale + 1, "0");
  const int = digits.slice(0, digits.length - a.scale);
  const frac = digits.slice(digits.length - a.scale);
  return `${neg ? "-" : ""}${int}.${frac}`;
}

/** For charts only (a pixel position), never for a shown amount. */
export function toNumber(text: string | null | undefined): number {
  return text == null ? Number.NaN : Number(text);
}
