// Server-Sent Events with the bearer token (EventSource cannot send Authorization), resumed with Last-Event-ID.
import { fetchEventSource, type EventSourceMessage } from "@microsoft/fetch-event-source";
import type { ApiClient } from "./client";
import { ApiError } from "./client";

class Retry extends Error {}

export interface StreamOptions {
  /** Each `event:` of the stream with its `id`. */
  onEvent(message: EventSourceMessage): void;
  /** The stream is open (again): after a gateway restart the app says it is live again. */
  onOpen?(): void;
  /** The stream dropped and will be retried; `error` says why. */
  onDrop?(error: unknown): void;
  /** The server ended the stream on purpose (the order reached its last status). */
  onEnd?(): void;
  /** A refusal that no retry mends (404, 403): the stream stops. */
  onFail?(error: ApiError): void;
  /** Whether an end of the stream by the server is final; otherwise it is reopened. */
  isFinished?(): boolean;
  /** Resume after this id (the last one seen before the page was opened). */
  lastEventId?: string;
  retryMs?: number;
}

/**
 * Follow `path` until `stop()` is called: every drop (a gateway restart, a network blip) reconnects after
 * `retryMs` and sends `Last-Event-ID`, so no change is missed or repeated; an expired token is refreshed first.
 */
export function openStream(client: ApiClient, path: string, options: StreamOptions): { stop(): void } {
  const controller = new AbortController();
  const retryMs = options.retryMs ?? 1000;
  let lastId = options.lastEventId ?? "";

  const authorizedFetch: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    const access = client.tokens?.access;
    if (access) headers.set("Authorization", `Bearer ${access}`);
    if (lastId) headers.set("Last-Event-ID", lastId);
    return globalThis.fetch(input, { ...init, headers });
  };

  void fetchEventSource(path, {
    signal: controller.signal,
    fetch: authorizedFetch,
    openWhenHidden: true,
    headers: { Accept: "text/event-stream" },
    async onopen(resp) {
      if (resp.ok && resp.headers.get("Content-Type")?.startsWith("text/event-stream")) {
        options.onOpen?.();
        return;
      }
      let body: Record<string, unknown> = {};
      try {
        body = (await resp.json()) as Record<string, unknown>;
      } catch {
        body = {};
      }
      const error = new ApiError(
        resp.status,
        typeof body.type === "string" ? body.type : `HTTP${resp.status}`,
        typeof body.detail === "string" ? body.detail : "",
        resp.headers.get("X-Request-ID"),
        body,
      );
      if (resp.status === 401 && (await client.refresh())) throw new Retry("token refreshed");
      if (resp.status === 429 || resp.status >= 500) throw new Retry(error.message);
      throw error;
    },
    onmessage(message) {
      if (message.id) lastId = message.id;
      options.onEvent(message);
    },
    onclose() {
      if (options.isFinished?.() ?? true) {
        options.onEnd?.();
        controller.abort();
        return;
      }
      throw new Retry("stream closed early");
    },
    onerror(error) {
      if (error instanceof ApiError) {
        options.onFail?.(error);
        throw error; // stops fetchEventSource
      }
      options.onDrop?.(error);
      return retryMs;
    },
  }).catch(() => undefined);

  return {
    stop() {
      controller.abort();
    },
  };
}
