// What the app says to people: statuses, reasons and errors in plain words.
import { ApiError } from "./api/client";
import type { CancelReason, OrderStatus } from "./api/types";

export const ORDER_STEPS: OrderStatus[] = [
  "PENDING",
  "RESERVED",
  "PAYMENT_AUTHORIZED",
  "AWAITING_WAVE",
  "PICKING",
  "PACKED",
  "SHIPPED",
  "DELIVERED",
];

const STATUS_WORDS: Record<OrderStatus, string> = {
  PENDING: "Received",
  RESERVED: "Items reserved",
  PAYMENT_AUTHORIZED: "Payment authorized",
  AWAITING_WAVE: "Waiting for the warehouse",
  PICKING: "Being picked",
  PACKED: "Packed",
  SHIPPED: "Shipped",
  DELIVERED: "Delivered",
  CANCELLED: "Cancelled",
};

const REASON_WORDS: Record<CancelReason, string> = {
  OUT_OF_STOCK: "Some items are out of stock.",
  PAYMENT_DECLINED: "The card was declined by the bank.",
  CUSTOMER_CANCELLED: "You cancelled the order.",
  OPERATOR_CANCELLED: "Our team cancelled the order.",
  ERP_REJECTED: "Our order system could not accept the order.",
  DELIVERY_FAILED: "The carrier could not deliver the parcel.",
  FULFILMENT_FAILED: "The warehouse could not fulfil the order.",
};

const COMPENSATION_WORDS: Record<string, string> = {
  "payments.void": "The card authorization was released (you were not charged).",
  "payments.refund": "The payment was refunded.",
  "inventory.release": "The reserved items were put back in stock.",
  "inventory.return": "The shipped items were returned to stock.",
  "orders.cancel": "The order was marked cancelled.",
  "erp.cancel_sales_order": "The order was withdrawn from our order system.",
  "pickpackship.cancel": "Picking and packing were stopped.",
  "warehouse.withdraw": "The order was taken off the warehouse floor.",
  "warehouse.restock": "Picked items were put back on the shelves.",
};

const PAYMENT_WORDS: Record<string, string> = {
  PENDING: "Waiting for the bank",
  AUTHORIZED: "Authorized (not charged yet)",
  CAPTURED: "Charged",
  PARTIALLY_REFUNDED: "Partly refunded",
  REFUNDED: "Refunded",
  DECLINED: "Declined",
  VOIDED: "Released (not charged)",
};

/** The payment's state as the payments service names it, in words; unknown states are shown as they are. */
export function paymentWords(status: string | null | undefined): string {
  if (!status) return "—";
  return PAYMENT_WORDS[status] ?? status.replace(/_/g, " ").toLowerCase();
}

export function statusWords(status: string): string {
  return STATUS_WORDS[status as OrderStatus] ?? status.replace(/_/g, " ").toLowerCase();
}

export function reasonWords(reason: string | null | undefined): string {
  if (!reason) return "";
  return REASON_WORDS[reason as CancelReason] ?? reason.replace(/_/g, " ").toLowerCase();
}

export function compensationWords(step: string): string {
  return COMPENSATION_WORDS[step] ?? step;
}

export function money(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

/** An error as one sentence a person understands; server errors carry their request id to quote. */
export function errorWords(error: unknown): string {
  if (!(error instanceof ApiError)) return "Something went wrong. Please try again.";
  if (error.status === 0) return "PakLog cannot be reached. Check your connection; we will keep trying.";
  if (error.status >= 500) {
    const ref = error.requestId ? ` (reference ${error.requestId})` : "";
    if (error.status === 502 || error.status === 503 || error.status === 504)
      return `PakLog is temporarily unavailable. Please try again in a moment${ref}.`;
    return `Something went wrong on our side${ref}.`;
  }
  switch (error.status) {
    case 401:
      return error.type === "InvalidCredentials" || error.type === "AuthenticationFailed"
        ? "That username and password do not match."
        : "Your session has ended. Please sign in again.";
    case 403:
      return "You are not allowed to do that.";
    case 404:
      return "We could not find that. It may not exist, or it is not yours.";
    case 429:
      return "Too many attempts. Please wait a moment and try again.";
    default:
      return error.detail ? sentence(error.detail) : "That request could not be accepted.";
  }
}

function sentence(text: string): string {
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}
