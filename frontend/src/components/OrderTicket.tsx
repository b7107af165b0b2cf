// The manual order ticket: every order type the API accepts, the fields each one needs,
// validation before sending, and the risk engine's reason when it says no.
import { useId, useState } from "react";
import { isDecimal, parse, sign } from "../decimal";

export const ORDER_TYPES = [
  "market",
  "limit",
  "stop_market",
  "stop_limit",
  "market_if_touched",
  "trailing_stop_market",
] as const;
export type OrderType = (typeof ORDER_TYPES)[number];
export const TIFS = ["gtc", "day", "ioc", "fok", "gtd"] as const;

export interface OrderDraft {
  symbol: string;
  side: "buy" | "sell";
  type: OrderType;
  quantity: string;
  price: string;
  trigger_price: string;
  trailing_offset: string;
  trailing_offset_type: "price" | "basis_points";
  time_in_force: (typeof TIFS)[number];
  expire_time: string;
  reduce_only: boolean;
  post_only: boolean;
}

export const needsPrice = (t: OrderType) => t === "limit" || t === "stop_limit";
export const needsTrigger = (t: OrderType) =>
  t === "stop_market" || t === "stop_limit" || t === "market_if_touched";
export const needsTrail = (t: OrderType) => t === "trailing_stop_market";

function positive(text: string): boolean {
  return isDecimal(text) && sign(parse(text)) > 0;
}

export function validateOrder(d: OrderDraft): Partial<Record<keyof OrderDraft, string>> {
  const e: Partial<Record<keyof OrderDraft, string>> = {};
  if (!d.symbol) e.symbol = "choose a symbol";
  if (!positive(d.quantity)) e.quantity = "a quantity above 0";
  if (needsPrice(d.type) && !positive(d.price)) e.price = "a limit price above 0";
  if (needsTrigger(d.type) && !positive(d.trigger_price))
    e.trigger_price = "a trigger price above 0";
  if (needsTrail(d.type) && !positive(d.trailing_offset))
    e.trailing_offset = "a trailing offset above 0";
  if (d.time_in_force === "gtd" && !d.expire_time) e.expire_time = "an expiry time for GTD";
  if (d.post_only && d.type !== "limit") e.post_only = "post-only is for limit orders";
  return e;
}

/** The request body (only the fields the type uses). */
export function orderBody(d: OrderDraft): Record<string, unknown> {
  const body: Record<string, unknown> = {
    symbol: d.symbol,
    side: d.side,
    type: d.type,
    quantity: d.quantity.trim(),
    time_in_force: d.time_in_force,
    reduce_only: d.reduce_only,
    post_only: d.post_only,
  };
  if (needsPrice(d.type)) body.price = d.price.trim();
  if (needsTrigger(d.type)) body.trigger_price = d.trigger_price.trim();
  if (needsTrail(d.type)) {
    body.trailing_offset = d.trailing_offset.trim();
    body.trailing_offset_type = d.trailing_offset_type;
  }
  if (d.time_in_force === "gtd" && d.expire_time)
    body.expire_time = new Date(d.expire_time).toISOString();
  return body;
}

export function OrderTicket({
  symbols,
  onSubmit,
  busy,
  disabled,
  quote,
}: {
  symbols: string[];
  onSubmit: (body: Record<string, unknown>) => void;
  busy?: boolean;
  disabled?: boolean;
  /** the live price of a symbol, shown beside the fields */
  quote?: (
    symbol: string,
  ) => { price: string; bid?: string | null; ask?: string | null } | undefined;
}) {
  const id = useId();
  const [d, setD] = useState<OrderDraft>({
    symbol: symbols[0] ?? "",
    side: "buy",
    type: "market",
    quantity: "",
    price: "",
    trigger_price: "",
    trailing_offset: "",
    trailing_offset_type: "price",
    time_in_force: "gtc",
    expire_time: "",
    reduce_only: false,
    post_only: false,
  });
  const [shown, setShown] = useState(false);
  const symbol = d.symbol || symbols[0] || "";
  const draft = { ...d, symbol };
  const errors = validateOrder(draft);
  const set = <K extends keyof OrderDraft>(k: K, v: OrderDraft[K]) =>
    setD((x) => ({ ...x, [k]: v }));
  const err = (k: keyof OrderDraft) =>
    shown && errors[k] ? (
      <small id={`${id}-${k}-err`} className="field-error" role="alert">
        {errors[k]}
      </small>
    ) : null;
  const inv = (k: keyof OrderDraft) =>
    shown && errors[k] ? { "aria-invalid": true, "aria-describedby": `${id}-${k}-err` } : {};

  function submit(e: React.FormEvent) {
    e.preventDefault();
    setShown(true);
    if (Object.keys(errors).length) return;
    onSubmit(orderBody(draft));
  }

  return (
    <form className="form ticket" onSubmit={submit} noValidate aria-label="Order ticket">
      <div className="field">
        <label htmlFor={`${id}-symbol`}>Symbol</label>
        <select id={`${id}-symbol`} value={symbol} onChange={(e) => set("symbol", e.target.value)}>
          {symbols.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        {err("symbol")}
        {quote?.(symbol) ? (
          <small className="muted" data-testid="ticket-quote">
            last {quote(symbol)?.price}
            {quote(symbol)?.bid ? ` · bid ${quote(symbol)?.bid} · ask ${quote(symbol)?.ask}` : ""}
          </small>
        ) : null}
      </div>
      <fieldset className="field segmented">
        <legend>Side</legend>
        {(["buy", "sell"] as const).map((s) => (
          <label key={s} className={`seg ${d.side === s ? `on ${s}` : ""}`}>
            <input
              type="radio"
              name={`${id}-side`}
              value={s}
              checked={d.side === s}
              onChange={() => set("side", s)}
            />
            {s}
          </label>
        ))}
      </fieldset>
      <div className="field">
        <label htmlFor={`${id}-type`}>Order type</label>
        <select
          id={`${id}-type`}
          value={d.type}
          onChange={(e) => set("type", e.target.value as OrderType)}
        >
          {ORDER_TYPES.map((t) => (
            <option key={t} value={t}>
              {t.replaceAll("_", " ")}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-qty`}>Quantity</label>
        <input
          id={`${id}-qty`}
          inputMode="decimal"
          value={d.quantity}
          onChange={(e) => set("quantity", e.target.value)}
          {...inv("quantity")}
        />
        {err("quantity")}
      </div>
      {needsPrice(d.type) ? (
        <div className="field">
          <label htmlFor={`${id}-price`}>Limit price</label>
          <input
            id={`${id}-price`}
            inputMode="decimal"
            value={d.price}
            onChange={(e) => set("price", e.target.value)}
            {...inv("price")}
          />
          {err("price")}
        </div>
      ) : null}
      {needsTrigger(d.type) ? (
        <div className="field">
          <label htmlFor={`${id}-trigger`}>Trigger price</label>
          <input
            id={`${id}-trigger`}
            inputMode="decimal"
            value={d.trigger_price}
            onChange={(e) => set("trigger_price", e.target.value)}
            {...inv("trigger_price")}
          />
          {err("trigger_price")}
        </div>
      ) : null}
      {needsTrail(d.type) ? (
        <>
          <div className="field">
            <label htmlFor={`${id}-trail`}>Trailing offset</label>
            <input
              id={`${id}-trail`}
              inputMode="decimal"
              value={d.trailing_offset}
              onChange={(e) => set("trailing_offset", e.target.value)}
              {...inv("trailing_offset")}
            />
            {err("trailing_offset")}
          </div>
          <div className="field">
            <label htmlFor={`${id}-trailtype`}>Offset in</label>
            <select
              id={`${id}-trailtype`}
              value={d.trailing_offset_type}
              onChange={(e) =>
                set("trailing_offset_type", e.target.value as OrderDraft["trailing_offset_type"])
              }
            >
              <option value="price">price</option>
              <option value="basis_points">basis points</option>
            </select>
          </div>
        </>
      ) : null}
      <div className="field">
        <label htmlFor={`${id}-tif`}>Time in force</label>
        <select
          id={`${id}-tif`}
          value={d.time_in_force}
          onChange={(e) => set("time_in_force", e.target.value as OrderDraft["time_in_force"])}
        >
          {TIFS.map((t) => (
            <option key={t} value={t}>
              {t.toUpperCase()}
            </option>
          ))}
        </select>
      </div>
      {d.time_in_force === "gtd" ? (
        <div className="field">
          <label htmlFor={`${id}-exp`}>Expires (your time)</label>
          <input
            id={`${id}-exp`}
            type="datetime-local"
            value={d.expire_time}
            onChange={(e) => set("expire_time", e.target.value)}
            {...inv("expire_time")}
          />
          {err("expire_time")}
        </div>
      ) : null}
      <div className="field check">
        <input
          id={`${id}-ro`}
          type="checkbox"
          checked={d.reduce_only}
          onChange={(e) => set("reduce_only", e.target.checked)}
        />
        <label htmlFor={`${id}-ro`}>Reduce only</label>
      </div>
      <div className="field check">
        <input
          id={`${id}-po`}
          type="checkbox"
          checked={d.post_only}
          onChange={(e) => set("post_only", e.target.checked)}
        />
        <label htmlFor={`${id}-po`}>Post only</label>
        {err("post_only")}
      </div>
      <div className="form-actions">
        <button type="submit" className={`primary ${d.side}`} disabled={busy || disabled}>
          {busy ? "Sending…" : `Place ${d.side} order`}
        </button>
      </div>
    </form>
  );
}
