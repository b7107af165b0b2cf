import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { ApiError, unwrap } from "../api/client";
import type { components } from "../api/schema";
import { useApi, useRole } from "../auth";
import { BrokerStatusNotice } from "../components/BrokerNotice";
import { OrderTicket } from "../components/OrderTicket";
import { Card, Empty, ErrorBox, Loading, Money, Qty, Time } from "../components/ui";
import { useLive } from "../live/LiveProvider";
import { useInstruments } from "../queries";

type Order = components["schemas"]["OrderOut"];
const WORKING = new Set(["submitted", "accepted", "partially_filled"]);
const STATUSES = [
  "",
  "submitted",
  "accepted",
  "partially_filled",
  "filled",
  "cancelled",
  "rejected",
  "denied",
  "expired",
];
const PAGE = 25;

export function isWorking(o: Order): boolean {
  return WORKING.has(o.status);
}

/** The API's time one microsecond after `iso` (`2026-12-03T14:30:00.123456Z`, the API's
 * own format): an exclusive `end` that still takes the order created at `iso`. */
export function justAfter(iso: string): string {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (!m) return iso;
  const us = Date.parse(`${m[1]}Z`) * 1000 + Number((m[2] ?? "").padEnd(6, "0")) + 1;
  const whole = new Date(Math.floor(us / 1_000_000) * 1000).toISOString().slice(0, 19);
  return `${whole}.${String(us % 1_000_000).padStart(6, "0")}Z`;
}

function ModifyDialog({
  order,
  onClose,
  onDone,
}: {
  order: Order;
  onClose: () => void;
  onDone: (message: string) => void;
}) {
  const { client } = useApi();
  const qc = useQueryClient();
  const ref = useRef<HTMLDialogElement | null>(null);
  const [quantity, setQuantity] = useState(order.quantity);
  const [price, setPrice] = useState(order.price ?? "");
  const [trigger, setTrigger] = useState(order.trigger_price ?? "");
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal?.();
  }, []);
  const modify = useMutation({
    mutationFn: () =>
      unwrap(
        client.PATCH("/api/v1/orders/{order_id}", {
          params: { path: { order_id: order.id } },
          body: {
            quantity: quantity !== order.quantity ? quantity : null,
            price: order.price != null && price !== order.price ? price : null,
            trigger_price:
              order.trigger_price != null && trigger !== order.trigger_price ? trigger : null,
          },
        }),
      ),
    onSuccess: (o) => {
      void qc.invalidateQueries({ queryKey: ["orders"] });
      const terms = [
        `quantity ${o.quantity}`,
        o.price ? `limit ${o.price}` : "",
        o.trigger_price ? `trigger ${o.trigger_price}` : "",
      ];
      onDone(`Modified ${o.id}: ${terms.filter(Boolean).join(", ")}`);
      onClose();
    },
  });
  return (
    <dialog ref={ref} aria-labelledby="modify-title" onClose={onClose} className="dialog">
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          modify.mutate();
        }}
      >
        <h2 id="modify-title">Modify {order.id}</h2>
        <div className="field">
          <label htmlFor="mod-qty">Quantity</label>
          <input
            id="mod-qty"
            inputMode="decimal"
            value={quantity}
            onChange={(e) => setQuantity(e.target.value)}
          />
        </div>
        {order.price != null ? (
          <div className="field">
            <label htmlFor="mod-price">Limit price</label>
            <input
              id="mod-price"
              inputMode="decimal"
              value={price}
              onChange={(e) => setPrice(e.target.value)}
            />
          </div>
        ) : null}
        {order.trigger_price != null ? (
          <div className="field">
            <label htmlFor="mod-trigger">Trigger price</label>
            <input
              id="mod-trigger"
              inputMode="decimal"
              value={trigger}
              onChange={(e) => setTrigger(e.target.value)}
            />
          </div>
        ) : null}
        <ErrorBox error={modify.error} />
        <div className="form-actions">
          <button type="button" onClick={onClose}>
            Close
          </button>
          <button type="submit" className="primary" disabled={modify.isPending}>
            Save
          </button>
        </div>
      </form>
    </dialog>
  );
}

export function OrdersPage() {
  const { client } = useApi();
  const { canTrade } = useRole();
  const qc = useQueryClient();
  const instruments = useInstruments();
  const live = useLive();
  const [status, setStatus] = useState("");
  const [symbol, setSymbol] = useState("");
  const [strategy, setStrategy] = useState("");
  const [since, setSince] = useState("");
  const [offset, setOffset] = useState(0);
  // Older pages list the orders created up to the first page's newest when the person
  // left it: new orders (many a second from busy strategies) would shift them, showing
  // rows twice or never. The first page stays live.
  const [asOf, setAsOf] = useState<string | null>(null);
  const [editing, setEditing] = useState<Order | null>(null);
  const [placed, setPlaced] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const orders = useQuery({
    queryKey: ["orders", status, symbol, strategy, since, offset, asOf],
    queryFn: () =>
      unwrap(
        client.GET("/api/v1/orders", {
          params: {
            query: {
              status: status ? [status] : undefined,
              symbol: symbol || undefined,
              strategy: strategy || undefined,
              start: since ? new Date(since).toISOString() : undefined,
              end: asOf ?? undefined,
              limit: PAGE,
              offset,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const place = useMutation({
    mutationFn: (body: Record<string, unknown>) =>
      unwrap(client.POST("/api/v1/orders", { body: body as components["schemas"]["OrderIn"] })),
    onSuccess: (res) => {
      setPlaced(res.denial ? null : `Placed ${res.order.id}: ${res.order.status}`);
      void qc.invalidateQueries({ queryKey: ["orders"] });
    },
    onError: () => setPlaced(null),
  });
  const cancel = useMutation({
    mutationFn: (id: string) =>
      unwrap(client.DELETE("/api/v1/orders/{order_id}", { params: { path: { order_id: id } } })),
    onSettled: () => void qc.invalidateQueries({ queryKey: ["orders"] }),
  });
  const symbols = instruments.data?.map((i) => i.symbol) ?? [];
  // The previous answer stays on screen while a new filter's or page's is on its way:
  // marked as such, and the pager waits for it (its next offset would be the old one's).
  const updating = orders.isPlaceholderData;
  const denial = place.error instanceof ApiError && place.error.code ? place.error : null;

  return (
    <div className="page">
      <h1>Orders</h1>
      <BrokerStatusNotice />
      <div className="grid orders">
        {canTrade ? (
          <Card title="New order">
            {instruments.isPending ? (
              <Loading />
            ) : (
              <OrderTicket
                symbols={symbols}
                onSubmit={(b) => place.mutate(b)}
                busy={place.isPending}
                quote={(sym) => live.prices[sym]}
              />
            )}
            {denial ? (
              <div role="alert" className="alert error" data-testid="denial">
                <strong>{denial.problem.title ?? "Denied"}:</strong> {denial.problem.detail}{" "}
                <code className="code">{denial.code}</code>
              </div>
            ) : (
              <ErrorBox error={place.error} title="Not placed" />
            )}
            {placed ? (
              <p role="status" className="alert ok">
                {placed}
              </p>
            ) : null}
          </Card>
        ) : null}
        <Card title="Orders" className="wide">
          <form
            className="filters row wrap"
            onSubmit={(e) => e.preventDefault()}
            aria-label="Filter orders"
          >
            <div className="field">
              <label htmlFor="f-status">Status</label>
              <select
                id="f-status"
                value={status}
                onChange={(e) => {
                  setStatus(e.target.value);
                  setOffset(0);
                  setAsOf(null);
                }}
              >
                {STATUSES.map((s) => (
                  <option key={s} value={s}>
                    {s || "any"}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="f-symbol">Symbol</label>
              <select
                id="f-symbol"
                value={symbol}
                onChange={(e) => {
                  setSymbol(e.target.value);
                  setOffset(0);
                  setAsOf(null);
                }}
              >
                <option value="">any</option>
                {symbols.map((s) => (
                  <option key={s}>{s}</option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="f-strategy">Strategy</label>
              <input
                id="f-strategy"
                value={strategy}
                placeholder="e.g. manual"
                onChange={(e) => {
                  setStrategy(e.target.value);
                  setOffset(0);
                  setAsOf(null);
                }}
              />
            </div>
            <div className="field">
              <label htmlFor="f-since">Since (your time)</label>
              <input
                id="f-since"
                type="datetime-local"
                value={since}
                onChange={(e) => {
                  setSince(e.target.value);
                  setOffset(0);
                  setAsOf(null);
                }}
              />
            </div>
          </form>
          <ErrorBox error={cancel.error} title="Not cancelled" />
          {notice ? (
            <p role="status" className="alert ok" data-testid="order-notice">
              {notice}
            </p>
          ) : null}
          {orders.isPending ? (
            <Loading what="Loading orders" />
          ) : orders.error ? (
            <ErrorBox error={orders.error} />
          ) : !orders.data.items.length ? (
            <Empty>No orders match.</Empty>
          ) : (
            <div className={updating ? "table-wrap updating" : "table-wrap"} aria-busy={updating}>
              <table data-testid="orders-table">
                <caption className="sr-only">Orders, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Id</th>
                    <th scope="col">Symbol</th>
                    <th scope="col">Side</th>
                    <th scope="col">Type</th>
                    <th scope="col" className="r">
                      Quantity
                    </th>
                    <th scope="col" className="r">
                      Filled
                    </th>
                    <th scope="col" className="r">
                      Price
                    </th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {orders.data.items.map((o) => (
                    <tr key={o.id} data-testid={`order-${o.id}`}>
                      <th scope="row">{o.id}</th>
                      <td>{o.symbol}</td>
                      <td className={o.side}>{o.side}</td>
                      <td>{o.type.replaceAll("_", " ")}</td>
                      <td className="r">
                        <Qty value={o.quantity} />
                      </td>
                      <td className="r">
                        <Qty value={o.filled_quantity} />
                      </td>
                      <td className="r">
                        <Money value={o.average_price ?? o.price ?? o.trigger_price} />
                      </td>
                      <td>
                        <span className={`badge status-${o.status}`}>{o.status}</span>
                        {o.reason ? <small className="muted"> {o.reason}</small> : null}
                      </td>
                      <td>
                        <Time value={o.created_at} />
                      </td>
                      <td className="actions">
                        {canTrade && isWorking(o) ? (
                          <>
                            <button
                              type="button"
                              onClick={() => setEditing(o)}
                              aria-label={`Modify ${o.id}`}
                            >
                              Modify
                            </button>
                            <button
                              type="button"
                              className="danger"
                              onClick={() => cancel.mutate(o.id)}
                              aria-label={`Cancel ${o.id}`}
                              disabled={cancel.isPending}
                            >
                              Cancel
                            </button>
                          </>
                        ) : null}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <nav className="pager row" aria-label="Pages">
            <button
              type="button"
              disabled={offset === 0 || updating}
              onClick={() => {
                const to = Math.max(0, offset - PAGE);
                setOffset(to);
                if (to === 0) setAsOf(null);
              }}
            >
              Newer
            </button>
            <span className="muted">
              {offset + 1}–{offset + (orders.data?.items.length ?? 0)}
            </span>
            {asOf ? (
              <span className="muted" data-testid="orders-as-of">
                created before <Time value={asOf} /> (newer ones: first page)
              </span>
            ) : null}
            <button
              type="button"
              disabled={orders.data?.page.next_offset == null || updating}
              onClick={() => {
                const newest = orders.data?.items[0]?.created_at;
                if (asOf == null && newest) setAsOf(justAfter(newest));
                setOffset(orders.data?.page.next_offset ?? offset);
              }}
            >
              Older
            </button>
          </nav>
        </Card>
      </div>
      {editing ? (
        <ModifyDialog order={editing} onClose={() => setEditing(null)} onDone={setNotice} />
      ) : null}
    </div>
  );
}
