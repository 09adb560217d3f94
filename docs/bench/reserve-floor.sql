-- pgbench script of `cargo xtask bench`: the reservation's own statement, as the Product Service
-- sends it (the conditional stock UPDATE and the reservation INSERT in one statement, one
-- commit), on product 1 (-D hot=1) or spread over 1..rows. Run with -M prepared: the service's
-- statements are prepared once per connection too.
\if :hot
\set product 1
\else
\set product random(1, :rows)
\endif
WITH taken AS (
    UPDATE products SET quantity = quantity - 1, version = version + 1, updated_at = now()
     WHERE id = :product AND quantity >= 1 RETURNING name, price, version),
  reserved AS (
    INSERT INTO reservations (reservation_id, product_id, product_name, unit_price, quantity)
    SELECT gen_random_uuid(), :product, name, price, 1 FROM taken
    RETURNING reservation_id, product_id, product_name, unit_price, quantity, status)
SELECT reserved.*, taken.version FROM reserved, taken;
