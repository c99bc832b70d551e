// Package tgfake is a TEST SERVER for the telegram package, not Telegram:
// gotd's own in-process MTProto server (tgtest) with handlers serving real
// TL objects from an in-memory model of channels. See Server.
package tgfake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"math/big"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/gotd/td/tgtest"
	"github.com/gotd/td/tgtest/cluster"
	"github.com/gotd/td/transport"

	"github.com/assistant-dev/assistant/stages/telegram"
)

// Server is a TEST SERVER, not Telegram: gotd's own in-process
// MTProto server (tgtest: real key exchange, encryption and TL encoding over
// loopback TCP) with handlers that serve real TL objects from an in-memory
// model of a few channels — contacts.resolveUsername, messages.getHistory
// pages, messages.getDialogs, updates.getState/getDifference/
// getChannelDifference, users.getUsers, and the sign-in methods
// (auth.sendCode, auth.signIn, account.getPassword, auth.checkPassword with
// a real SRP check). Updates (new, edited, deleted messages) are pushed to
// the client's latest session as Telegram pushes them. Clients reach it
// through a loopback proxy the test can cut, to drop connections.
type Server struct {
	t     testing.TB
	c     *cluster.Cluster
	proxy *proxy

	mu       sync.Mutex
	channels map[int64]*fakeChannel
	byName   map[string]int64
	self     *tg.User
	session  tgtest.Session
	hasSess  bool
	requests int // RPC calls seen, to wait for a reconnected client

	// Sign-in: when requireLogin, an auth key must sign in first.
	requireLogin bool
	authorized   map[[8]byte]bool
	phone, code  string
	password     *srpServer
	codeHash     string

	// floodWaits answers that many getHistory calls with FLOOD_WAIT_<floodSeconds>.
	floodWaits   int
	floodSeconds int
	historyCalls int
}

type fakeChannel struct {
	ch     *tg.Channel
	msgs   map[int]*tg.Message
	nextID int
	pts    int
	events []ptsEvent
}

// ptsEvent is one step of a channel's update sequence.
type ptsEvent struct {
	pts int
	upd tg.UpdateClass
	msg *tg.Message // set for new messages
}

// New starts a test server; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	f := &Server{
		t:          t,
		channels:   map[int64]*fakeChannel{},
		byName:     map[string]int64{},
		self:       &tg.User{ID: 777000111, AccessHash: 42, FirstName: "Test", Username: "tester", Self: true},
		authorized: map[[8]byte]bool{},
	}
	f.c = cluster.NewCluster(cluster.Options{Protocol: transport.Intermediate})
	d := f.c.Dispatch(2, "dc2")
	f.register(d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.c.Up(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-f.c.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("test MTProto server did not start")
	}
	// Route the client through a proxy the test can cut.
	list := f.c.List()
	var target string
	for _, o := range list.Options {
		if o.ID == 2 {
			target = net.JoinHostPort(o.IPAddress, strconv.Itoa(o.Port))
		}
	}
	if target == "" {
		t.Fatal("test server has no DC 2")
	}
	f.proxy = newProxy(t, target)
	return f
}

// Network is how clients reach the test server (through the proxy).
func (f *Server) Network() telegram.Network {
	list := f.c.List()
	host, port, _ := net.SplitHostPort(f.proxy.addr())
	p, _ := strconv.Atoi(port)
	opts := make([]tg.DCOption, 0, len(list.Options))
	for _, o := range list.Options {
		if o.ID == 2 {
			o.IPAddress, o.Port = host, p
		}
		opts = append(opts, o)
	}
	return telegram.Network{
		PublicKeys: f.c.Keys(),
		DCList:     dcs.List{Options: opts, Domains: list.Domains},
		Resolver:   f.c.Resolver(),
		DC:         2,
	}
}

// AddChannel creates a channel with n messages, one a minute up to now.
func (f *Server) AddChannel(id int64, username, title string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := &fakeChannel{
		ch:     &tg.Channel{ID: id, AccessHash: id*7 + 3, Photo: &tg.ChatPhotoEmpty{}, Title: title, Username: username, Broadcast: true, Date: int(time.Now().Add(-48 * time.Hour).Unix())},
		msgs:   map[int]*tg.Message{},
		nextID: 1,
		pts:    1,
	}
	f.channels[id] = fc
	if username != "" {
		f.byName[username] = id
	}
	start := time.Now().Add(-time.Duration(n) * time.Minute)
	for i := 0; i < n; i++ {
		m := textMessage(id, fc.nextID, start.Add(time.Duration(i)*time.Minute))
		fc.msgs[m.ID] = m
		fc.nextID++
		fc.pts++
	}
}

// textMessage is a post with a displayed URL after an emoji and Cyrillic
// (entity offsets count UTF-16 units) and a hidden text link.
func textMessage(channelID int64, id int, at time.Time) *tg.Message {
	prefix := fmt.Sprintf("🚀 Новость %d канала %d: ", id, channelID)
	url := fmt.Sprintf("https://example.org/%d/%d", channelID, id)
	tail := " — подробнее"
	text := prefix + url + tail
	off := len(utf16.Encode([]rune(prefix)))
	return &tg.Message{
		ID:      id,
		PeerID:  &tg.PeerChannel{ChannelID: channelID},
		Date:    int(at.Unix()),
		Message: text,
		Entities: []tg.MessageEntityClass{
			&tg.MessageEntityURL{Offset: off, Length: len(utf16.Encode([]rune(url)))},
			&tg.MessageEntityTextURL{Offset: off + len(utf16.Encode([]rune(url))) + 3, Length: 8, URL: fmt.Sprintf("https://source.example/%d", id)},
		},
		Views: id * 10,
	}
}

// Post adds a message to a channel; push sends its update to the client
// (false: the update is lost, as when the connection was down).
func (f *Server) Post(channelID int64, m *tg.Message, push bool) *tg.Message {
	f.mu.Lock()
	fc := f.channels[channelID]
	m.ID = fc.nextID
	fc.nextID++
	m.PeerID = &tg.PeerChannel{ChannelID: channelID}
	if m.Date == 0 {
		m.Date = int(time.Now().Unix())
	}
	fc.msgs[m.ID] = m
	fc.pts++
	upd := &tg.UpdateNewChannelMessage{Message: m, Pts: fc.pts, PtsCount: 1}
	fc.events = append(fc.events, ptsEvent{pts: fc.pts, upd: upd, msg: m})
	ch := fc.ch
	f.mu.Unlock()
	if push {
		f.push(ch, upd)
	}
	return m
}

// Edit changes a message's text and pushes the edit.
func (f *Server) Edit(channelID int64, id int, text string) {
	f.mu.Lock()
	fc := f.channels[channelID]
	old := fc.msgs[id]
	m := *old
	m.Message, m.Entities = text, nil
	m.EditDate = int(time.Now().Unix())
	fc.msgs[id] = &m
	fc.pts++
	upd := &tg.UpdateEditChannelMessage{Message: &m, Pts: fc.pts, PtsCount: 1}
	fc.events = append(fc.events, ptsEvent{pts: fc.pts, upd: upd})
	ch := fc.ch
	f.mu.Unlock()
	f.push(ch, upd)
}

// Remove deletes messages and pushes the deletion.
func (f *Server) Remove(channelID int64, ids ...int) {
	f.mu.Lock()
	fc := f.channels[channelID]
	for _, id := range ids {
		delete(fc.msgs, id)
	}
	fc.pts += len(ids)
	upd := &tg.UpdateDeleteChannelMessages{ChannelID: channelID, Messages: ids, Pts: fc.pts, PtsCount: len(ids)}
	fc.events = append(fc.events, ptsEvent{pts: fc.pts, upd: upd})
	ch := fc.ch
	f.mu.Unlock()
	f.push(ch, upd)
}

// push sends updates to the latest client session, as Telegram does.
func (f *Server) push(ch *tg.Channel, upds ...tg.UpdateClass) {
	f.mu.Lock()
	s, ok := f.session, f.hasSess
	f.mu.Unlock()
	if !ok {
		f.t.Log("no client session to push updates to: the update is lost")
		return
	}
	srv, _ := f.c.DC(2, "dc2")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Send(ctx, s, tgtest.MessageFromServer, &tg.Updates{
		Updates: upds,
		Chats:   []tg.ChatClass{ch},
		Date:    int(time.Now().Unix()),
	}); err != nil {
		f.t.Logf("push update (lost): %v", err)
	}
}

// RequestCount is the number of RPC calls served so far.
func (f *Server) RequestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// handler wraps a method handler: it remembers the client's session for
// pushes and enforces sign-in.
func (f *Server) handler(needsAuth bool, h func(srv *tgtest.Server, req *tgtest.Request) error) tgtest.HandlerFunc {
	return func(srv *tgtest.Server, req *tgtest.Request) error {
		f.mu.Lock()
		f.session, f.hasSess = req.Session, true
		f.requests++
		denied := needsAuth && f.requireLogin && !f.authorized[req.Session.AuthKey.ID]
		f.mu.Unlock()
		if denied {
			return srv.SendErr(req, tgerr.New(401, "AUTH_KEY_UNREGISTERED"))
		}
		return h(srv, req)
	}
}

func (f *Server) register(d *tgtest.Dispatcher) {
	d.Handle(tg.UsersGetUsersRequestTypeID, f.handler(true, func(srv *tgtest.Server, req *tgtest.Request) error {
		var r tg.UsersGetUsersRequest
		if err := r.Decode(req.Buf); err != nil {
			return err
		}
		return srv.SendVector(req, f.self)
	}))
	d.Handle(tg.UpdatesGetStateRequestTypeID, f.handler(true, func(srv *tgtest.Server, req *tgtest.Request) error {
		return f.result(srv, req, &tg.UpdatesState{Pts: 1, Qts: 0, Date: int(time.Now().Unix()), Seq: 0})
	}))
	d.Handle(tg.UpdatesGetDifferenceRequestTypeID, f.handler(true, func(srv *tgtest.Server, req *tgtest.Request) error {
		var r tg.UpdatesGetDifferenceRequest
		if err := r.Decode(req.Buf); err != nil {
			return err
		}
		return f.result(srv, req, &tg.UpdatesDifferenceEmpty{Date: int(time.Now().Unix()), Seq: 0})
	}))
	d.Handle(tg.UpdatesGetChannelDifferenceRequestTypeID, f.handler(true, f.channelDifference))
	d.Handle(tg.ContactsResolveUsernameRequestTypeID, f.handler(true, func(srv *tgtest.Server, req *tgtest.Request) error {
		var r tg.ContactsResolveUsernameRequest
		if err := r.Decode(req.Buf); err != nil {
			return err
		}
		f.mu.Lock()
		id, ok := f.byName[r.Username]
		var ch *tg.Channel
		if ok {
			ch = f.channels[id].ch
		}
		f.mu.Unlock()
		if !ok {
			return srv.SendErr(req, tgerr.New(400, "USERNAME_NOT_OCCUPIED"))
		}
		return f.result(srv, req, &tg.ContactsResolvedPeer{
			Peer:  &tg.PeerChannel{ChannelID: id},
			Chats: []tg.ChatClass{ch},
			Users: []tg.UserClass{},
		})
	}))
	d.Handle(tg.MessagesGetHistoryRequestTypeID, f.handler(true, f.history))
	d.Handle(tg.MessagesGetDialogsRequestTypeID, f.handler(true, f.dialogs))
	d.Handle(tg.AuthSendCodeRequestTypeID, f.handler(false, func(srv *tgtest.Server, req *tgtest.Request) error {
		var r tg.AuthSendCodeRequest
		if err := r.Decode(req.Buf); err != nil {
			return err
		}
		if r.PhoneNumber != f.phone {
			return srv.SendErr(req, tgerr.New(400, "PHONE_NUMBER_INVALID"))
		}
		return f.result(srv, req, &tg.AuthSentCode{
			Type:          &tg.AuthSentCodeTypeApp{Length: len(f.code)},
			PhoneCodeHash: f.codeHash,
		})
	}))
	d.Handle(tg.AuthSignInRequestTypeID, f.handler(false, func(srv *tgtest.Server, req *tgtest.Request) error {
		var r tg.AuthSignInRequest
		if err := r.Decode(req.Buf); err != nil {
			return err
		}
		if r.PhoneCodeHash != f.codeHash || r.PhoneCode != f.code {
			return srv.SendErr(req, tgerr.New(400, "PHONE_CODE_INVALID"))
		}
		if f.password != nil {
			return srv.SendErr(req, tgerr.New(401, "SESSION_PASSWORD_NEEDED"))
		}
		f.authorize(req)
		return f.result(srv, req, &tg.AuthAuthorization{User: f.self})
	}))
	d.Handle(tg.AccountGetPasswordRequestTypeID, f.handler(false, func(srv *tgtest.Server, req *tgtest.Request) error {
		return f.result(srv, req, f.password.challenge())
	}))
	d.Handle(tg.AuthCheckPasswordRequestTypeID, f.handler(false, func(srv *tgtest.Server, req *tgtest.Request) error {
		var r tg.AuthCheckPasswordRequest
		if err := r.Decode(req.Buf); err != nil {
			return err
		}
		in, ok := r.Password.(*tg.InputCheckPasswordSRP)
		if !ok || !f.password.verify(in) {
			return srv.SendErr(req, tgerr.New(400, "PASSWORD_HASH_INVALID"))
		}
		f.authorize(req)
		return f.result(srv, req, &tg.AuthAuthorization{User: f.self})
	}))
}

// result sends an RPC result; a TL object that cannot be encoded is a bug
// of the test server, reported as such (tgtest would just drop the
// connection).
func (f *Server) result(srv *tgtest.Server, req *tgtest.Request, msg bin.Encoder) error {
	var b bin.Buffer
	if err := msg.Encode(&b); err != nil {
		f.t.Errorf("tgfake: encode %T: %v", msg, err)
	}
	return srv.SendResult(req, msg)
}

func (f *Server) authorize(req *tgtest.Request) {
	f.mu.Lock()
	f.authorized[req.Session.AuthKey.ID] = true
	f.mu.Unlock()
}

// history serves messages.getHistory: ids below offset_id (when set) and
// above min_id, newest first, at most limit.
func (f *Server) history(srv *tgtest.Server, req *tgtest.Request) error {
	var r tg.MessagesGetHistoryRequest
	if err := r.Decode(req.Buf); err != nil {
		return err
	}
	f.mu.Lock()
	f.historyCalls++
	if f.floodWaits > 0 {
		f.floodWaits--
		secs := f.floodSeconds
		f.mu.Unlock()
		return srv.SendErr(req, tgerr.New(420, fmt.Sprintf("FLOOD_WAIT_%d", secs)))
	}
	peer, ok := r.Peer.(*tg.InputPeerChannel)
	var fc *fakeChannel
	if ok {
		fc = f.channels[peer.ChannelID]
	}
	if fc == nil || fc.ch.AccessHash != peer.AccessHash {
		f.mu.Unlock()
		return srv.SendErr(req, tgerr.New(400, "CHANNEL_INVALID"))
	}
	ids := make([]int, 0, len(fc.msgs))
	for id := range fc.msgs {
		if (r.OffsetID == 0 || id < r.OffsetID) && id > r.MinID {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ids)))
	limit := r.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	if len(ids) > limit {
		ids = ids[:limit]
	}
	msgs := make([]tg.MessageClass, 0, len(ids))
	for _, id := range ids {
		msgs = append(msgs, fc.msgs[id])
	}
	res := &tg.MessagesChannelMessages{Pts: fc.pts, Count: len(fc.msgs), Messages: msgs, Chats: []tg.ChatClass{fc.ch}, Users: []tg.UserClass{}, Topics: []tg.ForumTopicClass{}}
	f.mu.Unlock()
	return f.result(srv, req, res)
}

// channelDifference serves updates.getChannelDifference from the
// channel's update sequence.
func (f *Server) channelDifference(srv *tgtest.Server, req *tgtest.Request) error {
	var r tg.UpdatesGetChannelDifferenceRequest
	if err := r.Decode(req.Buf); err != nil {
		return err
	}
	in, ok := r.Channel.(*tg.InputChannel)
	f.mu.Lock()
	var fc *fakeChannel
	if ok {
		fc = f.channels[in.ChannelID]
	}
	if fc == nil {
		f.mu.Unlock()
		return srv.SendErr(req, tgerr.New(400, "CHANNEL_INVALID"))
	}
	var news []tg.MessageClass
	var others []tg.UpdateClass
	for _, e := range fc.events {
		if e.pts <= r.Pts {
			continue
		}
		if e.msg != nil {
			if cur, ok := fc.msgs[e.msg.ID]; ok {
				news = append(news, cur)
			}
			continue
		}
		others = append(others, e.upd)
	}
	pts, ch := fc.pts, fc.ch
	f.mu.Unlock()
	if len(news) == 0 && len(others) == 0 {
		return f.result(srv, req, &tg.UpdatesChannelDifferenceEmpty{Final: true, Pts: pts})
	}
	return f.result(srv, req, &tg.UpdatesChannelDifference{
		Final: true, Pts: pts, NewMessages: news, OtherUpdates: others,
		Chats: []tg.ChatClass{ch}, Users: []tg.UserClass{},
	})
}

// dialogs serves messages.getDialogs: every channel, in one page.
func (f *Server) dialogs(srv *tgtest.Server, req *tgtest.Request) error {
	var r tg.MessagesGetDialogsRequest
	if err := r.Decode(req.Buf); err != nil {
		return err
	}
	f.mu.Lock()
	ids := make([]int64, 0, len(f.channels))
	for id := range f.channels {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	res := &tg.MessagesDialogs{Users: []tg.UserClass{}}
	for _, id := range ids {
		fc := f.channels[id]
		top := fc.nextID - 1
		res.Dialogs = append(res.Dialogs, &tg.Dialog{Peer: &tg.PeerChannel{ChannelID: id}, TopMessage: top, NotifySettings: tg.PeerNotifySettings{}})
		res.Chats = append(res.Chats, fc.ch)
		if m, ok := fc.msgs[top]; ok {
			res.Messages = append(res.Messages, m)
		}
	}
	f.mu.Unlock()
	return f.result(srv, req, res)
}

// srpServer is the server side of Telegram's SRP 2FA check
// (core.telegram.org/api/srp), so that a wrong password really fails.
type srpServer struct {
	algo  tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow
	v     *big.Int
	b     *big.Int
	gb    []byte
	srpID int64
}

// telegramPrime is the 2048-bit safe prime Telegram uses for SRP.
const telegramPrime = "C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F" +
	"48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37" +
	"20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64" +
	"2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4" +
	"A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754" +
	"FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4" +
	"E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F" +
	"0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B"

func newSRPServer(t testing.TB, password string) *srpServer {
	t.Helper()
	p, _ := new(big.Int).SetString(telegramPrime, 16)
	salt2 := make([]byte, 16)
	_, _ = rand.Read(salt2)
	s := &srpServer{srpID: 99}
	s.algo = tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{
		Salt1: []byte{1, 2, 3, 4, 5, 6, 7, 8}, Salt2: salt2, G: 3, P: p.Bytes(),
	}
	vBytes, err := auth.NewPasswordHash([]byte(password), &s.algo) // v = g^x mod p; extends Salt1
	if err != nil {
		t.Fatal(err)
	}
	s.v = new(big.Int).SetBytes(vBytes)
	bb := make([]byte, 256)
	_, _ = rand.Read(bb)
	s.b = new(big.Int).SetBytes(bb)
	g := big.NewInt(3)
	k := new(big.Int).SetBytes(hash(pad(p.Bytes()), pad(g.Bytes())))
	gbInt := new(big.Int).Exp(g, s.b, p)
	gbInt.Add(gbInt, new(big.Int).Mul(k, s.v)).Mod(gbInt, p) // B = k*v + g^b
	s.gb = pad(gbInt.Bytes())
	return s
}

func (s *srpServer) challenge() *tg.AccountPassword {
	pw := &tg.AccountPassword{
		HasPassword:   true,
		CurrentAlgo:   &s.algo,
		SRPB:          s.gb,
		SRPID:         s.srpID,
		NewAlgo:       &tg.PasswordKdfAlgoUnknown{},
		NewSecureAlgo: &tg.SecurePasswordKdfAlgoUnknown{},
		SecureRandom:  make([]byte, 32),
	}
	pw.SetFlags()
	return pw
}

// verify recomputes M1 from the client's A with the verifier v.
func (s *srpServer) verify(in *tg.InputCheckPasswordSRP) bool {
	if in.SRPID != s.srpID {
		return false
	}
	p := new(big.Int).SetBytes(s.algo.P)
	g := big.NewInt(3)
	a := new(big.Int).SetBytes(in.A)
	if a.Sign() <= 0 || a.Cmp(p) >= 0 {
		return false
	}
	ga := pad(in.A)
	u := new(big.Int).SetBytes(hash(ga, s.gb))
	// S = (A * v^u)^b mod p
	sv := new(big.Int).Exp(s.v, u, p)
	sv.Mul(sv, a).Mod(sv, p)
	sv.Exp(sv, s.b, p)
	ka := sha256.Sum256(pad(sv.Bytes()))
	hp := sha256.Sum256(pad(p.Bytes()))
	hg := sha256.Sum256(pad(g.Bytes()))
	var x [32]byte
	for i := range x {
		x[i] = hp[i] ^ hg[i]
	}
	m1 := hash(x[:], hash(s.algo.Salt1), hash(s.algo.Salt2), ga, s.gb, ka[:])
	return string(m1) == string(in.M1)
}

func hash(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func pad(b []byte) []byte {
	if len(b) >= 256 {
		return b
	}
	out := make([]byte, 256)
	copy(out[256-len(b):], b)
	return out
}

// proxy forwards loopback TCP connections to the test server and can cut
// them all, as a network failure would.
type proxy struct {
	t      testing.TB
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cuts   int
}

func newProxy(t testing.TB, target string) *proxy {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, l: l, target: target}
	t.Cleanup(func() {
		_ = l.Close()
		p.cut()
	})
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp4", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go pipe(c, s)
		go pipe(s, c)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut closes every open connection.
func (p *proxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.cuts++
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Cut drops every client connection, as a network failure would.
func (f *Server) Cut() { f.proxy.cut() }

// SetFloodWait answers the next n messages.getHistory calls with
// FLOOD_WAIT_<seconds>.
func (f *Server) SetFloodWait(n, seconds int) {
	f.mu.Lock()
	f.floodWaits, f.floodSeconds = n, seconds
	f.mu.Unlock()
}

// HistoryCalls is the number of messages.getHistory calls served.
func (f *Server) HistoryCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.historyCalls
}

// Message returns a copy of a stored message.
func (f *Server) Message(channelID int64, id int) tg.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.channels[channelID].msgs[id]
}

// RequireLogin makes every auth key sign in first with this phone, code
// and (when not empty) two-step password, checked with SRP.
func (f *Server) RequireLogin(t testing.TB, phone, code, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requireLogin, f.phone, f.code, f.codeHash = true, phone, code, "hash-"+code
	if password != "" {
		f.password = newSRPServer(t, password)
	}
}

// Self is the account the server signs in.
func (f *Server) Self() *tg.User { return f.self }
