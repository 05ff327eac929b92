import { createRouter, createWebHistory, type RouteRecordRaw } from "vue-router";
import { isStaff, loadMe, session } from "./session";

const routes: RouteRecordRaw[] = [
  { path: "/", redirect: "/catalogue" },
  { path: "/sign-in", component: () => import("./views/SignIn.vue"), meta: { public: true, title: "Sign in" } },
  { path: "/register", component: () => import("./views/Register.vue"), meta: { public: true, title: "Create an account" } },
  { path: "/reset", component: () => import("./views/Reset.vue"), meta: { public: true, title: "Reset your password" } },
  { path: "/catalogue", component: () => import("./views/Catalogue.vue"), meta: { title: "Catalogue" } },
  { path: "/cart", component: () => import("./views/Cart.vue"), meta: { title: "Cart and checkout" } },
  { path: "/orders", component: () => import("./views/Orders.vue"), meta: { title: "My orders" } },
  { path: "/orders/:id", component: () => import("./views/Order.vue"), props: true, meta: { title: "Order" } },
  { path: "/tracking", component: () => import("./views/Tracking.vue"), meta: { title: "Tracking" } },
  { path: "/ops", redirect: "/ops/orders" },
  { path: "/ops/orders", component: () => import("./ops/Orders.vue"), meta: { staff: true, title: "All orders" } },
  { path: "/ops/waves", component: () => import("./ops/Waves.vue"), meta: { staff: true, title: "Waves" } },
  { path: "/ops/pick", component: () => import("./ops/Picker.vue"), meta: { staff: true, title: "Picking" } },
  { path: "/ops/pack", component: () => import("./ops/Packer.vue"), meta: { staff: true, title: "Packing" } },
  { path: "/ops/shipments", component: () => import("./ops/Shipments.vue"), meta: { staff: true, title: "Shipments" } },
  { path: "/ops/erp", component: () => import("./ops/Erp.vue"), meta: { staff: true, title: "ERP sync" } },
  { path: "/ops/audit", component: () => import("./ops/Audit.vue"), meta: { staff: true, title: "Audit trail" } },
  { path: "/:rest(.*)*", component: () => import("./views/NotFound.vue"), meta: { public: true, title: "Not found" } },
];

export const router = createRouter({ history: createWebHistory(), routes });

router.beforeEach(async (to) => {
  if (!session.ready) await loadMe();
  if (to.meta.public) return true;
  // The landing page is no destination to return to: staff land on the console, customers on the catalogue.
  if (!session.me) return { path: "/sign-in", query: to.fullPath === "/catalogue" ? {} : { next: to.fullPath } };
  if (to.meta.staff && !isStaff(session.me)) return { path: "/catalogue" };
  return true;
});

router.afterEach((to) => {
  document.title = `${String(to.meta.title ?? "PakLog")} · PakLog`;
});
