// The accounts the end-to-end tests sign in with (created by serve.mjs on a throwaway database).
export const USERS = {
  admin: { username: "e2e-admin", password: "quiet-harbour-lantern-9f3k", role: "admin" },
  trader: { username: "e2e-trader", password: "amber-falcon-meadow-7q2m", role: "trader" },
};
