package telegram

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/tg"
)

// Prompter asks the operator for the login's secrets. Terminal reads them
// from a terminal (or any reader, for scripted input).
type Prompter interface {
	// Ask shows prompt and returns the answer; secret answers are not
	// echoed.
	Ask(ctx context.Context, prompt string, secret bool) (string, error)
}

// LineReader is a Prompter over a reader and a writer: one answer per
// line. ReadSecret, when set, reads secret answers instead (the terminal
// without echo).
type LineReader struct {
	In         *bufio.Reader
	Out        io.Writer
	ReadSecret func() (string, error)
}

// Ask implements Prompter.
func (l *LineReader) Ask(_ context.Context, prompt string, secret bool) (string, error) {
	fmt.Fprint(l.Out, prompt)
	if secret && l.ReadSecret != nil {
		s, err := l.ReadSecret()
		fmt.Fprintln(l.Out)
		return strings.TrimSpace(s), err
	}
	line, err := l.In.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no answer: input ended")
		}
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// promptAuth is gotd's UserAuthenticator over a Prompter.
type promptAuth struct {
	p     Prompter
	phone string
}

func (a promptAuth) Phone(ctx context.Context) (string, error) {
	if a.phone != "" {
		return a.phone, nil
	}
	return a.p.Ask(ctx, "Phone number (international format, +...): ", false)
}

func (a promptAuth) Code(ctx context.Context, _ *tg.AuthSentCode) (string, error) {
	return a.p.Ask(ctx, "Code Telegram sent you: ", false)
}

func (a promptAuth) Password(ctx context.Context) (string, error) {
	return a.p.Ask(ctx, "Two-step verification password: ", true)
}

func (a promptAuth) AcceptTermsOfService(_ context.Context, tos tg.HelpTermsOfService) error {
	return fmt.Errorf("this phone number has no Telegram account; sign up in a Telegram app first (terms: %.80s)", tos.Text)
}

func (a promptAuth) SignUp(context.Context) (auth.UserInfo, error) {
	return auth.UserInfo{}, errors.New("this phone number has no Telegram account; sign up in a Telegram app first")
}

// LoginOptions configure Login.
type LoginOptions struct {
	Session telegram.SessionStorage
	Network Network
	// Phone skips the phone prompt when set.
	Phone string
}

// Login signs the account in interactively (phone, code, 2FA password) and
// leaves the session in opts.Session, where the source finds it. It returns
// the signed-in user. An already authorized session is kept as it is.
func Login(ctx context.Context, cfg Config, p Prompter, opts LoginOptions) (*tg.User, error) {
	if err := cfg.ValidateCredentials(); err != nil {
		return nil, err
	}
	o := telegram.Options{SessionStorage: opts.Session, NoUpdates: true, Device: deviceConfig()}
	opts.Network.apply(&o)
	client := telegram.NewClient(cfg.APIID, cfg.APIHash, o)
	var user *tg.User
	err := client.Run(ctx, func(ctx context.Context) error {
		status, err := client.Auth().Status(ctx)
		if err != nil {
			return fmt.Errorf("auth status: %w", err)
		}
		if !status.Authorized {
			flow := auth.NewFlow(promptAuth{p: p, phone: opts.Phone}, auth.SendCodeOptions{})
			if err := flow.Run(ctx, client.Auth()); err != nil {
				return fmt.Errorf("sign in: %w", err)
			}
		}
		user, err = client.Self(ctx)
		if err != nil {
			return fmt.Errorf("read the signed-in user: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("telegram login: %w", err)
	}
	if user == nil {
		// gotd's Run returns nil when the connection was closed under
		// the callback.
		return nil, errors.New("telegram login: the connection closed before the sign-in completed")
	}
	return user, nil
}

// ImportTelethon stores a Telethon string session (what the old Python
// ingest used) as this daemon's session, so its users keep their login.
func ImportTelethon(ctx context.Context, store telegram.SessionStorage, telethon string) error {
	data, err := session.TelethonSession(strings.TrimSpace(telethon))
	if err != nil {
		return fmt.Errorf("read the Telethon string session: %w", err)
	}
	loader := session.Loader{Storage: store}
	if err := loader.Save(ctx, data); err != nil {
		return fmt.Errorf("store the session: %w", err)
	}
	return nil
}

// Dialog is a channel the account can read.
type Dialog struct {
	ID         int64 // bare channel id
	AccessHash int64
	Username   string
	Title      string
	Broadcast  bool // a channel (false: a supergroup)
}

func (d Dialog) info() channelInfo {
	return channelInfo{ID: d.ID, AccessHash: d.AccessHash, Username: d.Username, Title: d.Title}
}

// Dialogs lists the channels and supergroups among the account's dialogs,
// paging through messages.getDialogs.
func Dialogs(ctx context.Context, api *tg.Client) ([]Dialog, error) {
	var out []Dialog
	seen := map[int64]bool{}
	req := &tg.MessagesGetDialogsRequest{OffsetPeer: &tg.InputPeerEmpty{}, Limit: 100}
	for page := 0; page < 1000; page++ {
		res, err := api.MessagesGetDialogs(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("messages.getDialogs: %w", err)
		}
		var (
			dialogs []tg.DialogClass
			chats   []tg.ChatClass
			msgs    []tg.MessageClass
			more    bool
		)
		switch r := res.(type) {
		case *tg.MessagesDialogs:
			dialogs, chats, msgs = r.Dialogs, r.Chats, r.Messages
		case *tg.MessagesDialogsSlice:
			dialogs, chats, msgs = r.Dialogs, r.Chats, r.Messages
			more = true
		default:
			return out, nil
		}
		newOnes := 0
		for _, c := range chats {
			ch, ok := c.(*tg.Channel)
			if !ok || seen[ch.ID] {
				continue
			}
			seen[ch.ID] = true
			newOnes++
			out = append(out, Dialog{ID: ch.ID, AccessHash: ch.AccessHash, Username: lower(ch.Username), Title: ch.Title, Broadcast: ch.Broadcast})
		}
		if !more || len(dialogs) == 0 || newOnes == 0 {
			return out, nil
		}
		// The next page starts after the last dialog: its top message's
		// date and id, and its peer.
		last := dialogs[len(dialogs)-1]
		req.OffsetID = last.GetTopMessage()
		for _, m := range msgs {
			if m.GetID() == req.OffsetID {
				if mm, ok := m.(*tg.Message); ok {
					req.OffsetDate = mm.Date
				}
			}
		}
		req.OffsetPeer = inputPeer(last.GetPeer(), chats)
	}
	return out, nil
}

func inputPeer(p tg.PeerClass, chats []tg.ChatClass) tg.InputPeerClass {
	switch p := p.(type) {
	case *tg.PeerChannel:
		for _, c := range chats {
			if ch, ok := c.(*tg.Channel); ok && ch.ID == p.ChannelID {
				return &tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
			}
		}
	case *tg.PeerChat:
		return &tg.InputPeerChat{ChatID: p.ChatID}
	}
	return &tg.InputPeerEmpty{}
}

// ListChannels connects with the stored session and lists what it can
// read.
func ListChannels(ctx context.Context, cfg Config, store telegram.SessionStorage, network Network) ([]Dialog, error) {
	if err := cfg.ValidateCredentials(); err != nil {
		return nil, err
	}
	o := telegram.Options{SessionStorage: store, NoUpdates: true, Device: deviceConfig()}
	network.apply(&o)
	client := telegram.NewClient(cfg.APIID, cfg.APIHash, o)
	var out []Dialog
	listed := false
	err := client.Run(ctx, func(ctx context.Context) error {
		status, err := client.Auth().Status(ctx)
		if err != nil {
			return fmt.Errorf("auth status: %w", err)
		}
		if !status.Authorized {
			return errNotAuthorized
		}
		out, err = Dialogs(ctx, client.API())
		listed = err == nil
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("telegram channels: %w", err)
	}
	if !listed {
		return nil, errors.New("telegram channels: the connection closed before the channels were listed")
	}
	return out, nil
}

func lower(s string) string { return strings.ToLower(s) }
