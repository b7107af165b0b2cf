import { describe, expect, it } from "vitest";
import { credentialsBody, inUse } from "./Credentials";

const base = {
  provider: "alpaca" as const,
  label: "Alpaca market data",
  fields: ["key_id", "secret_key"],
  variables: ["PI5_ALPACA__KEY_ID", "PI5_ALPACA__SECRET_KEY"],
  in_use: null,
  environment: false,
  stored: false,
  hint: null,
  key_id: null,
  readable: null,
  created_at: null,
  updated_at: null,
  updated_by: null,
};

describe("credentials", () => {
  it("says where the node takes a provider's keys from", () => {
    expect(inUse(base)).toBe("none");
    expect(inUse({ ...base, in_use: "stored", stored: true, readable: true })).toBe("stored");
    expect(inUse({ ...base, in_use: "stored", stored: true, readable: false })).toBe(
      "stored, NOT readable",
    );
    expect(inUse({ ...base, in_use: "environment", environment: true, stored: true })).toBe(
      "environment (stored ones ignored)",
    );
  });

  it("sends the provider's fields only", () => {
    expect(credentialsBody(["api_key"], { api_key: "K", key_id: "stale" })).toEqual({
      key_id: null,
      secret_key: null,
      api_key: "K",
    });
    expect(credentialsBody(["key_id", "secret_key"], { key_id: "PK" })).toEqual({
      key_id: "PK",
      secret_key: "",
      api_key: null,
    });
  });
});
