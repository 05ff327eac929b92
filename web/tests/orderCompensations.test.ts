import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryHistory, createRouter } from "vue-router";
import Order from "../src/views/Order.vue";

// The timeline's stream is not what these tests are about.
vi.mock("../src/api/sse", () => ({ openStream: () => ({ stop() {} }) }));

function cancelledOrder(extra: Record<string, unknown>) {
  return {
    order_id: "o1",
    status: "CANCELLED",
    cancel_reason: "CUSTOMER_CANCELLED",
    lines: [],
    total_cents: 1200,
    currency: "EUR",
    payment_status: "VOIDED",
    history: [
      { from_status: null, to_status: "PENDING", reason: null, at: "2026-01-01T00:00:00Z" },
      { from_status: "PENDING", to_status: "CANCELLED", reason: "CUSTOMER_CANCELLED", at: "2026-01-01T00:01:00Z" },
    ],
    customer_id: "alice",
    workflow_id: "order-o1",
    ...extra,
  };
}

async function open(order: unknown) {
  vi.stubGlobal("fetch", async () => new Response(JSON.stringify(order), { status: 200, headers: { "Content-Type": "application/json" } }));
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: "/:rest(.*)*", component: { template: "<div />" } }] });
  const view = mount(Order, { props: { id: "o1" }, global: { plugins: [router] } });
  await flushPromises();
  return view.find("[data-testid=compensations]");
}

describe("a cancelled order's page opened later", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("lists what was undone from the order itself, and the undos that failed", async () => {
    const section = await open(
      cancelledOrder({
        compensations: ["payments.void", "inventory.release"],
        compensation_failures: [{ step: "erp.cancel_sales_order", error_type: "ErpDown", detail: "the ERP did not answer" }],
      }),
    );
    expect(section.text()).toContain("The card authorization was released (you were not charged).");
    expect(section.text()).toContain("The reserved items were put back in stock.");
    expect(section.text()).toContain("The order was withdrawn from our order system. failed: the ERP did not answer");
  });

  it("says the payment state instead when the order's workflow did not answer (null)", async () => {
    const section = await open(cancelledOrder({ compensations: null, compensation_failures: null }));
    expect(section.text()).toContain("Payment: released (not charged); reserved items went back to stock.");
  });
});
