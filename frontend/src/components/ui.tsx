import type { ReactNode } from "react";
import { ApiError } from "../api/client";
import { localTime, money, pct, qty, tone, utcTime } from "../format";

export function Money({ value, signed }: { value: string | null | undefined; signed?: boolean }) {
  return <span className={`num ${signed ? tone(value) : ""}`}>{money(value, { signed })}</span>;
}

export function Qty({ value }: { value: string | null | undefined }) {
  return <span className="num">{qty(value)}</span>;
}

export function Pct({ value, signed }: { value: string | null | undefined; signed?: boolean }) {
  return <span className={`num ${signed ? tone(value) : ""}`}>{pct(value, { signed })}</span>;
}

/** A time in the user's zone; UTC in the tooltip. */
export function Time({ value }: { value: string | null | undefined }) {
  if (!value) return <span>—</span>;
  return (
    <time dateTime={value} title={utcTime(value)}>
      {localTime(value)}
    </time>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="muted" aria-busy="true">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="muted empty">{children}</p>;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.problem.errors?.map((e) => `${e.key ?? ""} ${e.message ?? ""}`.trim());
    const detail = error.problem.detail ?? error.problem.title ?? `HTTP ${error.status}`;
    return fields?.length ? `${detail}: ${fields.join("; ")}` : detail;
  }
  return error instanceof Error ? error.message : String(error);
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <div role="alert" className="alert error">
      {title ? <strong>{title}: </strong> : null}
      {errorText(error)}
      {code ? <code className="code">{code}</code> : null}
    </div>
  );
}

export function Card({
  title,
  children,
  actions,
  className = "",
}: {
  title: ReactNode;
  children: ReactNode;
  actions?: ReactNode;
  className?: string;
}) {
  return (
    <section className={`card ${className}`}>
      <header className="card-head">
        <h2>{title}</h2>
        {actions ? <div className="actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

export function Stat({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{children}</div>
    </div>
  );
}

export function StateBadge({ state }: { state: string | null | undefined }) {
  const s = state ?? "unknown";
  return <span className={`badge state-${s}`}>{s}</span>;
}
