package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ztgate/ztgate/internal/store"
)

// migration is one step of the schema. Steps are never edited once
// released: a change of schema is a new step.
type migration struct {
	version int
	name    string
	sqlite  []string
	pg      []string
}

// migrations is the schema's history, oldest first.
var migrations = []migration{
	{
		version: 1,
		name:    "records",
		sqlite: []string{
			`CREATE TABLE ztgate_meta (
				id INTEGER PRIMARY KEY CHECK (id = 1),
				revision INTEGER NOT NULL
			)`,
			`INSERT INTO ztgate_meta (id, revision) VALUES (1, 0)`,
			`CREATE TABLE ztgate_records (
				kind TEXT NOT NULL,
				key TEXT NOT NULL,
				value BLOB NOT NULL,
				revision INTEGER NOT NULL,
				created_us INTEGER NOT NULL,
				updated_us INTEGER NOT NULL,
				PRIMARY KEY (kind, key)
			)`,
		},
		pg: []string{
			`CREATE TABLE ztgate_meta (
				id INTEGER PRIMARY KEY CHECK (id = 1),
				revision BIGINT NOT NULL
			)`,
			`INSERT INTO ztgate_meta (id, revision) VALUES (1, 0)`,
			`CREATE TABLE ztgate_records (
				kind TEXT NOT NULL,
				key TEXT NOT NULL,
				value BYTEA NOT NULL,
				revision BIGINT NOT NULL,
				created_us BIGINT NOT NULL,
				updated_us BIGINT NOT NULL,
				PRIMARY KEY (kind, key)
			)`,
		},
	},
	{
		version: 2,
		name:    "change log",
		sqlite: []string{
			`CREATE TABLE ztgate_changes (
				revision INTEGER PRIMARY KEY,
				kind TEXT NOT NULL,
				key TEXT NOT NULL,
				op TEXT NOT NULL,
				node TEXT NOT NULL,
				at_us INTEGER NOT NULL
			)`,
			`ALTER TABLE ztgate_meta ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0`,
		},
		pg: []string{
			`CREATE TABLE ztgate_changes (
				revision BIGINT PRIMARY KEY,
				kind TEXT NOT NULL,
				key TEXT NOT NULL,
				op TEXT NOT NULL,
				node TEXT NOT NULL,
				at_us BIGINT NOT NULL
			)`,
			`ALTER TABLE ztgate_meta ADD COLUMN pruned BIGINT NOT NULL DEFAULT 0`,
		},
	},
	{
		// Every node's audit records, shipped from its log, so that a
		// query on a PostgreSQL deployment sees them all. On SQLite (one
		// node) the table stays empty: queries read the local index.
		version: 3,
		name:    "audit records",
		sqlite:  auditTable("INTEGER", "BLOB"),
		pg:      auditTable("BIGINT", "TEXT"),
	},
	{
		// Actions are queried as IAM spells them, service:Name
		// (sts:AssumeRole), also for records without ztgate's own action,
		// which used to be filed under their bare event name. The
		// service is the first label of the event source; the gateway's
		// is http. (The SQLite table stays empty: nothing to change.)
		version: 4,
		name:    "audit actions by service",
		sqlite:  []string{`UPDATE ztgate_audit SET action = action WHERE 0`},
		// The service is read from the record's text, not parsed as JSON:
		// jsonb refuses records holding an escaped NUL (\u0000), and one
		// such row would stop the upgrade. The writer's records are
		// compact, and no member before eventSource can hold the name.
		pg: []string{`UPDATE ztgate_audit SET action =
			(CASE substring(record from '"eventSource":"([^".\\]+)\.') WHEN 'gateway' THEN 'http'
				ELSE substring(record from '"eventSource":"([^".\\]+)\.') END) || ':' || action
			WHERE action <> '' AND position(':' in action) = 0
				AND substring(record from '"eventSource":"([^".\\]+)\.') IS NOT NULL`},
	},
}

// auditTable is migration 3 in a dialect: the columns and indexes of the
// audit query store (package audit/index), under the name ztgate_audit.
func auditTable(integer, record string) []string {
	stmts := []string{`CREATE TABLE ztgate_audit (
		node TEXT NOT NULL,
		seq ` + integer + ` NOT NULL,
		time_us ` + integer + ` NOT NULL,
		principal TEXT NOT NULL,
		action TEXT NOT NULL,
		resource TEXT NOT NULL,
		decision TEXT NOT NULL,
		source_ip TEXT NOT NULL,
		device TEXT NOT NULL,
		error_code TEXT NOT NULL,
		event_id TEXT NOT NULL,
		record ` + record + ` NOT NULL,
		PRIMARY KEY (node, seq)
	)`, `CREATE INDEX ztgate_audit_time ON ztgate_audit (time_us)`}
	for _, col := range []string{"principal", "action", "resource", "decision", "source_ip", "device", "error_code"} {
		stmts = append(stmts, `CREATE INDEX ztgate_audit_`+col+` ON ztgate_audit (`+col+`, time_us)`)
	}
	return stmts
}

// SchemaVersion is the schema version this build migrates to.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the schema to version target (0 means the latest). Each
// step runs in its own transaction together with its bookkeeping row, so a
// failure leaves the schema at the previous step, never half-way. On
// PostgreSQL an advisory lock keeps nodes starting together from racing.
func migrate(ctx context.Context, db *sql.DB, d dialect, target int) error {
	if target == 0 {
		target = SchemaVersion()
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if d.postgres {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLockID) //nolint:errcheck
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ztgate_schema (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_us BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return err
	}
	if current > SchemaVersion() {
		return fmt.Errorf("%w: database is at version %d, this build knows up to %d", store.ErrSchemaTooNew, current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current || m.version > target {
			continue
		}
		if err := applyMigration(ctx, conn, d, m); err != nil {
			return err
		}
	}
	return nil
}

// migrationLockID is the PostgreSQL advisory lock held while migrating.
const migrationLockID = 0x7a7467617465 // "ztgate"

func schemaVersion(ctx context.Context, conn *sql.Conn) (int, error) {
	var v sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT MAX(version) FROM ztgate_schema`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	return int(v.Int64), nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, d dialect, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
	}
	defer tx.Rollback() //nolint:errcheck
	stmts := m.sqlite
	if d.postgres {
		stmts = m.pg
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO ztgate_schema (version, name, applied_us) VALUES (?, ?, ?)`),
		m.version, m.name, time.Now().UnixMicro()); err != nil {
		return fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to %d (%s): %w", m.version, m.name, err)
	}
	return nil
}
