import { flushPromises, mount } from "@vue/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { endedRun, runEndWords, syncNowWords } from "../src/erpSync";
import Erp from "../src/ops/Erp.vue";

function run(workflow_id: string, status: string, extra: Record<string, unknown> = {}) {
  return { workflow_id, status, started_at: "2026-01-01T00:00:00Z", closed_at: null, summary: null, error: null, ...extra };
}

function state(last_run: unknown) {
  return { schedule: null, entities: [], last_run };
}

const SUMMARY = {
  full: false,
  seconds: 1,
  entities: [
    { entity: "materials", pages: 1, rows: 2, inserted: 0, updated: 2, unchanged: 0, rejected: 0, unknown: 0, seconds: 1, done: true },
    { entity: "customers", pages: 1, rows: 1, inserted: 1, updated: 0, unchanged: 0, rejected: 0, unknown: 0, seconds: 1, done: true },
  ],
};

describe("sync now in words", () => {
  it("says whether this click started the run or one was already going", () => {
    expect(syncNowWords({ workflow_id: "erp-sync-run-now", started: true })).toMatch(/^Started the import now \(run erp-sync-run-now\)/);
    expect(syncNowWords({ workflow_id: "erp-backfill-1", started: false })).toMatch(/already running \(run erp-backfill-1\), so no second one/);
  });

  it("waits for the answered run itself to close, then says how it ended", () => {
    expect(endedRun(state(null) as never, "r1")).toBeNull();
    expect(endedRun(state(run("r0", "COMPLETED")) as never, "r1")).toBeNull(); // the list has not caught up yet
    expect(endedRun(state(run("r1", "RUNNING")) as never, "r1")).toBeNull();
    const done = endedRun(state(run("r1", "COMPLETED", { summary: SUMMARY })) as never, "r1")!;
    expect(runEndWords(done)).toBe("The import finished: 3 rows read from the ERP.");
    expect(runEndWords(run("r1", "FAILED", { error: "the ERP is down" }) as never)).toBe("The import failed: the ERP is down");
    expect(runEndWords(run("r1", "TERMINATED") as never)).toBe("The import was stopped.");
  });
});

describe("the ERP screen's Sync now button", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("calls POST /api/erp/sync, says so, and refreshes the state until the run has ended", async () => {
    const calls: string[] = [];
    // The state: no run yet, then the new run going twice, then completed.
    const states = [state(null), state(null), state(run("erp-sync-run-now", "RUNNING")), state(run("erp-sync-run-now", "RUNNING"))];
    const last = state(run("erp-sync-run-now", "COMPLETED", { summary: SUMMARY, closed_at: "2026-01-01T00:01:00Z" }));
    vi.stubGlobal("fetch", async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input), "http://paklog.test");
      const method = init?.method ?? "GET";
      calls.push(`${method} ${url.pathname}`);
      const body = method === "POST" ? { workflow_id: "erp-sync-run-now", started: true } : (states.shift() ?? last);
      return new Response(JSON.stringify(body), { status: method === "POST" ? 202 : 200, headers: { "Content-Type": "application/json" } });
    });
    const view = mount(Erp, { props: { pollMs: 1 } });
    await flushPromises();
    const button = view.findAll("button").find((b) => b.text() === "Sync now")!;
    await button.trigger("click");
    await flushPromises();
    expect(calls).toContain("POST /api/erp/sync");
    await vi.waitFor(() => expect(view.find("[data-testid=sync-now]").text()).toBe("The import finished: 3 rows read from the ERP."));
    expect(calls.filter((c) => c === "GET /api/erp/sync").length).toBe(5); // the first load, then until it ended
    expect(view.findAll("button").find((b) => b.text() === "Sync now")!.attributes("disabled")).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls.filter((c) => c === "GET /api/erp/sync").length).toBe(5); // and no more after it ended
  });

  it("says an error in words and starts nothing", async () => {
    vi.stubGlobal("fetch", async (_input: RequestInfo | URL, init?: RequestInit) =>
      init?.method === "POST"
        ? new Response(JSON.stringify({ type: "StaffOnly", detail: "this needs the operator or admin role" }), { status: 403, headers: { "Content-Type": "application/json" } })
        : new Response(JSON.stringify(state(null)), { status: 200, headers: { "Content-Type": "application/json" } }),
    );
    const view = mount(Erp, { props: { pollMs: 1 } });
    await flushPromises();
    await view.findAll("button").find((b) => b.text() === "Sync now")!.trigger("click");
    await flushPromises();
    expect(view.find("[role=alert]").exists()).toBe(true);
    expect(view.find("[data-testid=sync-now]").exists()).toBe(false);
  });
});
