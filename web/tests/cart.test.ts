import { describe, expect, it } from "vitest";
import type { Product } from "../src/api/types";
import { MAX_QUANTITY, addToCart, cartCount, cartTotals, orderLines, removeFromCart, setQuantity } from "../src/cart";

const mug: Product = { sku: "MUG-RED", name: "Red mug", price_cents: 1250, currency: "EUR", on_hand: 100, available: 100, reserved: 0 };
const tee: Product = { sku: "TEE-BLK-M", name: "Black tee", price_cents: 1999, currency: "EUR", on_hand: 100, available: 100, reserved: 0 };

describe("the cart", () => {
  it("adds up lines, merging the same SKU", () => {
    let lines = addToCart([], mug);
    lines = addToCart(lines, tee, 2);
    lines = addToCart(lines, mug);
    expect(lines.map((l) => [l.sku, l.quantity])).toEqual([["MUG-RED", 2], ["TEE-BLK-M", 2]]);
    expect(cartCount(lines)).toBe(4);
    expect(cartTotals(lines)).toEqual([{ currency: "EUR", cents: 2 * 1250 + 2 * 1999 }]);
    expect(orderLines(lines)).toEqual([{ sku: "MUG-RED", quantity: 2 }, { sku: "TEE-BLK-M", quantity: 2 }]);
  });

  it("drops a line set to zero and keeps quantities within bounds", () => {
    let lines = addToCart(addToCart([], mug), tee);
    lines = setQuantity(lines, "MUG-RED", 0);
    expect(lines.map((l) => l.sku)).toEqual(["TEE-BLK-M"]);
    lines = setQuantity(lines, "TEE-BLK-M", 1000);
    expect(lines[0].quantity).toBe(MAX_QUANTITY);
    lines = setQuantity(lines, "TEE-BLK-M", Number.NaN);
    expect(lines).toEqual([]);
    expect(removeFromCart(addToCart([], mug), "MUG-RED")).toEqual([]);
  });
});
