-- One database per service (rule 1 of DESIGN.md); Temporal keeps its own two.
CREATE DATABASE paklog_identity;
CREATE DATABASE paklog_orders;
CREATE DATABASE paklog_inventory;
CREATE DATABASE paklog_payments;
CREATE DATABASE paklog_notifications;
CREATE DATABASE paklog_warehouse;
CREATE DATABASE paklog_shipping;
CREATE DATABASE paklog_audit;
-- The gateway's own: its audit outbox.
CREATE DATABASE paklog_gateway;
