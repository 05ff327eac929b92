// A small fetch wrapper for the gateway: bearer token, refresh-token rotation on 401, `{type, detail}` errors.
import type { TokenResponse } from "./types";

export interface Tokens {
  access: string;
  refresh: string | null;
}

/** Where the signed-in session's tokens live (localStorage in the app, memory in tests). */
export interface TokenStore {
  get(): Tokens | null;
  set(tokens: Tokens | null): void;
}

/** An answer other than 2xx, or no answer at all (`status` 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly detail: string;
  readonly requestId: string | null;
  readonly body: Record<string, unknown>;

  constructor(status: number, type: string, detail: string, requestId: string | null, body: Record<string, unknown> = {}) {
    super(`${status} ${type}: ${detail}`);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.detail = detail;
    this.requestId = requestId;
    this.body = body;
  }
}

export interface RequestOptions {
  body?: unknown;
  form?: Record<string, string>;
  query?: Record<string, string | number | boolean | null | undefined>;
  headers?: Record<string, string>;
  /** Send the bearer token (default); sign-in and registration do not. */
  auth?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  data: T;
  headers: Headers;
}

export interface ClientOptions {
  store: TokenStore;
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Called when the session is over (a refresh failed): the app shows the sign-in page. */
  onSignedOut?: () => void;
}

export function storeTokens(answer: TokenResponse): Tokens {
  return { access: answer.access_token, refresh: answer.refresh_token ?? null };
}

export function queryString(query: RequestOptions["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function errorFrom(resp: Response): Promise<ApiError> {
  const requestId = resp.headers.get("X-Request-ID");
  let body: Record<string, unknown> = {};
  try {
    body = (await resp.json()) as Record<string, unknown>;
  } catch {
    body = {};
  }
  const type = typeof body.type === "string" ? body.type : `HTTP${resp.status}`;
  const detail = typeof body.detail === "string" ? body.detail : resp.statusText || "";
  return new ApiError(resp.status, type, detail, requestId, body);
}

export class ApiClient {
  private readonly store: TokenStore;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly onSignedOut: () => void;
  private refreshing: Promise<boolean> | null = null;

  constructor(options: ClientOptions) {
    this.store = options.store;
    this.baseUrl = options.baseUrl ?? "";
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.onSignedOut = options.onSignedOut ?? (() => undefined);
  }

  get tokens(): Tokens | null {
    return this.store.get();
  }

  /** The whole answer (status, headers) of one call; a 401 refreshes the session once and retries. */
  async send<T>(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
    const auth = options.auth ?? true;
    let resp = await this.once(method, path, options, auth);
    if (resp.status === 401 && auth && this.store.get()?.refresh) {
      if (await this.refresh()) resp = await this.once(method, path, options, auth);
    }
    if (!resp.ok) {
      const error = await errorFrom(resp);
      if (resp.status === 401 && auth) {
        this.store.set(null);
        this.onSignedOut();
      }
      throw error;
    }
    const text = resp.status === 204 ? "" : await resp.text();
    const data = (text && resp.headers.get("Content-Type")?.includes("json") ? JSON.parse(text) : text) as T;
    return { status: resp.status, data, headers: resp.headers };
  }

  async get<T>(path: string, query?: RequestOptions["query"]): Promise<T> {
    return (await this.send<T>("GET", path, { query })).data;
  }

  async post<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    return (await this.send<T>("POST", path, { ...options, body })).data;
  }

  async put<T>(path: string, body?: unknown): Promise<T> {
    return (await this.send<T>("PUT", path, { body })).data;
  }

  async delete(path: string): Promise<void> {
    await this.send("DELETE", path);
  }

  /** A binary answer (the label PDF) as a Blob, with the same token handling. */
  async blob(path: string): Promise<Blob> {
    let resp = await this.once("GET", path, {}, true);
    if (resp.status === 401 && (await this.refresh())) resp = await this.once("GET", path, {}, true);
    if (!resp.ok) throw await errorFrom(resp);
    return resp.blob();
  }

  /** Sign in with a username and password (OAuth2 password form). */
  async signIn(username: string, password: string): Promise<Tokens> {
    const answer = await this.send<TokenResponse>("POST", "/api/auth/token", {
      form: { username, password },
      auth: false,
    });
    const tokens = storeTokens(answer.data);
    this.store.set(tokens);
    return tokens;
  }

  /** End the session on the server too (the access token stops working at once). */
  async signOut(): Promise<void> {
    try {
      if (this.store.get()) await this.once("POST", "/api/auth/logout", {}, true);
    } finally {
      this.store.set(null);
    }
  }

  /**
   * Rotate the refresh token. Concurrent 401s share one rotation: a refresh token used twice is taken as
   * stolen and revokes the whole session.
   */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      this.refreshing = this.rotate().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async rotate(): Promise<boolean> {
    const refreshToken = this.store.get()?.refresh;
    if (!refreshToken) return false;
    const resp = await this.once("POST", "/api/auth/refresh", { body: { refresh_token: refreshToken } }, false);
    if (!resp.ok) {
      this.store.set(null);
      this.onSignedOut();
      return false;
    }
    this.store.set(storeTokens((await resp.json()) as TokenResponse));
    return true;
  }

  private async once(method: string, path: string, options: RequestOptions, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
    let body: BodyInit | undefined;
    if (options.form) {
      body = new URLSearchParams(options.form).toString();
      headers["Content-Type"] = "application/x-www-form-urlencoded";
    } else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["Content-Type"] = "application/json";
    }
    const access = this.store.get()?.access;
    if (auth && access) headers.Authorization = `Bearer ${access}`;
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}${queryString(options.query)}`, { method, headers, body });
    } catch (cause) {
      throw new ApiError(0, "NetworkError", String(cause), null);
    }
  }
}
