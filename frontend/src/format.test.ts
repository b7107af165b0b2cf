import { describe, expect, it } from "vitest";
import { add, cmp, div, mul, parse, round, str, sub } from "./decimal";
import { decimal, duration, localTime, money, pct, qty, tone, utcTime } from "./format";

describe("decimals", () => {
  it("are exact where floats are not", () => {
    expect(str(add(parse("0.1"), parse("0.2")))).toBe("0.3");
    expect(str(mul(sub(parse("187.35"), parse("185.56")), parse("10")))).toBe("17.90");
    expect(str(round(parse("2.345"), 2))).toBe("2.35");
    expect(str(round(parse("-2.345"), 2))).toBe("-2.35");
    expect(cmp(parse("1.50"), parse("1.5"))).toBe(0);
    expect(str(parse("-.5"))).toBe("-0.5");
    expect(() => parse("1e5")).toThrow();
    expect(str(div(parse("1869.3"), parse("100026.85"), 6))).toBe("0.018688");
    expect(str(div(parse("-1"), parse("3"), 4))).toBe("-0.3333");
    expect(str(div(parse("2"), parse("3"), 2))).toBe("0.67");
    expect(() => div(parse("1"), parse("0"), 2)).toThrow();
  });
});

describe("formatting", () => {
  it("money has cents, grouping and a real minus sign", () => {
    expect(money("1234.5")).toBe("1,234.50");
    expect(money("-1234567.891")).toBe("−1,234,567.891");
    expect(money("12.34567")).toBe("12.3457");
    expect(money("0")).toBe("0.00");
    expect(money("3.1", { signed: true })).toBe("+3.10");
    expect(money(null)).toBe("—");
    expect(money("99999999999999999.99")).toBe("99,999,999,999,999,999.99");
  });
  it("quantities keep their decimals", () => {
    expect(qty("10")).toBe("10");
    expect(qty("0.00100")).toBe("0.001");
    expect(decimal("1000000")).toBe("1,000,000");
  });
  it("percentages come from ratios with 2 decimals", () => {
    expect(pct("0.0123")).toBe("1.23 %");
    expect(pct("-0.191331069")).toBe("−19.13 %");
    expect(pct("0.1", { signed: true })).toBe("+10.00 %");
    expect(pct("0")).toBe("0.00 %");
  });
  it("tone follows the sign", () => {
    expect(tone("-0.01")).toBe("down");
    expect(tone("0")).toBe("flat");
    expect(tone("2")).toBe("up");
  });
  it("times are local with UTC on hover", () => {
    const iso = "2026-12-03T14:30:05Z";
    expect(utcTime(iso)).toBe("2026-12-03 14:30:05 UTC");
    expect(localTime(iso, "Asia/Tokyo")).toMatch(/23:30:05|11:30:05/);
    expect(localTime(iso, "America/New_York")).toMatch(/9:30:05|09:30:05/);
    expect(utcTime("nonsense")).toBe("nonsense");
  });
  it("durations", () => {
    expect(duration(12)).toBe("12 s");
    expect(duration(185)).toBe("3 min 05 s");
    expect(duration(3720)).toBe("1 h 02 min");
  });
});
