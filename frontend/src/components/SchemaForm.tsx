// A form generated from a strategy's JSON schema (its Config): one labelled input per
// property, the schema's defaults, and validation shown inline before anything is sent.
import { useId, useState } from "react";
import { isDecimal } from "../decimal";

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  format?: string;
  description?: string;
  title?: string;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
}

type Raw = Record<string, string | boolean>;

function kind(
  s: JsonSchema,
): "integer" | "number" | "boolean" | "enum" | "decimal" | "list" | "string" {
  if (s.enum) return "enum";
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  const any = s.anyOf?.find((x) => x.type !== "null");
  const tt = t ?? (any ? (Array.isArray(any.type) ? any.type[0] : any.type) : undefined);
  if (tt === "integer") return "integer";
  if (tt === "number") return "number";
  if (tt === "boolean") return "boolean";
  if (tt === "array") return "list";
  if (tt === "string" && (s.format === "decimal" || any?.format === "decimal")) return "decimal";
  return "string";
}

function nullable(s: JsonSchema): boolean {
  return (
    (Array.isArray(s.type) && s.type.includes("null")) || !!s.anyOf?.some((x) => x.type === "null")
  );
}

function initial(schema: JsonSchema, values?: Record<string, unknown>): Raw {
  const raw: Raw = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const v = values?.[name] ?? prop.default;
    if (kind(prop) === "boolean") raw[name] = Boolean(v);
    else if (Array.isArray(v)) raw[name] = v.join(", ");
    else raw[name] = v == null ? "" : String(v);
  }
  return raw;
}

/** Check one value; the message, or null when valid. */
export function validateField(
  prop: JsonSchema,
  raw: string | boolean,
  required: boolean,
): string | null {
  const k = kind(prop);
  if (k === "boolean") return null;
  const text = String(raw).trim();
  if (text === "")
    return required && !nullable(prop) && prop.default === undefined ? "required" : null;
  if (k === "integer" || k === "number") {
    const n = Number(text);
    if (!Number.isFinite(n)) return "a number";
    if (k === "integer" && !Number.isInteger(n)) return "a whole number";
    if (prop.minimum !== undefined && n < prop.minimum) return `at least ${prop.minimum}`;
    if (prop.maximum !== undefined && n > prop.maximum) return `at most ${prop.maximum}`;
    if (prop.exclusiveMinimum !== undefined && n <= prop.exclusiveMinimum)
      return `more than ${prop.exclusiveMinimum}`;
    if (prop.exclusiveMaximum !== undefined && n >= prop.exclusiveMaximum)
      return `less than ${prop.exclusiveMaximum}`;
  }
  if (k === "decimal" && !isDecimal(text)) return "a decimal number, e.g. 10 or 0.5";
  return null;
}

function convert(prop: JsonSchema, raw: string | boolean): unknown {
  const k = kind(prop);
  if (k === "boolean") return Boolean(raw);
  const text = String(raw).trim();
  if (text === "") return undefined;
  if (k === "integer" || k === "number") return Number(text);
  if (k === "list")
    return text
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return text;
}

export function SchemaForm({
  schema,
  values,
  submitLabel,
  onSubmit,
  disabled,
  extra,
}: {
  schema: JsonSchema;
  values?: Record<string, unknown>;
  submitLabel: string;
  onSubmit: (params: Record<string, unknown>) => void;
  disabled?: boolean;
  extra?: React.ReactNode;
}) {
  const id = useId();
  const [raw, setRaw] = useState<Raw>(() => initial(schema, values));
  const [touched, setTouched] = useState<Record<string, boolean>>({});
  const props = Object.entries(schema.properties ?? {});
  const required = new Set(schema.required ?? []);
  const errors: Record<string, string | null> = {};
  for (const [name, prop] of props)
    errors[name] = validateField(prop, raw[name] ?? "", required.has(name));
  const invalid = Object.values(errors).some(Boolean);

  function submit(e: React.FormEvent) {
    e.preventDefault();
    setTouched(Object.fromEntries(props.map(([n]) => [n, true])));
    if (invalid) return;
    const out: Record<string, unknown> = {};
    for (const [name, prop] of props) {
      const v = convert(prop, raw[name] ?? "");
      if (v !== undefined) out[name] = v;
    }
    onSubmit(out);
  }

  return (
    <form className="form" onSubmit={submit} noValidate>
      {extra}
      {props.map(([name, prop]) => {
        const k = kind(prop);
        const fid = `${id}-${name}`;
        const err = touched[name] ? errors[name] : null;
        const hint = prop.description ? <small className="muted">{prop.description}</small> : null;
        const set = (v: string | boolean) => {
          setRaw((r) => ({ ...r, [name]: v }));
          setTouched((t) => ({ ...t, [name]: true }));
        };
        if (k === "boolean") {
          return (
            <div className="field check" key={name}>
              <input
                id={fid}
                type="checkbox"
                checked={Boolean(raw[name])}
                onChange={(e) => set(e.target.checked)}
              />
              <label htmlFor={fid}>{prop.title ?? name}</label>
              {hint}
            </div>
          );
        }
        return (
          <div className="field" key={name}>
            <label htmlFor={fid}>
              {prop.title ?? name}
              {k === "list" ? " (comma-separated)" : ""}
            </label>
            {k === "enum" ? (
              <select
                id={fid}
                value={String(raw[name] ?? "")}
                onChange={(e) => set(e.target.value)}
              >
                {nullable(prop) ? <option value="">—</option> : null}
                {(prop.enum ?? []).map((o) => (
                  <option key={String(o)} value={String(o)}>
                    {String(o)}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={fid}
                inputMode={
                  k === "integer"
                    ? "numeric"
                    : k === "number" || k === "decimal"
                      ? "decimal"
                      : "text"
                }
                value={String(raw[name] ?? "")}
                aria-invalid={err ? true : undefined}
                aria-describedby={err ? `${fid}-err` : undefined}
                onChange={(e) => set(e.target.value)}
              />
            )}
            {err ? (
              <small id={`${fid}-err`} className="field-error" role="alert">
                {name}: {err}
              </small>
            ) : (
              hint
            )}
          </div>
        );
      })}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={disabled}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}
