package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCommand probes a running daemon's operations server, for
// container health checks: the runtime image is distroless (no shell, no
// curl), so the binary probes itself. Exit 0 when the endpoint answers 200,
// else 1 with the status and the daemon's reason on one line.
func (a *app) healthcheckCommand() *cobra.Command {
	var (
		addr    string
		ready   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck [--ready] [--addr HOST:PORT]",
		Short: "Probe a running daemon's /healthz (or /readyz with --ready); exit 0 when it answers 200",
		Long: `Healthcheck asks the operations server of a daemon on this host (http.addr,
or --addr) whether it is alive (/healthz) or, with --ready, ready (/readyz:
Redis and PostgreSQL answer, every stage runs). It exits 0 on 200 and 1
otherwise, printing the reason: what a container HEALTHCHECK needs in an
image without a shell or curl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				cfg, err := a.loadConfig()
				if err != nil {
					return err
				}
				addr = cfg.HTTP.Addr
			}
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			url := "http://" + probeAddr(addr) + path
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return errUsage(cmd, "%v", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("healthcheck: %w", err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("healthcheck: %s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
			}
			_, err = fmt.Fprintf(a.stdout, "%s: %s\n", url, strings.TrimSpace(string(body)))
			return err
		},
	}
	cmd.Flags().BoolVar(&ready, "ready", false, "probe readiness (/readyz) instead of liveness (/healthz)")
	cmd.Flags().StringVar(&addr, "addr", "", "the daemon's operations address (default http.addr)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

// probeAddr turns a listen address into one to connect to: a missing or
// wildcard host (":8000", "0.0.0.0:8000", "[::]:8000") means this host.
func probeAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
