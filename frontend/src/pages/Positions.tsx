import { useQuery } from "@tanstack/react-query";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import { useApi } from "../auth";
import { Card, Empty, ErrorBox, Loading, Money, Pct } from "../components/ui";
import { div, isDecimal, isZero, parse, round, shift, str } from "../decimal";
import { usePositions, useStrategies, useSummary } from "../queries";
import { PositionsTable, usePerformance } from "./Overview";

type Allocation = components["schemas"]["Allocation"];

/** Width of a bar for a weight ("0.25" -> 25): a layout number, not a shown amount. */
function barWidth(weight: string): number {
  if (!isDecimal(weight)) return 0;
  return Math.max(0, Math.min(100, Number(str(round(shift(parse(weight), 2), 1)))));
}

/** Allocation as plain SVG-free CSS bars (no chart library needed for a handful of rows). */
export function AllocationBars({
  items,
}: {
  items: { label: string; value: string; weight: string }[];
}) {
  if (!items.length) return <Empty>Nothing allocated: all cash.</Empty>;
  return (
    <ul className="bars" aria-label="Allocation by weight of equity">
      {items.map((i) => (
        <li key={i.label}>
          <span className="bar-label">{i.label}</span>
          <span className="bar-track" aria-hidden="true">
            <span className="bar-fill" style={{ width: `${barWidth(i.weight)}%` }} />
          </span>
          <span className="bar-value">
            <Pct value={i.weight} /> · <Money value={i.value} />
          </span>
        </li>
      ))}
    </ul>
  );
}

/** Weights of equity from the open positions, when the server has no allocation route. */
export function allocationFrom(
  positions: { symbol: string; strategy_id?: string | null; market_value?: string | null }[],
  equity: string,
  cash: string,
): Allocation {
  const eq = parse(equity);
  const weight = (v: string) => (isZero(eq) ? "0" : str(div(parse(v), eq, 6)));
  return {
    cash,
    equity,
    items: positions
      .filter((p) => p.market_value)
      .map((p) => ({
        symbol: p.symbol,
        strategy_id: p.strategy_id ?? null,
        market_value: p.market_value ?? "0",
        weight: weight(p.market_value ?? "0"),
      })),
  };
}

function Allocation() {
  const api = useApi();
  const positions = usePositions();
  const summary = useSummary();
  const alloc = useQuery({
    queryKey: ["positions", "allocation"],
    queryFn: () => unwrap(api.client.GET("/api/v1/portfolio/allocation")),
  });
  if (alloc.isPending) return <Loading />;
  let data: Allocation | null = alloc.data ?? null;
  if (!data && positions.data && summary.data)
    data = allocationFrom(positions.data, summary.data.equity, summary.data.cash);
  if (!data) return <Loading />;
  return (
    <>
      <AllocationBars
        items={data.items.map((i) => ({
          label: i.strategy_id ? `${i.symbol} (${i.strategy_id})` : i.symbol,
          value: i.market_value,
          weight: i.weight,
        }))}
      />
      <p className="small muted">
        Cash <Money value={data.cash} /> of equity <Money value={data.equity} />
        {alloc.data ? null : " (weights computed here from the open positions)"}
      </p>
    </>
  );
}

export function PositionsPage() {
  const summary = useSummary();
  const strategies = useStrategies();
  const performance = usePerformance();
  const perf = new Map((performance.data?.by_strategy ?? []).map((b) => [b.strategy_id, b]));
  return (
    <div className="page">
      <h1>Positions and portfolio</h1>
      <div className="grid">
        <Card title="Open positions (live marks)" className="wide">
          <PositionsTable />
        </Card>
        <Card title="Allocation">
          <Allocation />
        </Card>
        <Card title="By strategy" className="wide">
          <ErrorBox error={strategies.error} />
          {strategies.data ? (
            <div className="table-wrap">
              <table>
                <caption className="sr-only">P&amp;L attribution per strategy</caption>
                <thead>
                  <tr>
                    <th scope="col">Strategy</th>
                    <th scope="col" className="r">
                      Realised
                    </th>
                    <th scope="col" className="r">
                      Unrealised
                    </th>
                    <th scope="col" className="r">
                      Commissions
                    </th>
                    <th scope="col" className="r">
                      Trades
                    </th>
                    <th scope="col" className="r">
                      Fills
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {strategies.data.map((s) => (
                    <tr key={s.id}>
                      <th scope="row">{s.id}</th>
                      <td className="r">
                        <Money value={s.realized_pnl} signed />
                      </td>
                      <td className="r">
                        <Money value={s.unrealized_pnl} signed />
                      </td>
                      <td className="r">
                        <Money value={s.commissions} />
                      </td>
                      <td className="r">{perf.get(s.id)?.trades ?? "—"}</td>
                      <td className="r">{perf.get(s.id)?.fills ?? "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : (
            <Loading />
          )}
          {summary.data ? (
            <p className="small muted">
              Account: realised <Money value={summary.data.realized_pnl} signed />, unrealised{" "}
              <Money value={summary.data.unrealized_pnl} signed />, commissions{" "}
              <Money value={summary.data.commissions} />
            </p>
          ) : null}
        </Card>
      </div>
    </div>
  );
}
