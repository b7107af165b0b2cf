import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { OrderTicket, orderBody, validateOrder } from "./OrderTicket";

describe("the order ticket", () => {
  it("asks for what each order type needs", async () => {
    const user = userEvent.setup();
    render(<OrderTicket symbols={["AAPL", "MSFT"]} onSubmit={() => {}} />);
    const type = screen.getByLabelText("Order type");
    expect(screen.queryByLabelText("Limit price")).toBeNull();
    await user.selectOptions(type, "stop_limit");
    expect(screen.getByLabelText("Limit price")).toBeInTheDocument();
    expect(screen.getByLabelText("Trigger price")).toBeInTheDocument();
    await user.selectOptions(type, "trailing_stop_market");
    expect(screen.getByLabelText("Trailing offset")).toBeInTheDocument();
    expect(screen.queryByLabelText("Limit price")).toBeNull();
    await user.selectOptions(screen.getByLabelText("Time in force"), "gtd");
    expect(screen.getByLabelText("Expires (your time)")).toBeInTheDocument();
    expect(screen.getAllByRole("option").map((o) => o.textContent)).toEqual(
      expect.arrayContaining([
        "market",
        "limit",
        "stop market",
        "stop limit",
        "market if touched",
        "trailing stop market",
      ]),
    );
  });

  it("shows errors inline and sends nothing invalid", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(<OrderTicket symbols={["AAPL"]} onSubmit={onSubmit} />);
    await user.selectOptions(screen.getByLabelText("Order type"), "limit");
    await user.type(screen.getByLabelText("Quantity"), "-3");
    await user.click(screen.getByRole("button", { name: "Place buy order" }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByText("a quantity above 0")).toBeInTheDocument();
    expect(screen.getByText("a limit price above 0")).toBeInTheDocument();
    expect(screen.getByLabelText("Quantity")).toHaveAttribute("aria-invalid", "true");
    await user.clear(screen.getByLabelText("Quantity"));
    await user.type(screen.getByLabelText("Quantity"), "5");
    await user.type(screen.getByLabelText("Limit price"), "187.25");
    await user.click(screen.getByText("sell"));
    await user.click(screen.getByRole("button", { name: "Place sell order" }));
    expect(onSubmit).toHaveBeenCalledWith({
      symbol: "AAPL",
      side: "sell",
      type: "limit",
      quantity: "5",
      price: "187.25",
      time_in_force: "gtc",
      reduce_only: false,
      post_only: false,
    });
  });

  it("builds bodies with only the fields a type uses", () => {
    const base = {
      symbol: "SPY",
      side: "buy" as const,
      type: "trailing_stop_market" as const,
      quantity: "2",
      price: "1",
      trigger_price: "1",
      trailing_offset: "25",
      trailing_offset_type: "basis_points" as const,
      time_in_force: "day" as const,
      expire_time: "",
      reduce_only: true,
      post_only: false,
    };
    expect(validateOrder(base)).toEqual({});
    expect(orderBody(base)).toEqual({
      symbol: "SPY",
      side: "buy",
      type: "trailing_stop_market",
      quantity: "2",
      trailing_offset: "25",
      trailing_offset_type: "basis_points",
      time_in_force: "day",
      reduce_only: true,
      post_only: false,
    });
    expect(validateOrder({ ...base, type: "market", post_only: true })).toHaveProperty("post_only");
    expect(validateOrder({ ...base, time_in_force: "gtd" })).toHaveProperty("expire_time");
  });
});
