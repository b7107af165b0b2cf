import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { unwrap } from "../api/client";
import { useApi, useSession } from "../auth";
import { Card, ErrorBox, Loading, Time } from "../components/ui";
import { CredentialsCard } from "./Credentials";

const ROLES = ["viewer", "trader", "admin"];

export function UsersPage() {
  const { client } = useApi();
  const me = useSession()?.user;
  const qc = useQueryClient();
  const users = useQuery({
    queryKey: ["users"],
    queryFn: () => unwrap(client.GET("/api/v1/users")),
  });
  const [form, setForm] = useState({ username: "", password: "", role: "viewer" });
  const [created, setCreated] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () => unwrap(client.POST("/api/v1/users", { body: { ...form, email: null } })),
    onSuccess: (u) => {
      setCreated(`Created ${u.username} (${u.role})`);
      setForm({ username: "", password: "", role: "viewer" });
      void qc.invalidateQueries({ queryKey: ["users"] });
    },
  });
  const update = useMutation({
    mutationFn: ({ id, role, is_active }: { id: string; role?: string; is_active?: boolean }) =>
      unwrap(
        client.PATCH("/api/v1/users/{user_id}", {
          params: { path: { user_id: id } },
          body: { role: role ?? null, is_active: is_active ?? null },
        }),
      ),
    onSettled: () => void qc.invalidateQueries({ queryKey: ["users"] }),
  });
  return (
    <div className="page">
      <h1>Users</h1>
      <div className="grid">
        <Card title="Users" className="wide">
          <ErrorBox error={update.error} title="Not changed" />
          {users.isPending ? (
            <Loading />
          ) : users.error ? (
            <ErrorBox error={users.error} />
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="sr-only">Users</caption>
                <thead>
                  <tr>
                    <th scope="col">User</th>
                    <th scope="col">Role</th>
                    <th scope="col">Active</th>
                    <th scope="col">Last sign-in</th>
                  </tr>
                </thead>
                <tbody>
                  {users.data.map((u) => {
                    const self = u.id === me?.id;
                    return (
                      <tr key={u.id}>
                        <th scope="row">{u.username}</th>
                        <td>
                          <label className="sr-only" htmlFor={`role-${u.id}`}>
                            Role of {u.username}
                          </label>
                          <select
                            id={`role-${u.id}`}
                            value={u.role}
                            disabled={self}
                            onChange={(e) => update.mutate({ id: u.id, role: e.target.value })}
                          >
                            {ROLES.map((r) => (
                              <option key={r}>{r}</option>
                            ))}
                          </select>
                        </td>
                        <td>
                          <input
                            type="checkbox"
                            aria-label={`${u.username} can sign in`}
                            checked={u.is_active}
                            disabled={self}
                            onChange={(e) =>
                              update.mutate({ id: u.id, is_active: e.target.checked })
                            }
                          />
                        </td>
                        <td>
                          <Time value={u.last_login_at} />
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </Card>
        <Card title="New user">
          <form
            className="form"
            onSubmit={(e) => {
              e.preventDefault();
              create.mutate();
            }}
          >
            <div className="field">
              <label htmlFor="nu-name">Username</label>
              <input
                id="nu-name"
                value={form.username}
                onChange={(e) => setForm({ ...form, username: e.target.value })}
              />
            </div>
            <div className="field">
              <label htmlFor="nu-pass">Password (12 characters or more)</label>
              <input
                id="nu-pass"
                type="password"
                autoComplete="new-password"
                value={form.password}
                onChange={(e) => setForm({ ...form, password: e.target.value })}
              />
            </div>
            <div className="field">
              <label htmlFor="nu-role">Role</label>
              <select
                id="nu-role"
                value={form.role}
                onChange={(e) => setForm({ ...form, role: e.target.value })}
              >
                {ROLES.map((r) => (
                  <option key={r}>{r}</option>
                ))}
              </select>
            </div>
            <ErrorBox error={create.error} title="Not created" />
            {created ? (
              <p role="status" className="alert ok">
                {created}
              </p>
            ) : null}
            <div className="form-actions">
              <button
                type="submit"
                className="primary"
                disabled={create.isPending || !form.username || form.password.length < 12}
              >
                Create user
              </button>
            </div>
          </form>
        </Card>
        <CredentialsCard />
      </div>
    </div>
  );
}
