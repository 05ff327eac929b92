import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import Audit from "../src/ops/Audit.vue";

function record(n: number) {
  return { record_id: `r${n}`, at: "2026-01-01T00:00:00Z", actor: "olivia", role: "operator", method: "GET", path: "/api/orders", status: 200, request_id: `q${n}` };
}

describe("the audit trail screen", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("walks older pages by next_cursor (never by offset) and back", async () => {
    const urls: URL[] = [];
    vi.stubGlobal("fetch", async (input: RequestInfo | URL) => {
      const url = new URL(String(input), "http://paklog.test");
      urls.push(url);
      const cursor = url.searchParams.get("cursor");
      const body = cursor === "c1"
        ? { items: [record(2)], total: 2, limit: 50, offset: 0, next_cursor: null }
        : { items: [record(1)], total: 2, limit: 50, offset: 0, next_cursor: "c1" };
      return new Response(JSON.stringify(body), { status: 200, headers: { "Content-Type": "application/json" } });
    });
    const view = mount(Audit);
    await flushPromises();
    expect(view.text()).toContain("q1");
    const older = view.findAll("button").find((b) => b.text() === "Older")!;
    const newer = view.findAll("button").find((b) => b.text() === "Newer")!;
    expect(newer.attributes("disabled")).toBeDefined();

    await older.trigger("click");
    await flushPromises();
    expect(view.text()).toContain("q2");
    expect(urls[1].searchParams.get("cursor")).toBe("c1");
    expect(urls.every((u) => !u.searchParams.has("offset"))).toBe(true);
    expect(older.attributes("disabled")).toBeDefined(); // the last page has no next_cursor

    await newer.trigger("click");
    await flushPromises();
    expect(urls[2].searchParams.has("cursor")).toBe(false);
    expect(view.text()).toContain("q1");
  });
});
