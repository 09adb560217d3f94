-- Accounts of the shop. Usernames are unique regardless of case: the unique index is on
-- lower(username), while the column keeps the spelling the user chose.
CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT        NOT NULL
                    CONSTRAINT users_username_length CHECK (char_length(username) BETWEEN 3 AND 50),
    hashed_password TEXT        NOT NULL,
    role            TEXT        NOT NULL DEFAULT 'customer'
                    CONSTRAINT users_role_known CHECK (role IN ('customer', 'admin')),
    is_active       BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX users_username_key ON users (lower(username));
