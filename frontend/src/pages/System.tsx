import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import { unwrap } from "../api/client";
import { useApi, useRole } from "../auth";
import { Card, Empty, ErrorBox, Loading, StateBadge, Time } from "../components/ui";
import { duration } from "../format";

/** The few numbers worth a glance from the Prometheus text. */
export function metricsSummary(text: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN)/.exec(line);
    if (!m?.[1] || !m[3]) continue;
    sums[m[1]] = (sums[m[1]] ?? 0) + Number(m[3]);
  }
  return sums;
}

/** Events per second between two scrapes of the cumulative counter. */
export function rate(
  prev: { at: number; value: number } | null,
  now: { at: number; value: number },
): number | null {
  if (!prev || now.at <= prev.at || now.value < prev.value) return null;
  return (now.value - prev.value) / ((now.at - prev.at) / 1000);
}

function avgMs(m: Record<string, number>, name: string): string | undefined {
  const sum = m[`${name}_sum`];
  const count = m[`${name}_count`];
  return sum !== undefined && count ? `${((sum / count) * 1000).toFixed(1)} ms` : undefined;
}

function Metrics() {
  const last = useRef<{ at: number; value: number } | null>(null);
  const m = useQuery({
    queryKey: ["system", "metrics"],
    queryFn: async () => {
      const values = metricsSummary(await (await fetch("/metrics")).text());
      const now = { at: Date.now(), value: values.pi5_events_total ?? 0 };
      const perSecond = rate(last.current, now);
      last.current = now;
      return { values, perSecond };
    },
    refetchInterval: 5_000,
  });
  if (m.isPending) return <Loading />;
  if (m.error) return <ErrorBox error={m.error} />;
  const v = m.data.values;
  const rows: [string, string | undefined][] = [
    ["Events / s", m.data.perSecond == null ? "measuring…" : m.data.perSecond.toFixed(1)],
    ["Events (total)", v.pi5_events_total?.toFixed(0)],
    ["HTTP latency (mean)", avgMs(v, "pi5_http_request_duration_seconds")],
    ["Storage batch (mean)", avgMs(v, "pi5_writer_batch_seconds")],
    [
      "Resident memory",
      v.process_resident_memory_bytes
        ? `${(v.process_resident_memory_bytes / 2 ** 20).toFixed(0)} MiB`
        : undefined,
    ],
    ["CPU seconds", v.process_cpu_seconds_total?.toFixed(1)],
    ["Orders (events)", v.pi5_orders_total?.toFixed(0)],
    ["Fills", v.pi5_fills_total?.toFixed(0)],
    ["Storage backlog", v.pi5_storage_backlog?.toFixed(0)],
    ["WebSocket clients", v.pi5_channel_clients?.toFixed(0)],
  ];
  return (
    <dl className="kv" data-testid="metrics">
      {rows.map(([k, val]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{val ?? "—"}</dd>
        </div>
      ))}
    </dl>
  );
}

/** How often the readiness, the node's status and the breakers are read again: an outage
 * (a breaker opening, Redis away) shows within seconds, not at the next page load. */
export const OUTAGE_POLL_MS = 5_000;

export function useReady() {
  return useQuery({
    queryKey: ["ready"],
    queryFn: async () => {
      const res = await fetch("/ready");
      return (await res.json()) as {
        ready: boolean;
        checks: Record<string, { ok: boolean; detail: string }>;
      };
    },
    refetchInterval: OUTAGE_POLL_MS,
  });
}

function Readiness() {
  const r = useReady();
  if (r.isPending) return <Loading />;
  if (r.error) return <ErrorBox error={r.error} />;
  return (
    <>
      <p>
        {/* Its own words: "halted" here read as if trading were halted. */}
        Ready:{" "}
        <span className={`badge state-${r.data.ready ? "active" : "halted"}`}>
          {r.data.ready ? "ready" : "not ready"}
        </span>
      </p>
      <ul className="checks">
        {Object.entries(r.data.checks).map(([k, c]) => (
          <li key={k}>
            <span className={c.ok ? "up" : "down"}>{c.ok ? "✓" : "✗"}</span> {k}{" "}
            <small className="muted">{c.detail}</small>
          </li>
        ))}
      </ul>
    </>
  );
}

function AdminPanels() {
  const { client } = useApi();
  const qc = useQueryClient();
  const status = useQuery({
    queryKey: ["system", "status"],
    queryFn: () => unwrap(client.GET("/api/v1/system/status")),
    refetchInterval: OUTAGE_POLL_MS,
  });
  const breakers = useQuery({
    queryKey: ["system", "breakers"],
    queryFn: () => unwrap(client.GET("/api/v1/system/breakers")),
    refetchInterval: OUTAGE_POLL_MS,
  });
  const audit = useQuery({
    queryKey: ["system", "audit"],
    queryFn: () => unwrap(client.GET("/api/v1/audit", { params: { query: { limit: 25 } } })),
  });
  const users = useQuery({
    queryKey: ["users"],
    queryFn: () => unwrap(client.GET("/api/v1/users")),
  });
  const names = new Map((users.data ?? []).map((u) => [u.id, u.username]));
  const verify = useQuery({
    queryKey: ["system", "verify"],
    queryFn: () => unwrap(client.GET("/api/v1/audit/verify")),
  });
  const reset = useMutation({
    mutationFn: (name: string) =>
      unwrap(client.POST("/api/v1/system/breakers/{name}/reset", { params: { path: { name } } })),
    onSettled: () => void qc.invalidateQueries({ queryKey: ["system", "breakers"] }),
  });
  const breakerList = Object.entries(
    (breakers.data ?? {}) as Record<string, Record<string, unknown>>,
  ).map(([name, b]) => ({ ...b, name }) as Record<string, unknown>);
  return (
    <>
      <Card title="Node">
        {status.isPending ? (
          <Loading />
        ) : status.error ? (
          <ErrorBox error={status.error} />
        ) : (
          <dl className="kv">
            <div>
              <dt>Node</dt>
              <dd>{status.data.node}</dd>
            </div>
            <div>
              <dt>Version</dt>
              <dd>{status.data.version}</dd>
            </div>
            <div>
              <dt>Uptime</dt>
              <dd>{duration(status.data.uptime_seconds)}</dd>
            </div>
            <div>
              <dt>Engine time</dt>
              <dd>
                <Time value={status.data.engine_time} />
              </dd>
            </div>
            {Object.entries(status.data.feeds).map(([k, v]) => (
              <div key={k}>
                <dt>Feed {k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
            {Object.entries(status.data.queue).map(([k, v]) => (
              <div key={k}>
                <dt>Queue {k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        )}
      </Card>
      <Card title="Circuit breakers">
        <ErrorBox error={breakers.error ?? reset.error} />
        {breakerList.length ? (
          <ul className="checks">
            {breakerList.map((b) => (
              <li key={String(b.name)}>
                <strong>{String(b.name)}</strong> <StateBadge state={String(b.state)} />{" "}
                <button
                  type="button"
                  onClick={() => reset.mutate(String(b.name))}
                  aria-label={`Reset breaker ${String(b.name)}`}
                >
                  Reset
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <Empty>No breakers.</Empty>
        )}
      </Card>
      <Card title="Audit log" className="wide">
        {verify.data ? (
          <p data-testid="audit-verify">
            Chain:{" "}
            {verify.data.ok ? (
              <span className="up">intact ({verify.data.checked} rows checked)</span>
            ) : (
              <span className="down">
                broken at row {verify.data.broken_at}: {verify.data.reason}
              </span>
            )}
          </p>
        ) : (
          <ErrorBox error={verify.error} />
        )}
        {audit.data ? (
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Audit log, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Action</th>
                  <th scope="col">Resource</th>
                  <th scope="col">Outcome</th>
                </tr>
              </thead>
              <tbody>
                {audit.data.map((a) => (
                  <tr key={a.id}>
                    <td>
                      <Time value={a.at} />
                    </td>
                    <td title={a.actor ?? undefined}>
                      {a.actor ? (names.get(a.actor) ?? a.actor) : "—"}
                    </td>
                    <td>{a.action}</td>
                    <td>{a.resource ?? ""}</td>
                    <td>{a.outcome}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <ErrorBox error={audit.error} />
        )}
      </Card>
    </>
  );
}

export function SystemPage() {
  const { isAdmin } = useRole();
  const health = useQuery({
    queryKey: ["system", "health"],
    queryFn: async () =>
      (await (await fetch("/health")).json()) as {
        status: string;
        version: string;
        uptime_seconds: number;
      },
    refetchInterval: 15_000,
  });
  return (
    <div className="page">
      <h1>System</h1>
      <div className="grid">
        <Card title="Health">
          {health.data ? (
            <p>
              <span
                className={`badge state-${health.data.status === "healthy" ? "active" : "halted"}`}
              >
                {health.data.status}
              </span>
              , version {health.data.version}, up {duration(health.data.uptime_seconds)}
            </p>
          ) : (
            <Loading />
          )}
          <Readiness />
        </Card>
        <Card title="Metrics">
          <Metrics />
        </Card>
        {isAdmin ? (
          <AdminPanels />
        ) : (
          <p className="muted">Breakers, node status and the audit log are for admins.</p>
        )}
      </div>
    </div>
  );
}
