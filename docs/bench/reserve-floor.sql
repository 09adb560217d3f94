-- pgbench script of `cargo xtask bench`: the reservation's own transaction (the conditional
-- stock UPDATE and the reservation INSERT), on product 1 (-D hot=1) or spread over 1..rows.
\if :hot
\set product 1
\else
\set product random(1, :rows)
\endif
BEGIN;
UPDATE products SET quantity = quantity - 1, version = version + 1, updated_at = now()
 WHERE id = :product AND quantity >= 1 RETURNING name, price, version;
INSERT INTO reservations (reservation_id, product_id, product_name, unit_price, quantity)
 VALUES (gen_random_uuid(), :product, 'item', 1.99, 1);
COMMIT;
