package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print or validate the effective configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (defaults, file, environment) as YAML, secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			out, err := cfg.YAML()
			if err != nil {
				return err
			}
			_, err = a.stdout.Write(out)
			return err
		},
	}, &cobra.Command{
		Use:   "validate",
		Short: `Check the configuration: prints "config ok", or each problem naming its key`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.loadConfig(); err != nil {
				return err
			}
			_, err := fmt.Fprintln(a.stdout, "config ok")
			return err
		},
	})
	return cmd
}
