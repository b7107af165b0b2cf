export declare const USERS: Record<
  "admin" | "trader",
  { username: string; password: string; role: string }
>;
