package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/store/postgres"
)

func (a *app) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list the database migrations (embedded in the binary)",
	}
	var dryRun, yes bool
	down := &cobra.Command{
		Use:   "down [--dry-run] [--yes]",
		Short: "Roll back the most recent migration (one step; asks first, or needs --yes)",
		Long: `Down rolls back the most recently applied migration, which usually drops
tables and their data. On a terminal it asks first; elsewhere it needs --yes.
--dry-run names the migration it would roll back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			db := config.RedactURL(cfg.Database.URL)
			statuses, err := postgres.MigrateStatus(cmd.Context(), cfg.Database.URL, postgres.InSchema(cfg.Database.Schema))
			if err != nil {
				return fmt.Errorf("migrate down on %s: %w", db, err)
			}
			last := -1
			for i, st := range statuses {
				if st.Applied {
					last = i
				}
			}
			if last < 0 {
				return fmt.Errorf("migrate down on %s: no migration is applied", db)
			}
			target := statuses[last].Name
			if dryRun {
				_, err := fmt.Fprintf(a.stdout, "would roll back %s on %s (dry run: nothing changed)\n", target, db)
				return err
			}
			if !yes {
				if err := a.confirm(cmd, fmt.Sprintf("roll back %s on %s, dropping what it created", target, db)); err != nil {
					return err
				}
			}
			if err := postgres.MigrateDown(cmd.Context(), cfg.Database.URL, postgres.InSchema(cfg.Database.Schema)); err != nil {
				return fmt.Errorf("migrate down on %s: %w", db, err)
			}
			_, err = fmt.Fprintf(a.stdout, "rolled back %s\n", target)
			return err
		},
	}
	down.Flags().BoolVar(&dryRun, "dry-run", false, "name the migration that would be rolled back, and change nothing")
	down.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			applied, version, err := migrateUp(cmd.Context(), cfg.Database.URL, cfg.Database.Schema)
			if err != nil {
				return fmt.Errorf("migrate up on %s: %w", config.RedactURL(cfg.Database.URL), err)
			}
			if err := a.applySearchRUM(cmd.Context(), cfg, a.log()); err != nil {
				return err
			}
			if len(applied) == 0 {
				_, err = fmt.Fprintf(a.stdout, "no pending migration: the database is at %s\n", version)
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "applied %s: %s\n", count(len(applied), "migration", "migrations"), strings.Join(applied, ", "))
			return err
		},
	}, down, &cobra.Command{
		Use:   "status",
		Short: "List every migration and whether it is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			statuses, err := postgres.MigrateStatus(cmd.Context(), cfg.Database.URL, postgres.InSchema(cfg.Database.Schema))
			if err != nil {
				return fmt.Errorf("migrate status on %s: %w", config.RedactURL(cfg.Database.URL), err)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tNAME\tSTATE\tAPPLIED AT")
			for _, s := range statuses {
				state, at := "pending", "-"
				if s.Applied {
					state = "applied"
					if !s.AppliedAt.IsZero() {
						at = s.AppliedAt.UTC().Format(time.RFC3339)
					}
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, s.Name, state, at)
			}
			return tw.Flush()
		},
	})
	return cmd
}

// migrateUp applies the pending migrations and returns the names of those it
// applied and the database's version afterwards ("00003_indexing_status.sql",
// or "no migration" for an empty list), so that callers say "applied" only
// when something was.
func migrateUp(ctx context.Context, dbURL, schema string) (applied []string, version string, err error) {
	inSchema := postgres.InSchema(schema)
	before, err := postgres.MigrateStatus(ctx, dbURL, inSchema)
	if err != nil {
		return nil, "", err
	}
	if err := postgres.MigrateUp(ctx, dbURL, inSchema); err != nil {
		return nil, "", err
	}
	after, err := postgres.MigrateStatus(ctx, dbURL, inSchema)
	if err != nil {
		return nil, "", err
	}
	was := map[string]bool{}
	for _, st := range before {
		was[st.Name] = st.Applied
	}
	version = "no migration"
	for _, st := range after {
		if st.Applied {
			version = st.Name
			if !was[st.Name] {
				applied = append(applied, st.Name)
			}
		}
	}
	return applied, version, nil
}

// applySearchRUM makes the RUM index of posts match search.rum (see
// postgres.EnsureSearchRUM); a server without the extension gets a warning
// and search ranks through GIN.
func (a *app) applySearchRUM(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	pool, err := postgres.Open(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer pool.Close()
	start := time.Now()
	st, err := postgres.EnsureSearchRUM(ctx, pool, cfg.Search.RUM)
	if err != nil {
		return fmt.Errorf("search.rum: %w", err)
	}
	switch {
	case st.Unavailable != "":
		logger.Warn("search.rum is on but no RUM index could be built; keyword search ranks through GIN", "reason", st.Unavailable)
	case st.On:
		logger.Info("search RUM index ready", "rum_index", postgres.RUMIndex, "took_ms", time.Since(start).Milliseconds())
	}
	return nil
}
