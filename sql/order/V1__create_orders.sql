-- Orders with a snapshot of the product as it was when ordered, so later catalogue changes do
-- not rewrite history. Each order holds one stock reservation in the Product Service, named by
-- reservation_id; reservation_released records that the stock went back (cancel or delete).
CREATE TABLE orders (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              BIGINT        NOT NULL,
    username             TEXT          NOT NULL,
    product_id           BIGINT        NOT NULL,
    product_name         TEXT          NOT NULL,
    unit_price           NUMERIC(12,2) NOT NULL CONSTRAINT orders_unit_price_positive CHECK (unit_price > 0),
    quantity             INTEGER       NOT NULL CONSTRAINT orders_quantity_positive CHECK (quantity > 0),
    total_price          NUMERIC(16,2) NOT NULL,
    status               TEXT          NOT NULL DEFAULT 'pending'
                         CONSTRAINT orders_status_known
                         CHECK (status IN ('pending', 'confirmed', 'shipped', 'completed', 'cancelled')),
    reservation_id       UUID          NOT NULL CONSTRAINT orders_reservation_id_key UNIQUE,
    reservation_released BOOLEAN       NOT NULL DEFAULT FALSE,
    deleted_at           TIMESTAMPTZ,
    created_at           TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ   NOT NULL DEFAULT now()
);

-- A user's orders, newest first (keyset pagination on id).
CREATE INDEX orders_user_id_id_idx ON orders (user_id, id DESC) WHERE deleted_at IS NULL;
-- Reservations still to be given back.
CREATE INDEX orders_unreleased_idx ON orders (id)
    WHERE reservation_released = FALSE AND (status = 'cancelled' OR deleted_at IS NOT NULL);

-- Idempotency-Key of POST /orders. A row with order_id NULL is a claim by a request in progress;
-- request_hash tells a retry (same body) from a misuse of the key (another body).
CREATE TABLE idempotency_keys (
    user_id      BIGINT      NOT NULL,
    key          TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    order_id     BIGINT      REFERENCES orders (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

-- Transactional outbox: written in the same transaction as the order change, published to
-- RabbitMQ by the relay, marked published only after the broker confirmed.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     UUID        NOT NULL CONSTRAINT outbox_event_id_key UNIQUE,
    aggregate_id BIGINT      NOT NULL,
    event_type   TEXT        NOT NULL,
    payload      TEXT        NOT NULL,
    traceparent  TEXT,
    tracestate   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    last_error   TEXT
);

CREATE INDEX outbox_pending_idx ON outbox (aggregate_id, id) WHERE published_at IS NULL;
CREATE INDEX outbox_pending_order_idx ON outbox (id) WHERE published_at IS NULL;
