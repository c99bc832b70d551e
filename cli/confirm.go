package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// confirm asks before a command destroys something (dlq purge --all,
// migrate down). On a terminal it asks on stderr and reads the answer from
// stdin; elsewhere (a script, CI, a pipe) there is nobody to ask, so the
// command refuses unless --yes was given — the caller skips confirm then.
func (a *app) confirm(cmd *cobra.Command, what string) error {
	if !a.interactive {
		return errUsage(cmd, "refusing to %s without --yes (not asked: stdin is not a terminal)", what)
	}
	fmt.Fprintf(a.stderr, "%s? [y/N] ", strings.ToUpper(what[:1])+what[1:])
	answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errUsage(cmd, "cancelled: did not %s", what)
}
