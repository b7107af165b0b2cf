import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { type JsonSchema, SchemaForm, validateField } from "./SchemaForm";

// The shape the API serves for sma_crossover's Config.
const SMA: JsonSchema = {
  type: "object",
  properties: {
    fast: { type: "integer", default: 20, minimum: 1 },
    slow: { type: "integer", default: 50 },
    kind: { enum: ["ema", "sma"], default: "sma" },
    quantity: { type: "string", format: "decimal", default: "100" },
    symbols: { type: "array", items: { type: "string" }, default: [] },
    flip: { type: "boolean", default: false },
  },
  required: [],
};

describe("the schema form", () => {
  it("makes a labelled input per property with the defaults", () => {
    render(<SchemaForm schema={SMA} submitLabel="Create" onSubmit={() => {}} />);
    expect(screen.getByLabelText("fast")).toHaveValue("20");
    expect(screen.getByLabelText("kind")).toHaveValue("sma");
    expect(screen.getByLabelText("quantity")).toHaveValue("100");
    expect(screen.getByLabelText("symbols (comma-separated)")).toHaveValue("");
    expect(screen.getByLabelText("flip")).not.toBeChecked();
  });

  it("validates inline and converts the values", async () => {
    const user = userEvent.setup();
    const onSubmit = vi.fn();
    render(
      <SchemaForm schema={SMA} values={{ fast: 3 }} submitLabel="Create" onSubmit={onSubmit} />,
    );
    const fast = screen.getByLabelText("fast");
    expect(fast).toHaveValue("3");
    await user.clear(fast);
    await user.type(fast, "2.5");
    expect(screen.getByRole("alert")).toHaveTextContent("fast: a whole number");
    await user.clear(fast);
    await user.type(fast, "0");
    expect(screen.getByRole("alert")).toHaveTextContent("fast: at least 1");
    await user.click(screen.getByRole("button", { name: "Create" }));
    expect(onSubmit).not.toHaveBeenCalled();
    await user.clear(fast);
    await user.type(fast, "5");
    await user.clear(screen.getByLabelText("quantity"));
    await user.type(screen.getByLabelText("quantity"), "1.5");
    await user.type(screen.getByLabelText("symbols (comma-separated)"), "AAPL, MSFT");
    await user.selectOptions(screen.getByLabelText("kind"), "ema");
    await user.click(screen.getByRole("button", { name: "Create" }));
    expect(onSubmit).toHaveBeenCalledWith({
      fast: 5,
      slow: 50,
      kind: "ema",
      quantity: "1.5",
      symbols: ["AAPL", "MSFT"],
      flip: false,
    });
  });

  it("checks single fields", () => {
    expect(validateField({ type: "number", maximum: 1 }, "2", false)).toBe("at most 1");
    expect(validateField({ type: "string", format: "decimal" }, "1,5", false)).toMatch(/decimal/);
    expect(validateField({ type: "integer" }, "", true)).toBe("required");
    expect(validateField({ type: ["integer", "null"] }, "", true)).toBeNull();
  });
});
