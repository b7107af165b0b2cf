import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import { useApi, useRole } from "../auth";
import { type JsonSchema, SchemaForm } from "../components/SchemaForm";
import { Card, Empty, ErrorBox, Loading, Money, Pct, StateBadge, Time } from "../components/ui";
import { useStrategies } from "../queries";

type Strategy = components["schemas"]["StrategyOut"];
type StrategyType = components["schemas"]["StrategyType"];
type Action = "start" | "stop" | "pause" | "resume";

const ACTIONS: Record<string, Action[]> = {
  running: ["pause", "stop"],
  paused: ["resume", "stop"],
  stopped: ["start"],
  created: ["start"],
  ready: ["start"],
  failed: ["start"],
};

function NewStrategy({ types }: { types: StrategyType[] }) {
  const { client } = useApi();
  const qc = useQueryClient();
  const id = useId();
  const [type, setType] = useState(types[0]?.name ?? "");
  const [name, setName] = useState("");
  const [start, setStart] = useState(true);
  const [done, setDone] = useState<string | null>(null);
  const chosen = types.find((t) => t.name === type);
  const create = useMutation({
    mutationFn: (parameters: Record<string, unknown>) =>
      unwrap(
        client.POST("/api/v1/strategies", { body: { id: name.trim(), type, parameters, start } }),
      ),
    onSuccess: (s) => {
      setDone(`Created ${s.id} (${s.status})`);
      setName("");
      void qc.invalidateQueries({ queryKey: ["strategies"] });
    },
  });
  return (
    <div>
      <div className="field">
        <label htmlFor={`${id}-type`}>Strategy type</label>
        <select id={`${id}-type`} value={type} onChange={(e) => setType(e.target.value)}>
          {types.map((t) => (
            <option key={t.name}>{t.name}</option>
          ))}
        </select>
        {chosen ? <small className="muted">{chosen.summary}</small> : null}
      </div>
      {chosen ? (
        <SchemaForm
          key={chosen.name}
          schema={chosen.parameters as JsonSchema}
          submitLabel="Create"
          disabled={create.isPending || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/.test(name.trim())}
          onSubmit={(p) => create.mutate(p)}
          extra={
            <>
              <div className="field">
                <label htmlFor={`${id}-name`}>Instance id</label>
                <input
                  id={`${id}-name`}
                  value={name}
                  placeholder="e.g. fast-sma"
                  onChange={(e) => setName(e.target.value)}
                  aria-describedby={`${id}-name-hint`}
                />
                <small id={`${id}-name-hint`} className="muted">
                  Letters, digits, dash or underscore (starting with a letter or digit); 48 at most.
                </small>
              </div>
              <div className="field check">
                <input
                  id={`${id}-start`}
                  type="checkbox"
                  checked={start}
                  onChange={(e) => setStart(e.target.checked)}
                />
                <label htmlFor={`${id}-start`}>Start now</label>
              </div>
            </>
          }
        />
      ) : null}
      <ErrorBox error={create.error} title="Not created" />
      {done ? (
        <p role="status" className="alert ok">
          {done}
        </p>
      ) : null}
    </div>
  );
}

function Reconfigure({
  s,
  type,
  onDone,
}: {
  s: Strategy;
  type?: StrategyType;
  onDone: () => void;
}) {
  const { client } = useApi();
  const qc = useQueryClient();
  const save = useMutation({
    mutationFn: (parameters: Record<string, unknown>) =>
      unwrap(
        client.PUT("/api/v1/strategies/{strategy_id}", {
          params: { path: { strategy_id: s.id } },
          body: { parameters },
        }),
      ),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["strategies"] });
      onDone();
    },
  });
  if (!type) return <Empty>This strategy's parameters cannot be edited here.</Empty>;
  return (
    <div className="reconfigure">
      <SchemaForm
        schema={type.parameters as JsonSchema}
        values={s.parameters as Record<string, unknown>}
        submitLabel="Save parameters"
        disabled={save.isPending}
        onSubmit={(p) => save.mutate(p)}
      />
      <ErrorBox error={save.error} title="Not saved" />
    </div>
  );
}

type StrategyEvent = components["schemas"]["StrategyEvent"];

function eventText(e: StrategyEvent): string {
  const terms = [e.side, e.quantity, e.symbol, e.price ? `@ ${e.price}` : ""].filter(Boolean);
  return [e.order_id ?? "", terms.join(" "), e.detail ?? ""].filter(Boolean).join(" · ");
}

/** The strategy's trades, fills and win rate, and its recent order events and status
 * changes (stored), newest first. */
function Events({ id }: { id: string }) {
  const { client } = useApi();
  const events = useQuery({
    queryKey: ["strategies", id, "events"],
    queryFn: () =>
      unwrap(
        client.GET("/api/v1/strategies/{strategy_id}/events", {
          params: { path: { strategy_id: id }, query: { limit: 10 } },
        }),
      ),
  });
  const perf = useQuery({
    queryKey: ["strategies", id, "performance"],
    queryFn: () =>
      unwrap(
        client.GET("/api/v1/strategies/{strategy_id}/performance", {
          params: { path: { strategy_id: id } },
        }),
      ),
  });
  return (
    <>
      <ErrorBox error={perf.error ?? events.error} />
      {perf.data ? (
        <p className="small" data-testid={`strategy-perf-${id}`}>
          {perf.data.trades} trades, {perf.data.fills} fills, win rate{" "}
          <Pct value={perf.data.win_rate} />
        </p>
      ) : null}
      {events.isPending ? (
        <Loading />
      ) : !events.data?.length ? (
        <small className="muted">No events yet.</small>
      ) : (
        <ul className="events">
          {events.data.map((e, i) => (
            <li key={`${e.at}-${e.kind}-${i}`}>
              <Time value={e.at} /> <code>{e.kind}</code> <span className="muted">{e.status}</span>{" "}
              {eventText(e)}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

export function StrategiesPage() {
  const { client } = useApi();
  const { canTrade } = useRole();
  const qc = useQueryClient();
  const strategies = useStrategies();
  const types = useQuery({
    queryKey: ["strategy-types"],
    queryFn: () => unwrap(client.GET("/api/v1/strategies/types")),
    staleTime: 10 * 60_000,
  });
  const [editing, setEditing] = useState<string | null>(null);
  const [shown, setShown] = useState<Record<string, boolean>>({});
  const act = useMutation({
    mutationFn: ({ id, action }: { id: string; action: Action | "delete" }) =>
      action === "delete"
        ? unwrap(
            client.DELETE("/api/v1/strategies/{strategy_id}", {
              params: { path: { strategy_id: id } },
            }),
          )
        : unwrap(
            client.POST("/api/v1/strategies/{strategy_id}/{action}", {
              params: { path: { strategy_id: id, action } },
            }),
          ),
    onSettled: () => void qc.invalidateQueries({ queryKey: ["strategies"] }),
  });
  return (
    <div className="page">
      <h1>Strategies</h1>
      <div className="grid">
        <Card title="Instances" className="wide">
          <ErrorBox error={act.error} title="Not done" />
          {strategies.isPending ? (
            <Loading />
          ) : strategies.error ? (
            <ErrorBox error={strategies.error} />
          ) : !strategies.data.length ? (
            <Empty>No strategies yet.</Empty>
          ) : (
            <ul className="instances">
              {strategies.data.map((s) => {
                const type = types.data?.find((t) => t.name === s.type);
                return (
                  <li key={s.id} className="instance" data-testid={`strategy-${s.id}`}>
                    <div className="row wrap between">
                      <div>
                        <strong>{s.id}</strong> <span className="muted">{s.type}</span>{" "}
                        <StateBadge state={s.status} />
                      </div>
                      <div className="row wrap small">
                        <span>
                          Realised <Money value={s.realized_pnl} signed />
                        </span>
                        <span>
                          Unrealised <Money value={s.unrealized_pnl} signed />
                        </span>
                        <span>
                          Commissions <Money value={s.commissions} />
                        </span>
                        <span>Open orders {s.open_orders}</span>
                      </div>
                    </div>
                    <code className="params">{JSON.stringify(s.parameters)}</code>
                    {s.error ? <pre className="alert error">{s.error}</pre> : null}
                    {canTrade && s.id !== "manual" ? (
                      <div className="row wrap">
                        {(ACTIONS[s.status] ?? ["start", "stop"]).map((a) => (
                          <button
                            key={a}
                            type="button"
                            onClick={() => act.mutate({ id: s.id, action: a })}
                            disabled={act.isPending}
                            aria-label={`${a} ${s.id}`}
                          >
                            {a}
                          </button>
                        ))}
                        <button
                          type="button"
                          onClick={() => setEditing(editing === s.id ? null : s.id)}
                        >
                          {editing === s.id ? "Close" : "Reconfigure"}
                        </button>
                        <button
                          type="button"
                          className="danger"
                          aria-label={`delete ${s.id}`}
                          onClick={() => {
                            if (window.confirm(`Stop and forget ${s.id}? Its positions stay.`))
                              act.mutate({ id: s.id, action: "delete" });
                          }}
                        >
                          delete
                        </button>
                      </div>
                    ) : null}
                    {editing === s.id ? (
                      <Reconfigure s={s} type={type} onDone={() => setEditing(null)} />
                    ) : null}
                    <details
                      onToggle={(e) => {
                        const open = (e.currentTarget as HTMLDetailsElement).open;
                        setShown((x) => ({ ...x, [s.id]: open }));
                      }}
                    >
                      <summary>Performance and recent events</summary>
                      {shown[s.id] ? <Events id={s.id} /> : null}
                    </details>
                  </li>
                );
              })}
            </ul>
          )}
        </Card>
        {canTrade ? (
          <Card title="New strategy">
            {types.isPending ? (
              <Loading />
            ) : types.error ? (
              <ErrorBox error={types.error} />
            ) : (
              <NewStrategy types={types.data} />
            )}
          </Card>
        ) : null}
      </div>
    </div>
  );
}
