-- A reservation now ends in one of three ways: the Order Service confirms it once the order row
-- is stored ('confirmed'), it is given back ('released': order cancelled or deleted, or never
-- stored), or nobody confirmed it within RESERVATION_TTL_SECS and the sweeper returned its stock
-- ('expired'). Without the sweep, a reservation whose order was never stored (the Order Service
-- killed between the two steps) would hold its stock forever.
ALTER TABLE reservations DROP CONSTRAINT reservations_status_known;

-- Reservations made before confirmations existed: which of them have an order is not known
-- here, so they are kept as confirmed rather than swept from under a real order.
UPDATE reservations SET status = 'confirmed' WHERE status = 'reserved';

ALTER TABLE reservations ADD CONSTRAINT reservations_status_known
    CHECK (status IN ('reserved', 'confirmed', 'released', 'expired'));
ALTER TABLE reservations ADD COLUMN confirmed_at TIMESTAMPTZ;

-- The sweeper's scan: unconfirmed reservations, oldest first.
CREATE INDEX reservations_unconfirmed_idx ON reservations (created_at) WHERE status = 'reserved';
