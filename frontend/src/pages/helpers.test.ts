import { describe, expect, it } from "vitest";
import { metricLabel, metricText } from "./Backtests";
import { justAfter } from "./Orders";
import { unrealised } from "./Overview";
import { allocationFrom } from "./Positions";
import { metricsSummary, rate } from "./System";

describe("page helpers", () => {
  it("the API time one microsecond after another, across seconds and days", () => {
    expect(justAfter("2026-12-03T14:30:00.123456Z")).toBe("2026-12-03T14:30:00.123457Z");
    expect(justAfter("2026-12-03T14:30:00.999999Z")).toBe("2026-12-03T14:30:01.000000Z");
    expect(justAfter("2026-12-31T23:59:59.999999Z")).toBe("2027-01-01T00:00:00.000000Z");
    expect(justAfter("2026-12-03T14:30:00Z")).toBe("2026-12-03T14:30:00.000001Z");
    expect(justAfter("2026-12-03T14:30:00.5Z")).toBe("2026-12-03T14:30:00.500001Z");
    expect(justAfter("not a time")).toBe("not a time");
  });

  it("a position's live unrealised P&L is exact", () => {
    expect(unrealised("long", "10", "185.56", "187.35")).toBe("17.90");
    expect(unrealised("short", "10", "185.56", "187.35")).toBe("-17.90");
    expect(unrealised("long", "3", "0.1", "0.3")).toBe("0.6");
    expect(unrealised("long", "3", null, "0.3")).toBeNull();
  });

  it("sums Prometheus series by name and measures a rate", () => {
    const m = metricsSummary(
      [
        "# HELP pi5_events_total events",
        'pi5_events_total{topic="data.quotes"} 120',
        'pi5_events_total{topic="orders"} 30',
        "process_resident_memory_bytes 5.24288e+07",
        "pi5_http_request_duration_seconds_sum 0.5",
        "pi5_http_request_duration_seconds_count 100",
      ].join("\n"),
    );
    expect(m.pi5_events_total).toBe(150);
    expect(m.process_resident_memory_bytes).toBe(52428800);
    expect(rate({ at: 0, value: 100 }, { at: 2000, value: 150 })).toBe(25);
    expect(rate(null, { at: 1, value: 1 })).toBeNull();
    expect(rate({ at: 0, value: 100 }, { at: 1000, value: 5 })).toBeNull(); // restarted
  });
});

describe("backtest metrics", () => {
  it("show ratios as percentages and times readably", () => {
    expect(metricText("total_return", "-0.0037504")).toBe("−0.38 %");
    expect(metricText("win_rate", "0.263157894737")).toBe("26.32 %");
    expect(metricText("start_ts", "1704205860000000000")).toBe("2024-01-02 14:31:00 UTC");
    expect(metricText("max_drawdown_duration_ns", "595560000000000")).toBe("165 h 26 min");
    expect(metricText("sharpe", "-24.8359453385")).toBe("−24.8359");
    expect(metricText("trades", "19")).toBe("19");
    expect(metricText("sharpe", null)).toBe("—");
    expect(metricLabel("max_drawdown")).toBe("Max drawdown");
    expect(metricLabel("max_drawdown_duration_ns")).toBe("Longest drawdown");
    expect(metricLabel("start_ts")).toBe("Start");
  });
});

describe("allocation", () => {
  it("weights positions by equity, exactly", () => {
    const a = allocationFrom(
      [
        { symbol: "AAPL", market_value: "1869.3" },
        { symbol: "SPY", strategy_id: "demo-sma", market_value: "5976.05" },
        { symbol: "MSFT", market_value: null },
      ],
      "100026.85",
      "92181.5",
    );
    expect(a.items).toEqual([
      { symbol: "AAPL", strategy_id: null, market_value: "1869.3", weight: "0.018688" },
      { symbol: "SPY", strategy_id: "demo-sma", market_value: "5976.05", weight: "0.059744" },
    ]);
    expect(allocationFrom([{ symbol: "X", market_value: "1" }], "0", "0").items[0]?.weight).toBe(
      "0",
    );
  });
});
