import { describe, expect, it } from "vitest";
import { LiveStore } from "./store";

describe("the live store", () => {
  it("keeps the latest price per symbol from the snapshot and quotes", () => {
    const s = new LiveStore();
    s.apply({
      type: "snapshot",
      prices: [
        {
          symbol: "AAPL",
          ts_ns: "1796228100000000000",
          price: "186.675",
          bid: "186.67",
          ask: "186.68",
        },
      ],
    });
    expect(s.get().prices.AAPL?.price).toBe("186.675");
    s.apply({
      type: "quote",
      symbol: "AAPL",
      bid: "186.63",
      ask: "186.64",
      ts: "2026-12-02T16:15:10Z",
      topic: "data.quotes.AAPL",
    });
    expect(s.get().prices.AAPL).toMatchObject({ price: "186.635", bid: "186.63", ask: "186.64" });
    s.apply({ type: "equity", equity: "100026.85", cash: "95833.6", ts: "2026-12-02T16:15:10Z" });
    expect(s.get().equity?.equity).toBe("100026.85");
    s.apply({ type: "order", topic: "orders.denied", order_id: "manual-1" });
    expect(s.get().events[0]?.order_id).toBe("manual-1");
  });
});
