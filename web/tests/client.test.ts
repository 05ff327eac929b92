import { describe, expect, it } from "vitest";
import { ApiClient, ApiError, type TokenStore, type Tokens } from "../src/api/client";
import { errorWords } from "../src/words";

function memory(initial: Tokens | null): TokenStore & { value: Tokens | null } {
  return {
    value: initial,
    get() {
      return this.value;
    },
    set(tokens) {
      this.value = tokens;
    },
  };
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

describe("the API client", () => {
  it("rotates the refresh token once on 401 and retries with the new access token", async () => {
    const store = memory({ access: "old", refresh: "r1" });
    const calls: { url: string; auth: string | null; body: string | null }[] = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      calls.push({ url: String(input), auth: headers.get("Authorization"), body: (init?.body as string) ?? null });
      if (String(input) === "/api/auth/refresh") return json(200, { access_token: "new", token_type: "bearer", refresh_token: "r2" });
      return headers.get("Authorization") === "Bearer new" ? json(200, { ok: true }) : json(401, { type: "TokenExpired", detail: "expired" });
    };
    const client = new ApiClient({ store, fetch });
    const [a, b] = await Promise.all([client.get("/api/me"), client.get("/api/orders")]);
    expect(a).toEqual({ ok: true });
    expect(b).toEqual({ ok: true });
    // Two 401s at once share one rotation: a refresh token sent twice would revoke the session.
    expect(calls.filter((c) => c.url === "/api/auth/refresh")).toHaveLength(1);
    expect(calls.find((c) => c.url === "/api/auth/refresh")?.body).toBe(JSON.stringify({ refresh_token: "r1" }));
    expect(store.value).toEqual({ access: "new", refresh: "r2" });
  });

  it("signs out when the refresh is refused", async () => {
    const store = memory({ access: "old", refresh: "reused" });
    let signedOut = 0;
    const fetch: typeof globalThis.fetch = async (input) =>
      String(input) === "/api/auth/refresh" ? json(401, { type: "RefreshTokenReused", detail: "reused" }) : json(401, { type: "TokenExpired", detail: "expired" });
    const client = new ApiClient({ store, fetch, onSignedOut: () => signedOut++ });
    await expect(client.get("/api/me")).rejects.toBeInstanceOf(ApiError);
    expect(store.value).toBeNull();
    expect(signedOut).toBeGreaterThan(0);
  });

  it("maps {type, detail} and the request id into an ApiError", async () => {
    const store = memory({ access: "t", refresh: null });
    const fetch: typeof globalThis.fetch = async () => json(409, { type: "IdempotencyKeyReused", detail: "that key was used for another order" });
    const error = await new ApiClient({ store, fetch }).post("/api/orders", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).type).toBe("IdempotencyKeyReused");
    expect(errorWords(error)).toBe("That key was used for another order.");
  });

  it("says a 5xx in plain words with the X-Request-ID to quote", async () => {
    const fetch: typeof globalThis.fetch = async () => json(500, { type: "InternalError", detail: "x" }, { "X-Request-ID": "req-77" });
    const error = await new ApiClient({ store: memory(null), fetch }).get("/api/products").catch((e: unknown) => e);
    expect(errorWords(error)).toBe("Something went wrong on our side (reference req-77).");
    const down = new ApiError(503, "ServiceUnavailable", "inventory is down", "req-8");
    expect(errorWords(down)).toContain("temporarily unavailable");
    expect(errorWords(down)).toContain("req-8");
  });

  it("words the common refusals for people", () => {
    expect(errorWords(new ApiError(401, "InvalidCredentials", "incorrect username or password", null))).toBe("That username and password do not match.");
    expect(errorWords(new ApiError(403, "StaffOnly", "x", null))).toBe("You are not allowed to do that.");
    expect(errorWords(new ApiError(0, "NetworkError", "TypeError", null))).toContain("cannot be reached");
  });

  it("sends the password form without a token and stores the pair", async () => {
    const store = memory(null);
    let seen: RequestInit | undefined;
    const fetch: typeof globalThis.fetch = async (_input, init) => {
      seen = init;
      return json(200, { access_token: "a", token_type: "bearer", refresh_token: "r" });
    };
    await new ApiClient({ store, fetch }).signIn("alice", "alice-pass");
    expect(new Headers(seen?.headers).get("Content-Type")).toBe("application/x-www-form-urlencoded");
    expect(seen?.body).toBe("username=alice&password=alice-pass");
    expect(store.value).toEqual({ access: "a", refresh: "r" });
  });
});
