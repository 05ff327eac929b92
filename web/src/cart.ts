// The cart: pure functions over its lines, and one reactive cart kept in localStorage.
import { reactive, watch } from "vue";
import type { PlaceOrderRequest, Product } from "./api/types";

export interface CartLine {
  sku: string;
  name: string;
  price_cents: number;
  currency: string;
  quantity: number;
}

/** The most one line may hold (the gateway refuses more per line). */
export const MAX_QUANTITY = 99;

export function addToCart(lines: CartLine[], product: Product, quantity = 1): CartLine[] {
  const existing = lines.find((line) => line.sku === product.sku);
  if (existing) return setQuantity(lines, product.sku, existing.quantity + quantity);
  const line: CartLine = {
    sku: product.sku,
    name: product.name,
    price_cents: product.price_cents,
    currency: product.currency,
    quantity: clamp(quantity),
  };
  return [...lines, line];
}

export function setQuantity(lines: CartLine[], sku: string, quantity: number): CartLine[] {
  if (!Number.isFinite(quantity) || quantity < 1) return lines.filter((line) => line.sku !== sku);
  return lines.map((line) => (line.sku === sku ? { ...line, quantity: clamp(quantity) } : line));
}

export function removeFromCart(lines: CartLine[], sku: string): CartLine[] {
  return lines.filter((line) => line.sku !== sku);
}

/** Totals per currency (the catalogue has one, but the cart never adds two currencies together). */
export function cartTotals(lines: CartLine[]): { currency: string; cents: number }[] {
  const totals = new Map<string, number>();
  for (const line of lines) totals.set(line.currency, (totals.get(line.currency) ?? 0) + line.price_cents * line.quantity);
  return [...totals.entries()].map(([currency, cents]) => ({ currency, cents }));
}

export function cartCount(lines: CartLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity, 0);
}

export function orderLines(lines: CartLine[]): PlaceOrderRequest["lines"] {
  return lines.map((line) => ({ sku: line.sku, quantity: line.quantity }));
}

function clamp(quantity: number): number {
  return Math.min(MAX_QUANTITY, Math.max(1, Math.floor(quantity)));
}

const KEY = "paklog.cart";

function load(): CartLine[] {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) ?? "[]") as unknown;
    return Array.isArray(saved) ? (saved as CartLine[]) : [];
  } catch {
    return [];
  }
}

export const cart = reactive({ lines: load() });

watch(
  () => cart.lines,
  (lines) => localStorage.setItem(KEY, JSON.stringify(lines)),
  { deep: true },
);

export function clearCart(): void {
  cart.lines = [];
}
