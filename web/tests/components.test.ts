import { mount } from "@vue/test-utils";
import { describe, expect, it } from "vitest";
import ErrorNote from "../src/components/ErrorNote.vue";
import OrderTimeline from "../src/components/OrderTimeline.vue";
import RouteDrawing from "../src/components/RouteDrawing.vue";
import { ApiError } from "../src/api/client";
import { applyEvent, emptyTimeline } from "../src/timeline";

describe("components", () => {
  it("ErrorNote says the error in words, as an alert", () => {
    const note = mount(ErrorNote, { props: { error: new ApiError(502, "BadGateway", "x", "req-1") } });
    expect(note.get("[role=alert]").text()).toBe("PakLog is temporarily unavailable. Please try again in a moment (reference req-1).");
    expect(mount(ErrorNote, { props: { error: null } }).find("[role=alert]").exists()).toBe(false);
  });

  it("OrderTimeline marks the current step and shows a cancellation's reason", () => {
    let t = applyEvent(emptyTimeline(), { seq: 1, order_id: "o", status: "PENDING", at: "2026-01-01T00:00:00Z" });
    t = applyEvent(t, { seq: 2, order_id: "o", status: "CANCELLED", reason: "OUT_OF_STOCK", at: "2026-01-01T00:00:01Z" });
    const view = mount(OrderTimeline, { props: { timeline: t } });
    expect(view.get("[data-status=PENDING]").attributes("data-state")).toBe("done");
    expect(view.get("[data-status=SHIPPED]").attributes("data-state")).toBe("skipped");
    expect(view.get("li.cancelled").text()).toContain("Some items are out of stock.");
  });

  it("RouteDrawing draws the trail's positions as one line, oldest first", () => {
    const trail = [
      { event_id: "1", status: "IN_TRANSIT", occurred_at: "", applied: true, position: { lat: 52.5, lon: 13.4 } },
      { event_id: "2", status: "IN_TRANSIT", occurred_at: "", applied: true, position: null },
      { event_id: "3", status: "OUT_FOR_DELIVERY", occurred_at: "", applied: true, position: { lat: 53.5, lon: 10.0 } },
    ];
    const view = mount(RouteDrawing, { props: { trail } });
    expect(view.findAll("circle")).toHaveLength(2);
    expect(view.get("polyline").attributes("points")!.split(" ")).toHaveLength(2);
    expect(view.get("svg").attributes("aria-label")).toContain("OUT_FOR_DELIVERY");
    expect(mount(RouteDrawing, { props: { trail: [] } }).text()).toContain("No positions");
  });
});
