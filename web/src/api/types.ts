// Names for the gateway's schemas, from the generated schema.d.ts (`make web-api` regenerates it).
import type { components } from "./schema";

type S = components["schemas"];
export type TokenResponse = S["TokenResponse"];
export type ErrorBody = S["ErrorBody"];
export type Me = S["MeView"];
export type Product = S["ProductView"];
export type ProductPage = S["ProductPage"];
export type OrderStatus = S["OrderStatus"];
export type CancelReason = S["CancelReason"];
export type OrderView = S["OrderView"];
export type OrderSummary = S["OrderSummary"];
export type OrderPage = S["OrderPage"];
export type OrderDecision = S["OrderDecision"];
export type PlaceOrderRequest = S["PlaceOrderRequest"];
export type Address = S["AddressRequest"];
export type CancelView = S["CancelView"];
export type Subscription = S["SubscriptionView"];
export type SubscriptionPage = S["SubscriptionPage"];
export type Tracking = S["TrackingView"];
export type TrailEntry = S["TrailEntry"];
export type Wave = S["WaveView"];
export type WavePage = S["WavePage"];
export type Task = S["TaskView"];
export type PickConfirmed = S["PickConfirmedView"];
export type PackResult = S["PackResultView"];
export type Shipment = S["ShipmentView"];
export type ShipmentPage = S["ShipmentPage"];
export type Carrier = S["CarrierView"];
export type ErpSync = S["ErpSyncView"];
export type SyncNow = S["SyncNowView"];
export type LastRun = S["LastRunView"];
export type AuditPage = S["AuditPageView"];
export type AuditRecord = S["AuditRecordView"];
export type WebConfig = S["WebConfig"];

/** One status change, as `GET /api/orders/{id}/events` sends it (`data:` of `event: status`). */
export interface OrderEvent {
  seq: number;
  order_id: string;
  status: OrderStatus;
  from_status?: OrderStatus | null;
  reason?: string | null;
  at: string;
}

/** The operator stream's change: an order event plus whose order and its cursor. */
export interface OrderChange extends OrderEvent {
  customer_id?: string;
  cursor?: string;
}
