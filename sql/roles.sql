-- Two roles for one service's database: the schema owner, which creates the database and runs
-- the migrations (DATABASE_MIGRATION_URL), and the application role, which may only read and
-- write rows (DATABASE_URL). Run once per new service database (PostgreSQL 15 or later), as a
-- superuser, with psql (the :'…' and :"…" are psql variables):
--
--   psql "postgres://admin@db/postgres" -v ON_ERROR_STOP=1 \
--        -v database=users -v owner_role=users_owner -v owner_password=… \
--        -v app_role=users_app -v app_password=… -f sql/roles.sql
--
-- Then start the service with
--   DATABASE_MIGRATION_URL=postgres://users_owner:…@db/users
--   DATABASE_URL=postgres://users_app:…@db/users
-- The service creates the tables at start; the default privileges below grant each new table
-- and sequence to the application role, so later migrations need no grant of their own.

CREATE ROLE :"owner_role" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"database" OWNER :"owner_role";

-- Only these two roles connect; PUBLIC loses the default CONNECT and TEMPORARY.
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"owner_role", :"app_role";

\connect :"database"

-- PostgreSQL 15 and later: schema public belongs to the database owner (pg_database_owner)
-- and PUBLIC may not create in it, so only the owner role runs DDL here.
GRANT USAGE ON SCHEMA public TO :"app_role";

-- Every table and sequence the owner creates (each migration, now and later).
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO :"app_role";
