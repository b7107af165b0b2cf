import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { BrokerNotice, brokerUnreachable } from "./BrokerNotice";

const up = { ok: true, detail: "" };

describe("the broker notice", () => {
  it("reads the broker breaker from the readiness", () => {
    expect(brokerUnreachable(undefined)).toBe(false);
    expect(brokerUnreachable({ database: up })).toBe(false); // no broker configured
    expect(brokerUnreachable({ "breaker:broker": { ok: true, detail: "closed" } })).toBe(false);
    expect(brokerUnreachable({ "breaker:broker": { ok: false, detail: "open" } })).toBe(true);
  });

  it("says nothing while the broker answers, and what happens to orders when it does not", () => {
    const { rerender } = render(
      <BrokerNotice checks={{ "breaker:broker": { ok: true, detail: "closed" } }} />,
    );
    expect(screen.queryByRole("alert")).toBeNull();
    rerender(
      <BrokerNotice checks={{ database: up, "breaker:broker": { ok: false, detail: "open" } }} />,
    );
    const alert = screen.getByRole("alert");
    expect(alert).toHaveTextContent("Orders cannot reach the broker");
    expect(alert).toHaveTextContent("the broker has no such order");
    expect(alert).toHaveTextContent("rejected, not sent late");
    // Another check failing (the database) is not the broker's notice.
    rerender(<BrokerNotice checks={{ database: { ok: false, detail: "down" } }} />);
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
