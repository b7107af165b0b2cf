import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import type { BacktestJob, BacktestOptions } from "../api/backtests";
import { FINISHED } from "../api/backtests";
import { unwrap } from "../api/client";
import { useApi, useRole } from "../auth";
import { LineChart, PriceChart } from "../components/charts";
import { type JsonSchema, SchemaForm } from "../components/SchemaForm";
import {
  Card,
  Empty,
  ErrorBox,
  Loading,
  Money,
  Pct,
  Qty,
  StateBadge,
  Time,
} from "../components/ui";
import { decimal, duration, pct, utcTime } from "../format";

const RATIOS = new Set([
  "total_return",
  "annualised_return",
  "annualized_return",
  "volatility",
  "max_drawdown",
  "win_rate",
  "exposure",
]);

/** A metric as the page shows it: ratios as percentages, times and durations readable,
 * money-like values as given. */
const METRIC_LABELS: Record<string, string> = {
  start_ts: "Start",
  end_ts: "End",
  max_drawdown_duration_ns: "Longest drawdown",
  net_profit: "Net profit",
  sharpe: "Sharpe ratio",
  sortino: "Sortino ratio",
  calmar: "Calmar ratio",
};

/** A metric's name as a trader reads it: "max_drawdown" -> "Max drawdown". */
export function metricLabel(name: string): string {
  const known = METRIC_LABELS[name];
  if (known) return known;
  const words = name.replace(/_(ns|ts)$/, "").replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function metricText(name: string, value: string | null | undefined): string {
  if (value == null || value === "") return "—";
  if (RATIOS.has(name)) return pct(value, { signed: name.includes("return") });
  if (name.endsWith("_ts") && /^\d+$/.test(value))
    return utcTime(Number(BigInt(value) / 1_000_000n));
  if (name.endsWith("_ns") && /^\d+$/.test(value))
    return duration(Number(BigInt(value) / 1_000_000_000n));
  if (/^-?\d+\.\d{5,}$/.test(value)) return decimal(value, { maxFraction: 4 });
  return value;
}

function Progress({ job }: { job: BacktestJob }) {
  const pct = Math.round(job.progress * 100);
  return (
    <div className="progress-wrap">
      <progress max={100} value={pct} aria-label={`${job.id} progress`} />
      <small className="muted">
        {pct} %{job.bars_total ? ` · ${job.bars_done} / ${job.bars_total} bars` : ""}
      </small>
    </div>
  );
}

function Submit({ options }: { options: BacktestOptions }) {
  const api = useApi();
  const qc = useQueryClient();
  const id = useId();
  const types = useQuery({
    queryKey: ["strategy-types"],
    queryFn: () => unwrap(api.client.GET("/api/v1/strategies/types")),
    staleTime: 10 * 60_000,
  });
  const [strategy, setStrategy] = useState(options.strategies[0] ?? "sma_crossover");
  const [data, setData] = useState(options.data[0]?.source ?? "generated:5000");
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [cash, setCash] = useState("100000");
  const [venue, setVenue] = useState<"realistic" | "ideal">("realistic");
  const [risk, setRisk] = useState("");
  const submit = useMutation({
    mutationFn: (params: Record<string, unknown>) =>
      unwrap(
        api.client.POST("/api/v1/backtests", {
          body: {
            strategy,
            params,
            data,
            start: start ? new Date(start).toISOString() : null,
            end: end ? new Date(end).toISOString() : null,
            starting_cash: cash,
            venue,
            risk: risk || null,
          },
        }),
      ),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ["backtests"] }),
  });
  const schema = types.data?.find((t) => t.name === strategy)?.parameters as JsonSchema | undefined;
  const sources = [...options.data.map((d) => d.source), "generated:2000", "generated:20000"];
  return (
    <>
      <SchemaForm
        key={strategy}
        schema={schema ?? { properties: {} }}
        submitLabel="Run backtest"
        disabled={submit.isPending}
        onSubmit={(p) => submit.mutate(p)}
        extra={
          <>
            <div className="field">
              <label htmlFor={`${id}-s`}>Strategy</label>
              <select id={`${id}-s`} value={strategy} onChange={(e) => setStrategy(e.target.value)}>
                {options.strategies.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor={`${id}-d`}>Data</label>
              <select id={`${id}-d`} value={data} onChange={(e) => setData(e.target.value)}>
                {[...new Set(sources)].map((s) => {
                  const info = options.data.find((d) => d.source === s);
                  return (
                    <option key={s} value={s}>
                      {info ? `${s} (${info.interval}, ${info.bars} bars)` : s}
                    </option>
                  );
                })}
              </select>
            </div>
            <div className="row wrap">
              <div className="field">
                <label htmlFor={`${id}-from`}>From (optional)</label>
                <input
                  id={`${id}-from`}
                  type="datetime-local"
                  value={start}
                  onChange={(e) => setStart(e.target.value)}
                />
              </div>
              <div className="field">
                <label htmlFor={`${id}-to`}>To (optional)</label>
                <input
                  id={`${id}-to`}
                  type="datetime-local"
                  value={end}
                  onChange={(e) => setEnd(e.target.value)}
                />
              </div>
            </div>
            <div className="row wrap">
              <div className="field">
                <label htmlFor={`${id}-cash`}>Starting cash</label>
                <input
                  id={`${id}-cash`}
                  inputMode="decimal"
                  value={cash}
                  onChange={(e) => setCash(e.target.value)}
                />
              </div>
              <div className="field">
                <label htmlFor={`${id}-venue`}>Fills</label>
                <select
                  id={`${id}-venue`}
                  value={venue}
                  onChange={(e) => setVenue(e.target.value as "realistic" | "ideal")}
                >
                  {(options.venues.length ? options.venues : ["realistic", "ideal"]).map((v) => (
                    <option key={v} value={v}>
                      {v}
                    </option>
                  ))}
                </select>
              </div>
              <div className="field">
                <label htmlFor={`${id}-risk`}>Risk checks</label>
                <select id={`${id}-risk`} value={risk} onChange={(e) => setRisk(e.target.value)}>
                  <option value="">server default</option>
                  {options.risk.map((r) => (
                    <option key={r} value={r}>
                      {r}
                    </option>
                  ))}
                </select>
              </div>
            </div>
          </>
        }
      />
      <ErrorBox error={submit.error} title="Not submitted" />
      {submit.data ? (
        <p role="status" className="alert ok">
          Submitted <Link to={`/backtests/${submit.data.id}`}>{submit.data.id}</Link>
        </p>
      ) : null}
    </>
  );
}

function JobList() {
  const api = useApi();
  const { canTrade } = useRole();
  const qc = useQueryClient();
  const [params, setParams] = useSearchParams();
  const [compare, setCompare] = useState<string[]>([]);
  const jobs = useQuery({
    queryKey: ["backtests"],
    queryFn: () =>
      unwrap(api.client.GET("/api/v1/backtests", { params: { query: { limit: 50 } } })),
    refetchInterval: (q) =>
      q.state.data?.items.some((j) => !FINISHED.includes(j.status)) ? 1000 : false,
  });
  const cancel = useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.client.POST("/api/v1/backtests/{job_id}/cancel", { params: { path: { job_id: id } } }),
      ),
    onSettled: () => void qc.invalidateQueries({ queryKey: ["backtests"] }),
  });
  if (jobs.isPending) return <Loading />;
  if (jobs.error) return <ErrorBox error={jobs.error} />;
  if (!jobs.data.items.length) return <Empty>No backtests yet.</Empty>;
  return (
    <>
      <div className="table-wrap">
        <table data-testid="backtests-table">
          <caption className="sr-only">Backtest jobs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Compare</th>
              <th scope="col">Job</th>
              <th scope="col">Strategy</th>
              <th scope="col">Data</th>
              <th scope="col">Status</th>
              <th scope="col" className="r">
                Return
              </th>
              <th scope="col">Submitted</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {jobs.data.items.map((j) => (
              <tr key={j.id}>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`compare ${j.id}`}
                    disabled={j.status !== "done"}
                    checked={compare.includes(j.id)}
                    onChange={(e) =>
                      setCompare((c) =>
                        e.target.checked ? [...c, j.id].slice(-2) : c.filter((x) => x !== j.id),
                      )
                    }
                  />
                </td>
                <th scope="row">
                  <Link to={`/backtests/${j.id}`}>{j.id}</Link>
                </th>
                <td>{j.strategy}</td>
                <td>{j.data}</td>
                <td>
                  <StateBadge state={j.status} />
                  {!FINISHED.includes(j.status) ? <Progress job={j} /> : null}
                  {j.error ? <small className="down"> {j.error}</small> : null}
                </td>
                <td className="r">
                  <Pct value={j.summary?.total_return} signed />
                </td>
                <td>
                  <Time value={j.created_at} />
                </td>
                <td>
                  {canTrade && !FINISHED.includes(j.status) ? (
                    <button
                      type="button"
                      onClick={() => cancel.mutate(j.id)}
                      aria-label={`cancel ${j.id}`}
                    >
                      Cancel
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <button
        type="button"
        disabled={compare.length !== 2}
        onClick={() => setParams({ ...Object.fromEntries(params), compare: compare.join(",") })}
      >
        Compare the two selected
      </button>
    </>
  );
}

function Compare({ ids }: { ids: string }) {
  const api = useApi();
  const cmp = useQuery({
    queryKey: ["backtests", "compare", ids],
    queryFn: () =>
      unwrap(api.client.GET("/api/v1/backtests/compare", { params: { query: { ids } } })),
  });
  if (cmp.isPending) return <Loading />;
  if (cmp.error) return <ErrorBox error={cmp.error} />;
  const names = [...new Set(cmp.data.runs.flatMap((r) => Object.keys(r.metrics)))].sort();
  return (
    <div className="table-wrap">
      <table>
        <caption>Side by side</caption>
        <thead>
          <tr>
            <th scope="col">Metric</th>
            {cmp.data.runs.map((r) => (
              <th scope="col" key={r.job.id} className="r">
                {r.job.id} ({r.job.strategy})
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {names.map((n) => (
            <tr key={n}>
              <th scope="row">{metricLabel(n)}</th>
              {cmp.data.runs.map((r) => (
                <td key={r.job.id} className="r num">
                  {metricText(n, r.metrics[n])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function BacktestResultPage() {
  const api = useApi();
  const { id = "" } = useParams();
  const job = useQuery({
    queryKey: ["backtests", id],
    queryFn: () =>
      unwrap(api.client.GET("/api/v1/backtests/{job_id}", { params: { path: { job_id: id } } })),
    refetchInterval: (q) => (q.state.data && FINISHED.includes(q.state.data.status) ? false : 1000),
  });
  const done = job.data?.status === "done";
  const result = useQuery({
    queryKey: ["backtests", id, "result"],
    enabled: done,
    queryFn: () =>
      unwrap(
        api.client.GET("/api/v1/backtests/{job_id}/result", { params: { path: { job_id: id } } }),
      ),
  });
  const equity = useMemo(
    () => (result.data?.equity ?? []).map((p) => ({ time: p.time, value: Number(p.equity) })),
    [result.data],
  );
  const dd = useMemo(
    () =>
      (result.data?.equity ?? []).map((p) => ({ time: p.time, value: Number(p.drawdown) * 100 })),
    [result.data],
  );
  const candles = useMemo(
    () =>
      (result.data?.price ?? []).map((b) => ({
        time: b.time,
        open: Number(b.open),
        high: Number(b.high),
        low: Number(b.low),
        close: Number(b.close),
        volume: Number(b.volume),
      })),
    [result.data],
  );
  const markers = useMemo(
    () =>
      (result.data?.trades ?? []).flatMap((t) => [
        {
          time: t.entry_time,
          side: (t.side === "short" ? "sell" : "buy") as "buy" | "sell",
          text: "in",
        },
        {
          time: t.exit_time,
          side: (t.side === "short" ? "buy" : "sell") as "buy" | "sell",
          text: "out",
        },
      ]),
    [result.data],
  );
  const openReport = async () => {
    const token = await api.accessToken();
    const res = await fetch(`/api/v1/backtests/${id}/report`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/html" }));
    window.open(url, "_blank", "noopener");
  };
  return (
    <div className="page">
      <h1>
        Backtest {id} {job.data ? <StateBadge state={job.data.status} /> : null}
      </h1>
      <p>
        <Link to="/backtests">All backtests</Link>
      </p>
      <ErrorBox error={job.error ?? result.error} />
      {job.data && !FINISHED.includes(job.data.status) ? <Progress job={job.data} /> : null}
      {job.data?.error ? <pre className="alert error">{job.data.error}</pre> : null}
      {result.data ? (
        <div className="grid">
          <Card
            className="wide"
            title="Summary"
            actions={
              <button type="button" onClick={openReport}>
                Open the HTML report
              </button>
            }
          >
            <dl className="kv" data-testid="backtest-metrics">
              {Object.entries(result.data.metrics).map(([k, v]) => (
                <div key={k}>
                  <dt>{metricLabel(k)}</dt>
                  <dd className="num">{metricText(k, v)}</dd>
                </div>
              ))}
            </dl>
          </Card>
          <Card title="Equity and drawdown" className="wide">
            <LineChart points={equity} label="Backtest equity" />
            <h3>Drawdown (%)</h3>
            <LineChart
              points={dd}
              label="Backtest drawdown in percent"
              height={120}
              color="#c62828"
            />
          </Card>
          {candles.length ? (
            <Card title="Price with trades" className="wide">
              <PriceChart
                candles={candles}
                markers={markers}
                label="Backtest price with trades"
                height={300}
              />
            </Card>
          ) : null}
          <Card title={`Trades (${result.data.trades.length})`} className="wide">
            <div className="table-wrap">
              <table>
                <caption className="sr-only">Trades</caption>
                <thead>
                  <tr>
                    <th scope="col">Symbol</th>
                    <th scope="col">Side</th>
                    <th scope="col" className="r">
                      Qty
                    </th>
                    <th scope="col">Entry</th>
                    <th scope="col" className="r">
                      Entry price
                    </th>
                    <th scope="col">Exit</th>
                    <th scope="col" className="r">
                      Exit price
                    </th>
                    <th scope="col" className="r">
                      P&amp;L
                    </th>
                    <th scope="col" className="r">
                      Return
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {result.data.trades.slice(0, 500).map((t, i) => (
                    <tr key={`${t.entry_time}-${i}`}>
                      <th scope="row">{t.symbol}</th>
                      <td>{t.side}</td>
                      <td className="r">
                        <Qty value={t.quantity} />
                      </td>
                      <td>
                        <Time value={t.entry_time} />
                      </td>
                      <td className="r">
                        <Money value={t.entry_price} />
                      </td>
                      <td>
                        <Time value={t.exit_time} />
                      </td>
                      <td className="r">
                        <Money value={t.exit_price} />
                      </td>
                      <td className="r">
                        <Money value={t.pnl} signed />
                      </td>
                      <td className="r">
                        <Pct value={t.return} signed />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </Card>
        </div>
      ) : job.isPending ? (
        <Loading />
      ) : null}
    </div>
  );
}

export function BacktestsPage() {
  const api = useApi();
  const { canTrade } = useRole();
  const [params] = useSearchParams();
  const options = useQuery({
    queryKey: ["backtests", "options"],
    queryFn: () => unwrap(api.client.GET("/api/v1/backtests/options")),
    retry: false,
  });
  const compare = params.get("compare");
  return (
    <div className="page">
      <h1>Backtests</h1>
      {options.error ? (
        <ErrorBox error={options.error} title="Backtest jobs are not available on this server" />
      ) : null}
      <div className="grid">
        {canTrade && options.data ? (
          <Card title="New backtest">
            <Submit options={options.data} />
          </Card>
        ) : null}
        <Card title="Jobs" className="wide">
          {options.error ? <Empty>—</Empty> : <JobList />}
        </Card>
        {compare ? (
          <Card title="Compare" className="wide">
            <Compare ids={compare} />
          </Card>
        ) : null}
      </div>
    </div>
  );
}
