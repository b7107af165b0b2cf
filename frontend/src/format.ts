// How numbers and times look everywhere: money with 2+ decimals and grouping, percentages
// from ratios with 2 decimals, times in the user's zone with UTC on hover.
import { isDecimal, parse, round, shift, str } from "./decimal";

function group(intPart: string): string {
  return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** A decimal string grouped in thousands, with at least `minFraction` and at most
 * `maxFraction` fraction digits (rounded half away from zero). Exact: no floats. */
export function decimal(
  text: string | null | undefined,
  opts: { minFraction?: number; maxFraction?: number; signed?: boolean } = {},
): string {
  if (text == null || text === "") return "—";
  if (!isDecimal(text)) return text;
  const { minFraction = 0, maxFraction = 8, signed = false } = opts;
  let d = parse(text);
  if (d.scale > maxFraction) d = round(d, maxFraction);
  let s = str(d);
  const neg = s.startsWith("-");
  if (neg) s = s.slice(1);
  let [int = "0", frac = ""] = s.split(".");
  frac = frac.replace(/0+$/, "");
  if (frac.length < minFraction) frac = frac.padEnd(minFraction, "0");
  const isZero = /^0*$/.test(int + frac);
  const body = group(int) + (frac ? `.${frac}` : "");
  if (isZero) return body;
  if (neg) return `−${body}`;
  return signed ? `+${body}` : body;
}

/** Money: 2 decimals at least (cents), more when the API gave them (up to 4). */
export function money(text: string | null | undefined, opts: { signed?: boolean } = {}): string {
  return decimal(text, { minFraction: 2, maxFraction: 4, signed: opts.signed });
}

/** A quantity: as many decimals as it has. */
export function qty(text: string | null | undefined): string {
  return decimal(text, { maxFraction: 8 });
}

/** A ratio ("0.0123") as a percentage ("1.23 %"), 2 decimals. */
export function pct(ratio: string | null | undefined, opts: { signed?: boolean } = {}): string {
  if (ratio == null || ratio === "") return "—";
  if (!isDecimal(ratio)) return ratio;
  const asPct = str(round(shift(parse(ratio), 2), 2));
  return `${decimal(asPct, { minFraction: 2, maxFraction: 2, signed: opts.signed })} %`;
}

/** −1, 0 or 1 for colouring a P&L. */
export function tone(text: string | null | undefined): "up" | "down" | "flat" {
  if (text == null || !isDecimal(text)) return "flat";
  const d = parse(text);
  return d.units > 0n ? "up" : d.units < 0n ? "down" : "flat";
}

function toDate(iso: string | number | Date): Date {
  return iso instanceof Date ? iso : new Date(iso);
}

/** A time in the user's zone ("3 Dec 2026, 14:30:05"). */
export function localTime(iso: string | number | Date, timeZone?: string): string {
  const d = toDate(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(undefined, {
    dateStyle: "medium",
    timeStyle: "medium",
    timeZone,
  }).format(d);
}

/** The same instant in UTC, for the title tooltip ("2026-12-03 14:30:05 UTC"). */
export function utcTime(iso: string | number | Date): string {
  const d = toDate(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "")} UTC`;
}

/** Seconds as "1 h 02 min", "3 min 05 s", "12 s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h) return `${h} h ${String(m).padStart(2, "0")} min`;
  if (m) return `${m} min ${String(r).padStart(2, "0")} s`;
  return `${r} s`;
}
