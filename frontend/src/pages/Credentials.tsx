import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { unwrap } from "../api/client";
import type { components } from "../api/schema";
import { useApi } from "../auth";
import { Card, ErrorBox, Loading, Time } from "../components/ui";

type Stored = components["schemas"]["CredentialsOut"];
type Provider = Stored["provider"];
type Body = components["schemas"]["CredentialsIn"];

const FIELD_LABELS: Record<string, string> = {
  key_id: "Key id",
  secret_key: "Secret key",
  api_key: "API key",
};

/** What a provider's keys are, where the node takes them from. */
export function inUse(c: Stored): string {
  if (c.in_use === "environment")
    return c.stored ? "environment (stored ones ignored)" : "environment";
  if (c.in_use === "stored") return c.readable === false ? "stored, NOT readable" : "stored";
  return "none";
}

/** The request body of the provider's fields only (the others stay null). */
export function credentialsBody(fields: string[], values: Record<string, string>): Body {
  const body: Body = { key_id: null, secret_key: null, api_key: null };
  for (const f of fields) {
    if (f === "key_id" || f === "secret_key" || f === "api_key") body[f] = values[f] ?? "";
  }
  return body;
}

/** Broker and data-vendor keys, entered here and stored encrypted (admin). The keys are
 *  never shown again: only the last 4 characters of the key id. */
export function CredentialsCard() {
  const { client } = useApi();
  const qc = useQueryClient();
  const list = useQuery({
    queryKey: ["credentials"],
    queryFn: () => unwrap(client.GET("/api/v1/credentials")),
  });
  const [provider, setProvider] = useState<Provider>("alpaca");
  const [values, setValues] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
  const chosen = list.data?.find((c) => c.provider === provider);
  const fields = chosen?.fields ?? [];
  const save = useMutation({
    mutationFn: () =>
      unwrap(
        client.PUT("/api/v1/credentials/{provider}", {
          params: { path: { provider } },
          body: credentialsBody(fields, values),
        }),
      ),
    onSuccess: (c) => {
      setValues({});
      setDone(`Stored the keys of ${c.provider} (${c.hint ?? "…"}), encrypted`);
      void qc.invalidateQueries({ queryKey: ["credentials"] });
    },
  });
  const forget = useMutation({
    mutationFn: (p: Provider) =>
      unwrap(
        client.DELETE("/api/v1/credentials/{provider}", { params: { path: { provider: p } } }),
      ),
    onSettled: () => void qc.invalidateQueries({ queryKey: ["credentials"] }),
  });
  return (
    <Card title="Broker and data keys" className="wide">
      {list.isPending ? (
        <Loading />
      ) : list.error ? (
        <ErrorBox error={list.error} />
      ) : (
        <div className="table-wrap">
          <table data-testid="credentials">
            <caption className="sr-only">Broker and data keys</caption>
            <thead>
              <tr>
                <th scope="col">Provider</th>
                <th scope="col">In use</th>
                <th scope="col">Stored key</th>
                <th scope="col">Stored</th>
                <th scope="col">By</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((c) => (
                <tr key={c.provider}>
                  <th scope="row" title={c.label}>
                    {c.provider}
                  </th>
                  <td>{inUse(c)}</td>
                  <td>{c.hint ?? "—"}</td>
                  <td>
                    <Time value={c.updated_at} />
                  </td>
                  <td>{c.updated_by ?? "—"}</td>
                  <td>
                    {c.stored ? (
                      <button
                        type="button"
                        disabled={forget.isPending}
                        onClick={() => forget.mutate(c.provider)}
                      >
                        Forget
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ErrorBox error={forget.error} title="Not forgotten" />
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          setDone(null);
          save.mutate();
        }}
      >
        <div className="field">
          <label htmlFor="cred-provider">Provider</label>
          <select
            id="cred-provider"
            value={provider}
            onChange={(e) => {
              setProvider(e.target.value as Provider);
              setValues({});
            }}
          >
            {(list.data ?? []).map((c) => (
              <option key={c.provider} value={c.provider}>
                {c.label}
              </option>
            ))}
          </select>
        </div>
        {fields.map((f) => (
          <div className="field" key={f}>
            <label htmlFor={`cred-${f}`}>{FIELD_LABELS[f] ?? f}</label>
            <input
              id={`cred-${f}`}
              type="password"
              autoComplete="off"
              spellCheck={false}
              value={values[f] ?? ""}
              onChange={(e) => setValues({ ...values, [f]: e.target.value })}
            />
          </div>
        ))}
        {chosen?.environment ? (
          <p className="muted">
            {chosen.variables.join(", ")} set on the server: those keys win over stored ones.
          </p>
        ) : null}
        <ErrorBox error={save.error} title="Not stored" />
        {done ? (
          <p role="status" className="alert ok">
            {done}
          </p>
        ) : null}
        <div className="form-actions">
          <button
            type="submit"
            className="primary"
            disabled={save.isPending || fields.length === 0 || fields.some((f) => !values[f])}
          >
            Store keys
          </button>
        </div>
      </form>
    </Card>
  );
}
