-- Whether the Product Service has been told that this order's reservation is used (so its
-- sweeper leaves it alone). Set right after the order commits; the release worker retries what
-- is still FALSE. Orders stored before confirmations existed count as confirmed: the Product
-- Service's own migration marks their reservations so.
ALTER TABLE orders ADD COLUMN reservation_confirmed BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE orders ALTER COLUMN reservation_confirmed SET DEFAULT FALSE;

CREATE INDEX orders_unconfirmed_idx ON orders (id) WHERE reservation_confirmed = FALSE;
