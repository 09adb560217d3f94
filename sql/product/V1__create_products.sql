-- The catalogue. `price` is exact money (NUMERIC, never float); `quantity` is the stock on hand
-- and can never go below zero, whatever the application does. `version` grows on every change
-- of a row: the read cache uses it to refuse writing back a value older than one it has already
-- been told about (see services/product/src/cache.rs).
CREATE TABLE products (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT          NOT NULL
                CONSTRAINT products_name_length CHECK (char_length(name) BETWEEN 1 AND 200),
    description TEXT          NOT NULL DEFAULT ''
                CONSTRAINT products_description_length CHECK (char_length(description) <= 5000),
    price       NUMERIC(12,2) NOT NULL
                CONSTRAINT products_price_positive CHECK (price > 0),
    quantity    INTEGER       NOT NULL
                CONSTRAINT products_quantity_non_negative CHECK (quantity >= 0),
    version     BIGINT        NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ   NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ   NOT NULL DEFAULT now()
);

-- Stock held for orders, one row per reservation id (the Order Service's choice, so a retried
-- call finds the first one). No foreign key: a product may be deleted while orders still hold
-- reservations of it; releasing those then returns nothing to stock.
CREATE TABLE reservations (
    reservation_id UUID          PRIMARY KEY,
    product_id     BIGINT        NOT NULL,
    product_name   TEXT          NOT NULL,
    unit_price     NUMERIC(12,2) NOT NULL,
    quantity       INTEGER       NOT NULL
                   CONSTRAINT reservations_quantity_range CHECK (quantity BETWEEN 1 AND 10000),
    status         TEXT          NOT NULL DEFAULT 'reserved'
                   CONSTRAINT reservations_status_known CHECK (status IN ('reserved', 'released')),
    created_at     TIMESTAMPTZ   NOT NULL DEFAULT now(),
    released_at    TIMESTAMPTZ
);
