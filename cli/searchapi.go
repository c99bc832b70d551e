package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/assistant-dev/assistant/api"
	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/search"
)

// searchDialTimeout bounds the connection to the daemon: on this host an
// absent daemon refuses at once, and one elsewhere that does not answer
// this soon is slower than searching here.
const searchDialTimeout = 300 * time.Millisecond

// daemonAPI is where `assistant search` asks a running daemon (the api
// role of `run`, on api.addr) and with which token.
type daemonAPI struct {
	base  string // http://host:port
	token string
}

// daemonFor returns the daemon's API of cfg, or ok false when it has none
// the CLI can reach: api.addr empty or on port 0 (a port the daemon picks),
// or tokens required and none of them reads what q asks.
func daemonFor(cfg *config.Config, q *search.Query) (d daemonAPI, ok bool) {
	host, port, err := net.SplitHostPort(cfg.API.Addr)
	if err != nil || port == "" || port == "0" {
		return d, false
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	d.base = "http://" + net.JoinHostPort(host, port)
	tokens, err := api.ParseTokens(cfg.API.Token, cfg.API.Tokens)
	if err != nil || !tokens.Required() {
		return d, err == nil
	}
	// A token that reads every tenant, else one scoped to the tenant
	// asked for: the daemon answers what this process would.
	if cfg.API.Token != "" {
		d.token = cfg.API.Token
		return d, true
	}
	for _, e := range cfg.API.Tokens {
		tenant, tok, _ := strings.Cut(e, ":")
		if strings.TrimSpace(tenant) == api.AllTenants {
			d.token = tok
			return d, true
		}
	}
	for _, e := range cfg.API.Tokens {
		tenant, tok, _ := strings.Cut(e, ":")
		if q.TenantID != "" && strings.TrimSpace(tenant) == q.TenantID {
			d.token = tok
			return d, true
		}
	}
	return d, false
}

// apiRefused is the daemon's 400: the query itself is wrong, and this
// process would refuse it too.
type apiRefused struct{ message string }

func (e apiRefused) Error() string { return e.message }

// searchVia asks the daemon for q's page.
func (d daemonAPI) searchVia(ctx context.Context, q search.Query, timeout time.Duration) (*search.Page, error) {
	v := url.Values{}
	v.Set("q", q.Text)
	v.Set("mode", string(q.Mode))
	for _, c := range q.Channels {
		v.Add("channel", c)
	}
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	if q.TenantID != "" {
		v.Set("tenant", q.TenantID)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Prefix {
		v.Set("prefix", "true")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+"/v1/search?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Timeout: searchDialTimeout}).DialContext,
		Proxy:       nil, // the daemon is ours: never through a proxy
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, errors.New("no daemon listening")
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb api.ErrorBody
		if json.Unmarshal(body, &eb) != nil || eb.Message == "" {
			return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		// An older daemon that does not know a parameter this binary
		// sends (prefix) is not the query's fault: search here instead.
		if resp.StatusCode == http.StatusBadRequest && !strings.HasPrefix(eb.Message, "unknown query parameter") {
			return nil, apiRefused{eb.Message}
		}
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, eb.Message)
	}
	var page search.Page
	if err := json.Unmarshal(body, &page); err != nil || page.Results == nil {
		return nil, fmt.Errorf("not a search page (%s)", resp.Header.Get("Content-Type"))
	}
	return &page, nil
}
