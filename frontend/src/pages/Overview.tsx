import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { unwrap } from "../api/client";
import { useApi, useRole } from "../auth";
import { BrokerStatusNotice } from "../components/BrokerNotice";
import { drawdown, LineChart, plausible } from "../components/charts";
import {
  Card,
  Empty,
  ErrorBox,
  Loading,
  Money,
  Pct,
  Qty,
  Stat,
  StateBadge,
  Time,
} from "../components/ui";
import { add, mul, parse, str, sub } from "../decimal";
import { decimal } from "../format";
import { useLive } from "../live/LiveProvider";
import { useFills, useHistory, usePositions, useRisk, useSummary } from "../queries";
import { useReady } from "./System";

/** (mark - average) * signed quantity, exact. */
export function unrealised(
  side: string,
  quantity: string,
  avg: string | null | undefined,
  mark: string | null | undefined,
): string | null {
  if (!avg || !mark) return null;
  const q = parse(quantity);
  const signed = side === "short" && q.units > 0n ? { ...q, units: -q.units } : q;
  return str(mul(sub(parse(mark), parse(avg)), signed));
}

export function PositionsTable({ strategy }: { strategy?: string }) {
  const positions = usePositions(strategy);
  const live = useLive();
  if (positions.isPending) return <Loading what="Loading positions" />;
  if (positions.error) return <ErrorBox error={positions.error} />;
  if (!positions.data.length) return <Empty>No open positions.</Empty>;
  let total = parse("0");
  const rows = positions.data.map((p) => {
    const mark = live.prices[p.symbol]?.price ?? p.last_price;
    const u = unrealised(p.side, p.quantity, p.average_price, mark) ?? p.unrealized_pnl;
    if (u) total = add(total, parse(u));
    return { p, mark, u };
  });
  return (
    <div className="table-wrap">
      <table>
        <caption className="sr-only">Open positions with live marks</caption>
        <thead>
          <tr>
            <th scope="col">Symbol</th>
            <th scope="col">Side</th>
            <th scope="col" className="r">
              Quantity
            </th>
            <th scope="col" className="r">
              Average
            </th>
            <th scope="col" className="r">
              Mark
            </th>
            <th scope="col" className="r">
              Unrealised P&amp;L
            </th>
            <th scope="col" className="r">
              Realised P&amp;L
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ p, mark, u }) => (
            <tr key={`${p.symbol}-${p.strategy_id ?? ""}`} data-testid={`position-${p.symbol}`}>
              <th scope="row">{p.symbol}</th>
              <td>{p.side}</td>
              <td className="r">
                <Qty value={p.quantity} />
              </td>
              <td className="r">
                <Money value={p.average_price} />
              </td>
              <td className="r">
                <Money value={mark} />
              </td>
              <td className="r">
                <Money value={u} signed />
              </td>
              <td className="r">
                <Money value={p.realized_pnl} signed />
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row" colSpan={5}>
              Total unrealised
            </th>
            <td className="r">
              <Money value={str(total)} signed />
            </td>
            <td />
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

export function RecentFills({ limit = 10, strategy }: { limit?: number; strategy?: string }) {
  const fills = useFills(limit, strategy);
  if (fills.isPending) return <Loading what="Loading fills" />;
  if (fills.error) return <ErrorBox error={fills.error} />;
  if (!fills.data.items.length) return <Empty>No fills yet.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="sr-only">Recent fills</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Symbol</th>
            <th scope="col">Side</th>
            <th scope="col" className="r">
              Quantity
            </th>
            <th scope="col" className="r">
              Price
            </th>
            <th scope="col">Strategy</th>
          </tr>
        </thead>
        <tbody>
          {fills.data.items.map((f) => (
            <tr key={f.id}>
              <td>
                <Time value={f.at} />
              </td>
              <th scope="row">{f.symbol}</th>
              <td className={f.side}>{f.side}</td>
              <td className="r">
                <Qty value={f.quantity} />
              </td>
              <td className="r">
                <Money value={f.price} />
              </td>
              <td>{f.strategy_id}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TradingState() {
  const { client } = useApi();
  const { isAdmin } = useRole();
  const risk = useRisk();
  const qc = useQueryClient();
  const [reason, setReason] = useState("");
  const change = useMutation({
    mutationFn: (state: "active" | "reducing" | "halted") =>
      unwrap(
        client.POST("/api/v1/risk/state", {
          body: { state, reason: reason || `set from the dashboard`, strategy_id: null },
        }),
      ),
    onSuccess: () => {
      setReason("");
      void qc.invalidateQueries({ queryKey: ["risk"] });
      void qc.invalidateQueries({ queryKey: ["summary"] });
    },
  });
  if (risk.isPending) return <Loading />;
  if (risk.error) return <ErrorBox error={risk.error} />;
  const state = risk.data.state;
  return (
    <div className="trading-state">
      <p>
        Trading is <StateBadge state={state} />
        {risk.data.cause ? <span className="muted"> — {risk.data.cause}</span> : null}
      </p>
      {isAdmin ? (
        <div className="row wrap">
          <label htmlFor="risk-reason" className="sr-only">
            Reason
          </label>
          <input
            id="risk-reason"
            placeholder="Reason (required for the audit log)"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
          />
          {state !== "halted" ? (
            <button
              type="button"
              className="danger"
              onClick={() => change.mutate("halted")}
              disabled={change.isPending}
            >
              Halt trading
            </button>
          ) : null}
          {state !== "reducing" ? (
            <button
              type="button"
              onClick={() => change.mutate("reducing")}
              disabled={change.isPending}
            >
              Reduce only
            </button>
          ) : null}
          {state !== "active" ? (
            <button
              type="button"
              className="primary"
              onClick={() => change.mutate("active")}
              disabled={change.isPending}
            >
              Resume
            </button>
          ) : null}
        </div>
      ) : null}
      <ErrorBox error={change.error} />
    </div>
  );
}

export function EquityCharts({ resolution = "1m" }: { resolution?: string }) {
  const history = useHistory(resolution);
  const points = useMemo(
    () =>
      (history.data ?? [])
        .filter((p) => plausible(p.at))
        .map((p) => ({ time: p.at, value: Number(p.equity) })),
    [history.data],
  );
  const dd = useMemo(() => drawdown(points).map((p) => ({ ...p, value: p.value * 100 })), [points]);
  if (history.isPending) return <Loading what="Loading the equity curve" />;
  if (history.error) return <ErrorBox error={history.error} />;
  if (!points.length) return <Empty>No equity samples yet.</Empty>;
  return (
    <div className="charts">
      <LineChart points={points} label="Equity curve" height={220} />
      <h3>Drawdown (%)</h3>
      <LineChart points={dd} label="Drawdown in percent" height={120} color="#c62828" />
    </div>
  );
}

/** GET /api/v1/portfolio/performance: returns, drawdowns, Sharpe, win rate. */
export function usePerformance() {
  const { client } = useApi();
  return useQuery({
    queryKey: ["summary", "performance"],
    queryFn: () => unwrap(client.GET("/api/v1/portfolio/performance")),
  });
}

function Feeds() {
  const ready = useReady();
  const feeds = Object.entries(ready.data?.checks ?? {}).filter(
    ([k]) => k.startsWith("feed") || k === "node",
  );
  if (ready.isPending) return <Loading />;
  if (!feeds.length) return <Empty>No feed information.</Empty>;
  return (
    <ul className="checks" data-testid="feeds">
      {feeds.map(([k, c]) => (
        <li key={k}>
          <span className={c.ok ? "up" : "down"}>{c.ok ? "✓" : "✗"}</span>{" "}
          {k.replace(/^feed:/, "feed ")} <small className="muted">{c.detail}</small>
        </li>
      ))}
    </ul>
  );
}

export function OverviewPage() {
  const summary = useSummary();
  const perf = usePerformance();
  const live = useLive();
  const s = summary.data;
  const equity = live.equity?.equity ?? s?.equity;
  const alerts = live.events
    .filter((e) => e.topic === "orders.denied" || e.topic === "risk.state")
    .slice(0, 5);
  return (
    <div className="page">
      <h1>Overview</h1>
      <BrokerStatusNotice />
      <ErrorBox error={summary.error} />
      <div className="stats">
        <Stat label="Equity">
          <Money value={equity} />
        </Stat>
        <Stat label="Today's P&L">
          <Money value={perf.data?.today_pnl ?? s?.session_pnl} signed />
        </Stat>
        <Stat label="Unrealised">
          <Money value={s?.unrealized_pnl} signed />
        </Stat>
        <Stat label="Realised">
          <Money value={s?.realized_pnl} signed />
        </Stat>
        <Stat label="Cash">
          <Money value={live.equity?.cash ?? s?.cash} />
        </Stat>
        <Stat label="Buying power">
          <Money value={s?.buying_power} />
        </Stat>
        {perf.data ? (
          <>
            <Stat label="Total return">
              <Pct value={perf.data.total_return} signed />
            </Stat>
            <Stat label="Drawdown (max)">
              <Pct value={perf.data.current_drawdown} /> (<Pct value={perf.data.max_drawdown} />)
            </Stat>
            <Stat label="Sharpe · win rate">
              <span className="num">{decimal(perf.data.sharpe, { maxFraction: 2 })}</span> ·{" "}
              <Pct value={perf.data.win_rate} />
            </Stat>
          </>
        ) : null}
      </div>
      <div className="grid">
        <Card title="Equity and drawdown" className="wide">
          <EquityCharts />
        </Card>
        <Card title="Trading state">
          <TradingState />
          <h3>Feeds</h3>
          <Feeds />
          <h3>Prices</h3>
          <ul className="prices" aria-live="off">
            {Object.values(live.prices).map((p) => (
              <li key={p.symbol} data-testid={`price-${p.symbol}`}>
                <span>{p.symbol}</span> <Money value={p.price} />{" "}
                <small className="muted">
                  <Time value={p.at} />
                </small>
              </li>
            ))}
          </ul>
          <h3>Alerts</h3>
          {alerts.length ? (
            <ul className="alerts">
              {alerts.map((a, i) => (
                <li key={`${a.topic}-${i}`}>
                  <code>{a.topic}</code> {String(a.reason ?? a.state ?? "")}{" "}
                  {String(a.order_id ?? "")}
                </li>
              ))}
            </ul>
          ) : (
            <Empty>No alerts this session.</Empty>
          )}
        </Card>
        <Card title="Open positions" className="wide">
          <PositionsTable />
        </Card>
        <Card title="Recent fills" className="wide">
          <RecentFills />
        </Card>
      </div>
      {s ? (
        <p className="muted small">
          Open orders {s.open_orders} · positions {s.open_positions} · as of <Time value={s.at} />
        </p>
      ) : null}
    </div>
  );
}
