package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/assistant-dev/assistant/config"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print or validate the effective configuration",
	}
	var printStages, validateStages string
	printCmd := &cobra.Command{
		Use:   "print [--stages=NAME,...]",
		Short: "Print the effective configuration (defaults, file, environment) as YAML, secrets redacted; then its problems, if any",
		Long: `Print writes the effective configuration as YAML, secrets redacted, even
when it is invalid (a value that cannot be decoded shows its default), so
that it helps debugging one; the problems follow on standard error and the
exit status is non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := a.configReport(printStages, cmd.Flags().Changed("stages"))
			if err != nil {
				return err
			}
			out, err := rep.Config.YAML()
			if err != nil {
				return err
			}
			if _, err := a.stdout.Write(out); err != nil {
				return err
			}
			a.printFindings(rep, a.stderr)
			return problemsError(rep)
		},
	}
	validateCmd := &cobra.Command{
		Use:   "validate [--stages=NAME,...]",
		Short: `Check the configuration for the stages: prints "config ok", or every problem with its key, value and reason`,
		Long: `Validate checks the configuration as "run" would for the same --stages
(default: the stages enabled in the configuration): every setting, and
what those stages need (an AI provider's key when their tagger or embedder
chain uses it). Each problem is printed on its own line as
"problem: key = value: reason" (secrets redacted), and the exit status is
non-zero. ASSISTANT_* environment variables that set no key are printed
as warnings, which do not fail validation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := a.configReport(validateStages, cmd.Flags().Changed("stages"))
			if err != nil {
				return err
			}
			a.printFindings(rep, a.stdout)
			if err := problemsError(rep); err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, "config ok")
			return err
		},
	}
	for _, c := range []struct {
		cmd  *cobra.Command
		flag *string
	}{{printCmd, &printStages}, {validateCmd, &validateStages}} {
		c.cmd.Flags().StringVar(c.flag, "stages", "",
			"check what these stages need, as `run --stages` would (default: the stages enabled in the config); built in: "+
				strings.Join(a.stages.Names(), ", "))
	}
	cmd.AddCommand(printCmd, validateCmd)
	return cmd
}

// configReport loads the configuration without stopping at a problem and
// adds what the selected stages need; the --log-* flags are checked too.
func (a *app) configReport(stagesFlag string, given bool) (config.Report, error) {
	rep, err := a.stages.InspectConfig(a.configPath)
	if err != nil {
		return config.Report{}, err
	}
	stages, _, err := selectStages(&rep.Config, a.stages, stagesFlag, given)
	if err != nil {
		return config.Report{}, err
	}
	rep.Add(rep.Config.ValidateNeeds(a.stages.ConfigNeeds(stages))...)
	if err := a.applyLogFlags(&rep.Config); err != nil {
		return config.Report{}, err
	}
	return rep, nil
}

// printFindings writes the warnings and the problems, one a line.
func (a *app) printFindings(rep config.Report, w interface{ Write([]byte) (int, error) }) {
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// problemsError is the one-line failure of a command whose configuration
// has problems (they were printed above it).
func problemsError(rep config.Report) error {
	switch n := len(rep.Problems); n {
	case 0:
		return nil
	case 1:
		return errors.New("invalid config: 1 problem (listed above)")
	default:
		return fmt.Errorf("invalid config: %d problems (listed above)", n)
	}
}
