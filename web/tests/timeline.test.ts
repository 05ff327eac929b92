import { describe, expect, it } from "vitest";
import type { OrderEvent } from "../src/api/types";
import { applyEvent, emptyTimeline, fromHistory, isFinal, steps } from "../src/timeline";

const event = (seq: number, status: OrderEvent["status"], reason: string | null = null): OrderEvent => ({
  seq,
  order_id: "o1",
  status,
  from_status: null,
  reason,
  at: `2026-01-01T00:00:0${seq}Z`,
});

describe("the live timeline", () => {
  it("follows the statuses in order and ignores what a resumed stream repeats", () => {
    let t = emptyTimeline();
    for (const e of [event(1, "PENDING"), event(2, "RESERVED"), event(3, "PAYMENT_AUTHORIZED")]) t = applyEvent(t, e);
    const again = applyEvent(applyEvent(t, event(2, "RESERVED")), event(3, "PAYMENT_AUTHORIZED"));
    expect(again).toBe(t);
    expect(t.status).toBe("PAYMENT_AUTHORIZED");
    expect(t.lastSeq).toBe(3);
    expect(steps(t).map((s) => s.state)).toEqual(["done", "done", "current", "todo", "todo", "todo", "todo", "todo"]);
  });

  it("ends on a cancellation with its reason and skips the steps never reached", () => {
    let t = applyEvent(applyEvent(emptyTimeline(), event(1, "PENDING")), event(2, "CANCELLED", "PAYMENT_DECLINED"));
    expect(isFinal(t.status)).toBe(true);
    expect(t.reason).toBe("PAYMENT_DECLINED");
    expect(steps(t).filter((s) => s.state === "skipped")).toHaveLength(7);
    t = applyEvent(t, event(1, "PENDING"));
    expect(t.events).toHaveLength(2);
  });

  it("starts from the order's recorded history", () => {
    const t = fromHistory({
      order_id: "o1",
      status: "RESERVED",
      cancel_reason: null,
      history: [
        { from_status: null, to_status: "PENDING", reason: null, at: "2026-01-01T00:00:00Z" },
        { from_status: "PENDING", to_status: "RESERVED", reason: null, at: "2026-01-01T00:00:01Z" },
      ],
    });
    expect(t.lastSeq).toBe(2);
    expect(t.status).toBe("RESERVED");
    expect(applyEvent(t, event(3, "PAYMENT_AUTHORIZED")).status).toBe("PAYMENT_AUTHORIZED");
    expect(applyEvent(t, event(2, "RESERVED"))).toBe(t);
  });
});
