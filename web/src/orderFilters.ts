// The operators' order filters: kept in the URL query (a link or a reload shows the same list) and turned
// into GET /api/orders parameters. Dates are the operator's calendar days: "from" is the start of that day,
// "to" includes the whole day (the API's until is exclusive: the start of the next day), both with the zone.
import type { LocationQuery, LocationQueryRaw } from "vue-router";
import type { CancelReason } from "./api/types";

export interface OrderFilters {
  status: string;
  customer: string;
  reason: string;
  from: string; // YYYY-MM-DD or ""
  to: string; // YYYY-MM-DD or ""
}

export interface OrderListParams {
  status: string | null;
  customer_id: string | null;
  reason: string | null;
  since: string | null;
  until: string | null;
}

export const CANCEL_REASONS: CancelReason[] = [
  "OUT_OF_STOCK",
  "PAYMENT_DECLINED",
  "CUSTOMER_CANCELLED",
  "OPERATOR_CANCELLED",
  "ERP_REJECTED",
  "DELIVERY_FAILED",
  "FULFILMENT_FAILED",
];

const REASON_LABELS: Record<CancelReason, string> = {
  OUT_OF_STOCK: "Out of stock",
  PAYMENT_DECLINED: "Payment declined",
  CUSTOMER_CANCELLED: "Cancelled by the customer",
  OPERATOR_CANCELLED: "Cancelled by an operator",
  ERP_REJECTED: "Rejected by the ERP",
  DELIVERY_FAILED: "Delivery failed",
  FULFILMENT_FAILED: "Fulfilment failed",
};

export function reasonLabel(reason: string): string {
  return REASON_LABELS[reason as CancelReason] ?? reason;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function one(value: LocationQuery[string]): string {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : "";
}

/** The filters a URL names; anything malformed is left out (a hand-edited link still opens the list). */
export function filtersFromQuery(query: LocationQuery): OrderFilters {
  const reason = one(query.reason);
  const from = one(query.from);
  const to = one(query.to);
  return {
    status: one(query.status),
    customer: one(query.customer).trim(),
    reason: (CANCEL_REASONS as string[]).includes(reason) ? reason : "",
    from: DAY.test(from) && dayStart(from) !== null ? from : "",
    to: DAY.test(to) && dayStart(to) !== null ? to : "",
  };
}

/** The URL query of the filters, without the empty ones. */
export function filtersToQuery(filters: OrderFilters): LocationQueryRaw {
  const query: LocationQueryRaw = {};
  if (filters.status) query.status = filters.status;
  if (filters.customer.trim()) query.customer = filters.customer.trim();
  if (filters.reason) query.reason = filters.reason;
  if (filters.from) query.from = filters.from;
  if (filters.to) query.to = filters.to;
  return query;
}

/** Local midnight at the start of a YYYY-MM-DD day; null for a day that does not exist. */
function dayStart(day: string, addDays = 0): Date | null {
  const [y, m, d] = day.split("-").map(Number);
  const date = new Date(y, m - 1, d + addDays);
  const check = new Date(y, m - 1, d);
  return check.getFullYear() === y && check.getMonth() === m - 1 && check.getDate() === d ? date : null;
}

/** What is wrong with the date range, in words; null when nothing is. */
export function rangeProblem(filters: OrderFilters): string | null {
  if (filters.from && filters.to && filters.from > filters.to) return "The “from” date is after the “to” date.";
  return null;
}

/** GET /api/orders's parameters: since = the start of "from", until = the start of the day after "to" (UTC ISO). */
export function filtersToParams(filters: OrderFilters): OrderListParams {
  const since = filters.from ? dayStart(filters.from) : null;
  const until = filters.to ? dayStart(filters.to, 1) : null;
  return {
    status: filters.status || null,
    customer_id: filters.customer.trim() || null,
    reason: filters.reason || null,
    since: since ? since.toISOString() : null,
    until: until ? until.toISOString() : null,
  };
}
