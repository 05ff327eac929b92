// The signed-in person: tokens in localStorage, who they are from GET /api/auth/me, one shared API client.
import { reactive } from "vue";
import { ApiClient, type TokenStore, type Tokens } from "./api/client";
import type { Me } from "./api/types";
import { clearCart } from "./cart";

const KEY = "paklog.session";

export const localTokens: TokenStore = {
  get(): Tokens | null {
    try {
      return JSON.parse(localStorage.getItem(KEY) ?? "null") as Tokens | null;
    } catch {
      return null;
    }
  },
  set(tokens: Tokens | null): void {
    if (tokens) localStorage.setItem(KEY, JSON.stringify(tokens));
    else localStorage.removeItem(KEY);
  },
};

export const session = reactive({ me: null as Me | null, ready: false });

export const api = new ApiClient({
  store: localTokens,
  onSignedOut: () => {
    session.me = null;
    clearCart();
  },
});

export function isStaff(me: Me | null): boolean {
  return me?.role === "operator" || me?.role === "admin";
}

/** Who holds the stored token (null when nobody is signed in or the session ended). */
export async function loadMe(): Promise<Me | null> {
  if (!localTokens.get()) {
    session.me = null;
  } else {
    try {
      session.me = await api.get<Me>("/api/auth/me");
    } catch {
      session.me = null;
    }
  }
  session.ready = true;
  return session.me;
}

export async function signIn(username: string, password: string): Promise<Me | null> {
  await api.signIn(username, password);
  return loadMe();
}

export async function signOut(): Promise<void> {
  await api.signOut().catch(() => undefined);
  session.me = null;
  clearCart();
}
