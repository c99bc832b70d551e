package telegram

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/gotd/td/session"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/pipeline"
	"github.com/assistant-dev/assistant/store/postgres"
)

// Commands are the stage's operator commands: `assistant telegram login`
// and `assistant telegram channels`, against Telegram's production data
// centers.
func Commands(env pipeline.CommandEnv) []*cobra.Command {
	return CommandsFor(Network{})(env)
}

// CommandsFor is Commands reaching network instead (a test server).
func CommandsFor(network Network) pipeline.CommandFunc {
	return func(env pipeline.CommandEnv) []*cobra.Command {
		return []*cobra.Command{telegramCommand(env, network)}
	}
}

// telegramFlags override the session location of the configuration.
type telegramFlags struct {
	storage, file, name string
}

func telegramCommand(env pipeline.CommandEnv, network Network) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "telegram",
		Short: "Sign the live telegram source in, or list the channels its session can read",
	}
	var flags telegramFlags
	cmd.PersistentFlags().StringVar(&flags.storage, "session-storage", "", "where the session is kept: postgres or file (default stages.telegram.session.storage)")
	cmd.PersistentFlags().StringVar(&flags.file, "session-file", "", "session file, with --session-storage=file (created with mode 0600)")
	cmd.PersistentFlags().StringVar(&flags.name, "session-name", "", "row of telegram_sessions, with --session-storage=postgres")

	var phone, telethonFile string
	login := &cobra.Command{
		Use:   "login",
		Short: "Sign in with a user account (phone, code, 2FA password), or import a Telethon string session",
		Long: `login signs the account in on this terminal: it asks for the phone number, the code
Telegram sends, and the two-step verification password if the account has one
(not echoed). The session is stored where the daemon's telegram source finds it
(stages.telegram.session: PostgreSQL table telegram_sessions, or a file with mode 0600).
Nothing of it is logged.

--telethon-file imports the string session of the old Telethon-based ingest
instead ("-" reads it from standard input), so its users keep their login.

API credentials come from TELEGRAM_API_ID and TELEGRAM_API_HASH (my.org).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			tcfg, store, closeDB, err := telegramSetup(ctx, env, flags)
			if err != nil {
				return err
			}
			defer closeDB()
			if telethonFile != "" {
				raw, err := readSecretFile(telethonFile, env.Stdin)
				if err != nil {
					return err
				}
				if err := ImportTelethon(ctx, store, raw); err != nil {
					return err
				}
				_, err = fmt.Fprintf(env.Stdout, "Telethon session imported; stored in %s\n", sessionPlace(tcfg))
				return err
			}
			p := terminalPrompter(env.Stdin, env.Stdout)
			user, err := Login(ctx, tcfg, p, LoginOptions{Session: store, Network: network, Phone: phone})
			if err != nil {
				return err
			}
			name := strings.TrimSpace(user.FirstName + " " + user.LastName)
			if user.Username != "" {
				name += " (@" + user.Username + ")"
			}
			_, err = fmt.Fprintf(env.Stdout, "Signed in as %s, id %d; session stored in %s\n", name, user.ID, sessionPlace(tcfg))
			return err
		},
	}
	login.Flags().StringVar(&phone, "phone", "", "phone number in international format (asked when not given)")
	login.Flags().StringVar(&telethonFile, "telethon-file", "", `import a Telethon string session from this file ("-": standard input)`)

	channels := &cobra.Command{
		Use:   "channels",
		Short: "List the channels and supergroups the stored session can read",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			tcfg, store, closeDB, err := telegramSetup(ctx, env, flags)
			if err != nil {
				return err
			}
			defer closeDB()
			list, err := ListChannels(ctx, tcfg, store, network)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSERNAME\tKIND\tTITLE")
			for _, d := range list {
				kind := "supergroup"
				if d.Broadcast {
					kind = "channel"
				}
				user := "-"
				if d.Username != "" {
					user = "@" + d.Username
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", d.ID, user, kind, d.Title)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(login, channels)
	return cmd
}

// telegramSetup loads the configuration and opens the session storage.
func telegramSetup(ctx context.Context, env pipeline.CommandEnv, flags telegramFlags) (Config, session.Storage, func(), error) {
	noop := func() {}
	cfg, err := env.Config()
	if err != nil {
		return Config{}, nil, noop, err
	}
	tcfg := DefaultConfig()
	if section, ok := cfg.Stage(Name).(*Config); ok {
		tcfg = *section
	}
	if err := tcfg.ApplyEnv(); err != nil {
		return tcfg, nil, noop, err
	}
	if flags.storage != "" {
		tcfg.Session.Storage = flags.storage
	}
	if flags.file != "" {
		tcfg.Session.File = flags.file
		if flags.storage == "" {
			tcfg.Session.Storage = StorageFile
		}
	}
	if flags.name != "" {
		tcfg.Session.Name = flags.name
	}
	if err := tcfg.ValidateCredentials(); err != nil {
		return tcfg, nil, noop, err
	}
	var db *pgxpool.Pool
	closeDB := noop
	if tcfg.Session.Storage == StoragePostgres {
		if cfg.Database.AutoMigrate {
			if err := postgres.MigrateUp(ctx, cfg.Database.URL); err != nil {
				return tcfg, nil, noop, fmt.Errorf("migrate %s: %w", config.RedactURL(cfg.Database.URL), err)
			}
		}
		db, err = postgres.Open(ctx, cfg.Database)
		if err != nil {
			return tcfg, nil, noop, err
		}
		closeDB = db.Close
	}
	store, err := SessionStorage(tcfg.Session, db)
	if err != nil {
		closeDB()
		return tcfg, nil, noop, err
	}
	return tcfg, store, closeDB, nil
}

func sessionPlace(c Config) string {
	if c.Session.Storage == StorageFile {
		return "file " + c.Session.File
	}
	return "PostgreSQL table telegram_sessions, name " + c.Session.Name
}

// terminalPrompter asks on stdout and reads stdin; on a terminal the
// password is read without echo.
func terminalPrompter(stdin io.Reader, out io.Writer) Prompter {
	lr := &LineReader{In: bufio.NewReader(stdin), Out: out}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		lr.ReadSecret = func() (string, error) {
			b, err := term.ReadPassword(int(f.Fd()))
			return string(b), err
		}
	}
	return lr
}

// readSecretFile reads a secret from a file ("-": stdin), trimmed.
func readSecretFile(path string, stdin io.Reader) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<16))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("read the Telethon session: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New("the Telethon session is empty")
	}
	return s, nil
}
