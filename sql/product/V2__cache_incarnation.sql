-- This database's incarnation: a random id made when the schema is created. The read cache puts
-- it in every key (services/product/src/incarnation.rs), so the entries and tombstones of
-- another database - an earlier one under the same name, or the one a backup came from - are
-- never read or compared against this one's row versions, which start again at 1.
CREATE TABLE cache_incarnation (
    id     UUID    NOT NULL DEFAULT gen_random_uuid(),
    -- At most one row.
    single BOOLEAN NOT NULL DEFAULT TRUE PRIMARY KEY CHECK (single)
);
INSERT INTO cache_incarnation DEFAULT VALUES;
