// The live order timeline: a pure reducer over the order's status events (seq is their 1-based position).
import type { OrderEvent, OrderStatus, OrderView } from "./api/types";
import { ORDER_STEPS } from "./words";

export interface Timeline {
  events: OrderEvent[];
  status: OrderStatus | null;
  reason: string | null;
  lastSeq: number;
}

export const emptyTimeline = (): Timeline => ({ events: [], status: null, reason: null, lastSeq: 0 });

export function isFinal(status: OrderStatus | null): boolean {
  return status === "DELIVERED" || status === "CANCELLED";
}

/** Add one event; a repeat (a resumed stream sending what was seen) or an older one changes nothing. */
export function applyEvent(timeline: Timeline, event: OrderEvent): Timeline {
  if (event.seq <= timeline.lastSeq || timeline.events.some((e) => e.seq === event.seq)) return timeline;
  const events = [...timeline.events, event].sort((a, b) => a.seq - b.seq);
  const newest = events[events.length - 1];
  return {
    events,
    status: newest.status,
    reason: newest.status === "CANCELLED" ? (newest.reason ?? timeline.reason) : timeline.reason,
    lastSeq: newest.seq,
  };
}

/** The timeline an order's `history` already tells (GET /api/orders/{id}), before the stream adds to it. */
export function fromHistory(order: Pick<OrderView, "order_id" | "history" | "status" | "cancel_reason">): Timeline {
  let timeline = emptyTimeline();
  order.history.forEach((entry, index) => {
    const status = (entry.status ?? entry.to_status) as OrderStatus | undefined;
    if (!status) return;
    timeline = applyEvent(timeline, {
      seq: index + 1,
      order_id: order.order_id,
      status,
      from_status: (entry.from_status as OrderStatus | null | undefined) ?? null,
      reason: (entry.reason as string | null | undefined) ?? null,
      at: String(entry.at ?? entry.changed_at ?? ""),
    });
  });
  if (timeline.status === null) timeline = { ...timeline, status: order.status };
  if (order.status === "CANCELLED" && !timeline.reason) timeline = { ...timeline, reason: order.cancel_reason ?? null };
  return timeline;
}

export type StepState = "done" | "current" | "todo" | "skipped";

/** Each step of the happy path and where the order is on it; a cancelled order's unreached steps are skipped. */
export function steps(timeline: Timeline): { status: OrderStatus; state: StepState; at: string | null }[] {
  const reached = new Map(timeline.events.map((e) => [e.status, e.at] as const));
  const cancelled = timeline.status === "CANCELLED";
  const current = timeline.status;
  return ORDER_STEPS.map((status) => {
    const at = reached.get(status) ?? null;
    let state: StepState;
    if (status === current) state = "current";
    else if (reached.has(status)) state = "done";
    else state = cancelled ? "skipped" : "todo";
    return { status, state, at };
  });
}
