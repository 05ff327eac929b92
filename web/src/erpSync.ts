// "Sync now" on the ERP screen: what POST /api/erp/sync answered, and the run's end, in words.
import type { ErpSync, LastRun, SyncNow } from "./api/types";

/** What the button did, in words. */
export function syncNowWords(answer: SyncNow): string {
  return answer.started
    ? `Started the import now (run ${answer.workflow_id}). Following it until it ends…`
    : `An import was already running (run ${answer.workflow_id}), so no second one was started. Following it until it ends…`;
}

/** The run the button answered, as GET /api/erp/sync shows it, once it has ended; null while it goes
 * (or while the state does not list it yet: the list catches up with a new run a moment later). */
export function endedRun(state: ErpSync, workflowId: string): LastRun | null {
  const run = state.last_run;
  if (!run || run.workflow_id !== workflowId || run.status === "RUNNING") return null;
  return run;
}

/** How the run ended, in words. */
export function runEndWords(run: LastRun): string {
  if (run.status === "COMPLETED") {
    const rows = run.summary?.entities.reduce((sum, e) => sum + e.rows, 0) ?? 0;
    return `The import finished: ${rows} ${rows === 1 ? "row" : "rows"} read from the ERP.`;
  }
  const how = run.status === "TERMINATED" ? "was stopped" : run.status === "CANCELED" ? "was cancelled" : run.status === "TIMED_OUT" ? "ran out of time" : "failed";
  return `The import ${how}${run.error ? `: ${run.error}` : "."}`;
}
