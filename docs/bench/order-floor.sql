-- pgbench script of `cargo xtask bench`: every statement one `POST /orders` with an
-- Idempotency-Key costs, in the order the services run them, with no HTTP in between. The
-- Product and Order databases are the schemas `product` and `orders` of one database here, so
-- one pgbench client plays both services' connections; each run of the script is one order.
-- Variables (pgbench -D): customers, rows, hot (1: every order takes product 1).
-- Not included: the relay's claim and `published_at` update, which the service batches (the
-- service's figure pays them on top) and the token check, answered from the Order Service's
-- validation cache.
\set customer random(1, :customers)
\if :hot
\set product 1
\else
\set product random(1, :rows)
\endif
SELECT gen_random_uuid() AS reservation, gen_random_uuid()::text AS idempotency_key \gset
-- Order Service: the pending-order cap, then the key's claim.
SELECT count(*) AS pending FROM orders.orders
 WHERE user_id = :customer AND status = 'pending' AND deleted_at IS NULL;
INSERT INTO orders.idempotency_keys (user_id, key, request_hash)
 VALUES (:customer, ':idempotency_key', 'c0ffee')
 ON CONFLICT (user_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash, created_at = now()
 WHERE idempotency_keys.order_id IS NULL AND idempotency_keys.created_at < now() - make_interval(secs => 60)
 RETURNING 1;
-- Product Service: the reservation, stock taken and reservation stored in one statement.
WITH taken AS (
    UPDATE product.products SET quantity = quantity - 1, version = version + 1, updated_at = now()
     WHERE id = :product AND quantity >= 1 RETURNING name, price, version),
  reserved AS (
    INSERT INTO product.reservations (reservation_id, product_id, product_name, unit_price, quantity)
    SELECT ':reservation'::uuid, :product, name, price, 1 FROM taken
    RETURNING reservation_id, product_id, product_name, unit_price, quantity, status)
SELECT reserved.*, taken.version FROM reserved, taken;
-- Order Service: the order, its event and the key's result in one transaction.
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('orders.pending'), hashtext(':customer'));
SELECT count(*) AS pending FROM orders.orders
 WHERE user_id = :customer AND status = 'pending' AND deleted_at IS NULL;
INSERT INTO orders.orders (user_id, username, product_id, product_name, unit_price, quantity,
                           total_price, reservation_id)
 VALUES (:customer, 'shopper', :product, 'item', 1.99, 1, 1.99, ':reservation')
 RETURNING id AS order_id \gset
INSERT INTO orders.outbox (event_id, aggregate_id, event_type, payload, traceparent, tracestate)
 VALUES (gen_random_uuid(), :order_id, 'order.created',
  '{"event_id":"5d0c7d2e-0b7e-4a8e-9d55-3f1f6a0b2c11","event_type":"order.created","occurred_at":"2026-11-30T12:00:00Z","order":{"id":1,"user_id":1,"username":"shopper","product_id":1,"product_name":"item","unit_price":"1.99","quantity":1,"total_price":"1.99","status":"pending","created_at":"2026-11-30T12:00:00Z","updated_at":"2026-11-30T12:00:00Z"}}',
  '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', NULL);
NOTIFY order_outbox;
UPDATE orders.idempotency_keys SET order_id = :order_id
 WHERE user_id = :customer AND key = ':idempotency_key';
COMMIT;
-- After the answer: the reservation is confirmed, and the order records that it was.
BEGIN;
SELECT status, product_id, quantity FROM product.reservations
 WHERE reservation_id = ':reservation' FOR UPDATE;
UPDATE product.reservations SET status = 'confirmed', confirmed_at = now(), released_at = NULL
 WHERE reservation_id = ':reservation';
COMMIT;
UPDATE orders.orders SET reservation_confirmed = TRUE WHERE id = :order_id;
