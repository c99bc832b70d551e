package cli

import (
	"fmt"
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
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := postgres.MigrateUp(cmd.Context(), cfg.Database.URL, postgres.InSchema(cfg.Database.Schema)); err != nil {
				return fmt.Errorf("migrate up on %s: %w", config.RedactURL(cfg.Database.URL), err)
			}
			_, err = fmt.Fprintln(a.stdout, "migrations applied")
			return err
		},
	}, &cobra.Command{
		Use:   "down",
		Short: "Roll back the most recent migration (one step)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := postgres.MigrateDown(cmd.Context(), cfg.Database.URL, postgres.InSchema(cfg.Database.Schema)); err != nil {
				return fmt.Errorf("migrate down on %s: %w", config.RedactURL(cfg.Database.URL), err)
			}
			_, err = fmt.Fprintln(a.stdout, "rolled back one migration")
			return err
		},
	}, &cobra.Command{
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
