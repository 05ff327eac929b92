import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMemoryHistory, createRouter } from "vue-router";
import { filtersFromQuery, filtersToParams, filtersToQuery, rangeProblem } from "../src/orderFilters";
import Orders from "../src/ops/Orders.vue";

// The operator stream is not what these tests are about.
vi.mock("../src/api/sse", () => ({ openStream: () => ({ stop() {} }) }));

const EMPTY = { items: [], total: 0, limit: 25, offset: 0, next_cursor: null };

describe("the operators' order filters", () => {
  it("turn calendar days into since (start of from) and until (start of the day after to), with the zone", () => {
    const params = filtersToParams({ status: "", customer: " bob ", reason: "OUT_OF_STOCK", from: "2026-03-01", to: "2026-03-02" });
    expect(params).toEqual({
      status: null,
      customer_id: "bob",
      reason: "OUT_OF_STOCK",
      since: new Date(2026, 2, 1).toISOString(),
      until: new Date(2026, 2, 3).toISOString(),
    });
    expect(params.since).toMatch(/Z$/);
  });

  it("leave out of the URL what is empty, and ignore what a hand-edited URL gets wrong", () => {
    expect(filtersToQuery({ status: "CANCELLED", customer: "", reason: "", from: "2026-03-01", to: "" })).toEqual({
      status: "CANCELLED",
      from: "2026-03-01",
    });
    expect(filtersFromQuery({ reason: "BORED", from: "2026-02-30", to: "yesterday", customer: ["ann", "bob"] })).toEqual({
      status: "",
      customer: "ann",
      reason: "",
      from: "",
      to: "",
    });
  });

  it("say in words when the from date is after the to date; the same day is fine", () => {
    expect(rangeProblem({ status: "", customer: "", reason: "", from: "2026-03-02", to: "2026-03-01" })).toMatch(/after/);
    expect(rangeProblem({ status: "", customer: "", reason: "", from: "2026-03-01", to: "2026-03-01" })).toBeNull();
  });
});

describe("the All orders screen", () => {
  afterEach(() => vi.unstubAllGlobals());

  async function open(path: string) {
    const urls: URL[] = [];
    vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
      urls.push(new URL(String(input), "http://paklog.test"));
      return new Response(JSON.stringify(EMPTY), { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: "/ops/orders", component: Orders }] });
    await router.push(path);
    const view = mount(Orders, { global: { plugins: [router] } });
    await flushPromises();
    return { view, router, urls };
  }

  it("lists what the URL names, and a new filter goes into the URL and the next call", async () => {
    const { view, router, urls } = await open("/ops/orders?reason=OUT_OF_STOCK&from=2026-03-01&to=2026-03-02");
    const first = urls.find((u) => u.pathname === "/api/orders")!;
    expect(first.searchParams.get("reason")).toBe("OUT_OF_STOCK");
    expect(first.searchParams.get("since")).toBe(new Date(2026, 2, 1).toISOString());
    expect(first.searchParams.get("until")).toBe(new Date(2026, 2, 3).toISOString());

    const reason = view.findAll("label").find((l) => l.text().startsWith("Reason"))!.find("select");
    await reason.setValue("PAYMENT_DECLINED");
    const to = view.findAll("label").find((l) => l.text().startsWith("Placed to"))!.find("input");
    await to.setValue("");
    await view.find("form").trigger("submit");
    await flushPromises();
    expect(router.currentRoute.value.query).toEqual({ reason: "PAYMENT_DECLINED", from: "2026-03-01" });
    const last = urls.filter((u) => u.pathname === "/api/orders").at(-1)!;
    expect(last.searchParams.get("reason")).toBe("PAYMENT_DECLINED");
    expect(last.searchParams.has("until")).toBe(false);
  });

  it("says what is wrong with the dates and asks nothing", async () => {
    const { view, router, urls } = await open("/ops/orders");
    const asked = urls.length;
    await view.findAll("label").find((l) => l.text().startsWith("Placed from"))!.find("input").setValue("2026-03-05");
    await view.findAll("label").find((l) => l.text().startsWith("Placed to"))!.find("input").setValue("2026-03-01");
    await view.find("form").trigger("submit");
    await flushPromises();
    expect(view.find("[role=alert]").text()).toMatch(/after/);
    expect(urls.length).toBe(asked);
    expect(router.currentRoute.value.query).toEqual({});
  });
});
