-- Order writes per customer per fixed time window (POST /orders and a customer's status
-- changes). Counted here rather than in each replica's memory, so the limit holds however many
-- replicas run; one upserted row per (user, window) keeps the count a single atomic statement.
-- Rows of past windows are purged by housekeeping.
CREATE TABLE order_write_counts (
    user_id      BIGINT      NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    writes       INTEGER     NOT NULL,
    PRIMARY KEY (user_id, window_start)
);

-- Housekeeping deletes finished windows by age.
CREATE INDEX order_write_counts_window_idx ON order_write_counts (window_start);
