-- arbitrade schema: least-privilege roles (issue 14).
--
-- The role that runs the migrations owns every table and function. Two more:
--
-- * arb_writer: what the sink (and arb-replay's job rows) connect as. SELECT
--   and INSERT on the data tables, SELECT on the configuration tables, new
--   market partitions through arb_ensure_market_partitions (SECURITY DEFINER:
--   it runs with the owner's rights, and only it does), and one narrow
--   exception: UPDATE of a backtest job's status columns, which is how a job
--   moves from running to completed. No UPDATE or DELETE of data, no DDL: it
--   owns nothing, so it can neither drop nor alter a table.
-- * arb_reader: SELECT only (arbctl's read commands, dashboards).
--
-- Roles belong to the whole server, not one database, and several databases
-- (the tests' among them) may be migrated at once: each is created only if it
-- is missing, and a concurrent creation is not an error. They log in without
-- a password until one is set (ALTER ROLE arb_writer PASSWORD '...').

DO $$
BEGIN
    BEGIN
        CREATE ROLE arb_writer LOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
    BEGIN
        CREATE ROLE arb_reader LOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
    END;
END $$;

GRANT USAGE ON SCHEMA public TO arb_writer, arb_reader;

-- The data tables: what the processes write.
GRANT SELECT, INSERT ON
    market_snapshots, opportunities, trades, orders, pnl_events,
    portfolio_snapshots, account_snapshots, audit_events,
    runtime_state_snapshots, transfers, backtest_jobs
TO arb_writer;
GRANT UPDATE (status, result, error, updated_at, started_at, finished_at)
    ON backtest_jobs TO arb_writer;

-- The configuration tables: read by both, written by the owner (arbctl db).
GRANT SELECT ON
    config_sections, config_settings, config_pairings, config_backtesting_defaults
TO arb_writer;

GRANT SELECT ON ALL TABLES IN SCHEMA public TO arb_reader;
-- Tables the owner creates later (new migrations) are readable too; writes
-- to them are granted by the migration that makes them.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO arb_reader;

-- Partitions: made by the owner's function, on the writer's call. A fixed
-- search_path, so the definer's rights cannot be borrowed through a planted
-- object of the same name.
ALTER FUNCTION arb_ensure_market_partitions(DATE, INTEGER)
    SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION arb_ensure_market_partitions(DATE, INTEGER) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION arb_ensure_market_partitions(DATE, INTEGER) TO arb_writer;
-- Dropping old partitions stays the owner's (arbctl db prune).
REVOKE ALL ON FUNCTION arb_drop_market_partitions(TIMESTAMPTZ) FROM PUBLIC;

-- Sets the password of arb_writer or arb_reader (arbctl db migrate
-- --writer-password / --reader-password): the password arrives as a bound
-- parameter, so no statement text (logged by clients and the server) holds it.
-- The owner's alone.
CREATE FUNCTION arb_set_role_password(role_name TEXT, password TEXT)
RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    IF role_name NOT IN ('arb_writer', 'arb_reader') THEN
        RAISE EXCEPTION 'arb_set_role_password: % is not an arbitrade role', role_name;
    END IF;
    EXECUTE format('ALTER ROLE %I PASSWORD %L', role_name, password);
END $$;
REVOKE ALL ON FUNCTION arb_set_role_password(TEXT, TEXT) FROM PUBLIC;
