// Package bolttest is a Bolt-protocol STUB for tests, not a graph database:
// an in-process TCP server that speaks the Bolt handshake (it agrees on
// Bolt 5.4), the chunked framing and enough PackStream for the official
// Go driver (github.com/neo4j/neo4j-go-driver/v5) to connect with bolt://,
// authenticate, run queries in explicit and auto-commit transactions, and
// close: HELLO, LOGON, LOGOFF, BEGIN, RUN, PULL, DISCARD, COMMIT, ROLLBACK,
// RESET, TELEMETRY, GOODBYE.
//
// It evaluates no Cypher. It records every query with its parameters and
// the transaction it ran in (and whether that transaction committed or
// rolled back), and answers each RUN with what the test's Responder says:
// columns and rows, or a Neo4j failure. Tests use it to check what a store
// sends — query text, parameters, transaction boundaries, retries — against
// the real driver and wire format.
package bolttest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
)

// Query is one RUN the stub received.
type Query struct {
	Text   string
	Params map[string]any
	// Tx is the transaction's sequence number (1, 2, ...), 0 for auto-commit.
	Tx int
}

// Tx is one explicit transaction (BEGIN ... COMMIT/ROLLBACK).
type Tx struct {
	ID         int
	Queries    []Query
	Committed  bool
	RolledBack bool
}

// Result is the stub's answer to a RUN.
type Result struct {
	Columns []string
	Rows    [][]any
	// FailCode, when set, answers with FAILURE {code, message} instead
	// (a Neo.TransientError.* code makes the driver retry).
	FailCode, FailMessage string
}

// Responder decides the answer to each query; nil answers no rows.
type Responder func(q Query) Result

// Server is the stub. Safe for concurrent use.
type Server struct {
	// Addr is host:port of the listener.
	Addr string
	// User and Password, when User is set, must match the LOGON (or
	// HELLO) credentials.
	User, Password string

	lis net.Listener

	mu        sync.Mutex
	respond   Responder
	queries   []Query
	txs       []*Tx
	nextTx    int
	conns     map[net.Conn]bool
	messages  map[string]int
	authFails int
	wg        sync.WaitGroup
}

// Start runs a stub on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Listen runs a stub on addr; Close stops it.
func Listen(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bolttest: listen: %w", err)
	}
	s := &Server{Addr: lis.Addr().String(), lis: lis, conns: map[net.Conn]bool{}, messages: map[string]int{}}
	s.wg.Add(1)
	go s.accept(lis)
	return s, nil
}

// URI is the stub's address as a NEO4J_URI (bolt://, no routing).
func (s *Server) URI() string { return "bolt://" + s.Addr }

// Close stops the listener and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	lis := s.lis
	s.mu.Unlock()
	_ = lis.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// SetResponder sets how queries are answered.
func (s *Server) SetResponder(r Responder) {
	s.mu.Lock()
	s.respond = r
	s.mu.Unlock()
}

// Queries returns every query received, in order.
func (s *Server) Queries() []Query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Query(nil), s.queries...)
}

// Transactions returns every explicit transaction, in order of BEGIN.
func (s *Server) Transactions() []Tx {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tx, len(s.txs))
	for i, t := range s.txs {
		out[i] = *t
		out[i].Queries = append([]Query(nil), t.Queries...)
	}
	return out
}

// Messages counts the requests received by name (HELLO, RUN, COMMIT, ...).
func (s *Server) Messages(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages[name]
}

// Reset forgets the recorded queries and transactions.
func (s *Server) Reset() {
	s.mu.Lock()
	s.queries, s.txs = nil, nil
	s.mu.Unlock()
}

// Down stops serving as a Neo4j that went down does: the listener closes
// (connections are refused) and open connections drop. Up serves again on
// the same address (the recorded queries are kept).
func (s *Server) Down() { s.Close() }

// Up serves again on the same address after Down.
func (s *Server) Up() error {
	lis, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("bolttest: listen again: %w", err)
	}
	s.mu.Lock()
	s.lis = lis
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(lis)
	return nil
}

func (s *Server) accept(lis net.Listener) {
	defer s.wg.Done()
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				_ = c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			_ = s.serve(c)
		}()
	}
}

// Message tags (Bolt 5).
const (
	msgHello     = 0x01
	msgGoodbye   = 0x02
	msgReset     = 0x0F
	msgRun       = 0x10
	msgBegin     = 0x11
	msgCommit    = 0x12
	msgRollback  = 0x13
	msgDiscard   = 0x2F
	msgPull      = 0x3F
	msgTelemetry = 0x54
	msgRoute     = 0x66
	msgLogon     = 0x6A
	msgLogoff    = 0x6B

	msgSuccess = 0x70
	msgRecord  = 0x71
	msgIgnored = 0x7E
	msgFailure = 0x7F
)

var msgNames = map[byte]string{
	msgHello: "HELLO", msgGoodbye: "GOODBYE", msgReset: "RESET", msgRun: "RUN", msgBegin: "BEGIN",
	msgCommit: "COMMIT", msgRollback: "ROLLBACK", msgDiscard: "DISCARD", msgPull: "PULL",
	msgTelemetry: "TELEMETRY", msgRoute: "ROUTE", msgLogon: "LOGON", msgLogoff: "LOGOFF",
}

// Struct is a PackStream structure (tag and fields).
type Struct struct {
	Tag    byte
	Fields []any
}

// conn is the state of one Bolt connection.
type conn struct {
	r       *bufio.Reader
	w       *bufio.Writer
	tx      *Tx
	failed  bool
	pending *Result // the result of the last RUN, until PULL/DISCARD
}

func (s *Server) serve(nc net.Conn) error {
	c := &conn{r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	var hs [20]byte
	if _, err := io.ReadFull(c.r, hs[:]); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(hs[:4]) != 0x6060B017 {
		return errors.New("bolttest: bad magic")
	}
	// Agree on 5.4 when the client offers it (the driver offers 5.8..5.0).
	if _, err := c.w.Write([]byte{0, 0, 4, 5}); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	for {
		msg, err := readMessage(c.r)
		if err != nil {
			return err
		}
		st, ok := msg.(Struct)
		if !ok {
			return fmt.Errorf("bolttest: message is %T, not a structure", msg)
		}
		s.mu.Lock()
		s.messages[msgNames[st.Tag]]++
		s.mu.Unlock()
		if st.Tag == msgGoodbye {
			return nil
		}
		if err := s.handle(c, st); err != nil {
			return err
		}
		if c.r.Buffered() == 0 { // answer pipelined requests in one write
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
	}
}

func (s *Server) handle(c *conn, st Struct) error {
	if c.failed && st.Tag != msgReset {
		return writeMessage(c.w, Struct{Tag: msgIgnored})
	}
	success := func(meta map[string]any) error {
		return writeMessage(c.w, Struct{Tag: msgSuccess, Fields: []any{meta}})
	}
	failure := func(code, msg string) error {
		c.failed = true
		return writeMessage(c.w, Struct{Tag: msgFailure, Fields: []any{map[string]any{"code": code, "message": msg}}})
	}
	switch st.Tag {
	case msgHello:
		extra, _ := field(st, 0).(map[string]any)
		if _, ok := extra["principal"]; ok && !s.auth(extra) { // Bolt 5.0: auth in HELLO
			return failure("Neo.ClientError.Security.Unauthorized", "The client is unauthorized due to authentication failure.")
		}
		return success(map[string]any{"server": "Neo4j/5.26.0", "connection_id": "bolt-stub", "hints": map[string]any{}})
	case msgLogon:
		auth, _ := field(st, 0).(map[string]any)
		if !s.auth(auth) {
			return failure("Neo.ClientError.Security.Unauthorized", "The client is unauthorized due to authentication failure.")
		}
		return success(map[string]any{})
	case msgLogoff, msgTelemetry:
		return success(map[string]any{})
	case msgReset:
		c.failed, c.tx, c.pending = false, nil, nil
		return success(map[string]any{})
	case msgBegin:
		s.mu.Lock()
		s.nextTx++
		c.tx = &Tx{ID: s.nextTx}
		s.txs = append(s.txs, c.tx)
		s.mu.Unlock()
		return success(map[string]any{})
	case msgRun:
		text, _ := field(st, 0).(string)
		params, _ := field(st, 1).(map[string]any)
		q := Query{Text: text, Params: params}
		s.mu.Lock()
		if c.tx != nil {
			q.Tx = c.tx.ID
			c.tx.Queries = append(c.tx.Queries, q)
		}
		s.queries = append(s.queries, q)
		respond := s.respond
		s.mu.Unlock()
		var res Result
		if respond != nil {
			res = respond(q)
		}
		if res.FailCode != "" {
			return failure(res.FailCode, res.FailMessage)
		}
		c.pending = &res
		cols := make([]any, len(res.Columns))
		for i, col := range res.Columns {
			cols[i] = col
		}
		return success(map[string]any{"fields": cols, "t_first": int64(0), "qid": int64(0)})
	case msgPull, msgDiscard:
		if c.pending != nil && st.Tag == msgPull {
			for _, row := range c.pending.Rows {
				if err := writeMessage(c.w, Struct{Tag: msgRecord, Fields: []any{row}}); err != nil {
					return err
				}
			}
		}
		c.pending = nil
		meta := map[string]any{"has_more": false, "t_last": int64(0), "type": "rw", "db": "neo4j"}
		if c.tx == nil {
			meta["bookmark"] = "stub:autocommit"
		}
		return success(meta)
	case msgCommit:
		s.mu.Lock()
		if c.tx != nil {
			c.tx.Committed = true
		}
		s.mu.Unlock()
		c.tx = nil
		return success(map[string]any{"bookmark": "stub:commit"})
	case msgRollback:
		s.mu.Lock()
		if c.tx != nil {
			c.tx.RolledBack = true
		}
		s.mu.Unlock()
		c.tx = nil
		return success(map[string]any{})
	case msgRoute:
		return failure("Neo.ClientError.Request.Invalid", "bolttest: routing is not implemented; use a bolt:// URI")
	}
	return failure("Neo.ClientError.Request.Invalid", fmt.Sprintf("bolttest: message 0x%02X is not implemented", st.Tag))
}

func (s *Server) auth(m map[string]any) bool {
	if s.User == "" {
		return true
	}
	ok := m["principal"] == s.User && m["credentials"] == s.Password
	if !ok {
		s.mu.Lock()
		s.authFails++
		s.mu.Unlock()
	}
	return ok
}

func field(st Struct, i int) any {
	if i < len(st.Fields) {
		return st.Fields[i]
	}
	return nil
}

// readMessage reads one chunked message (skipping NOOP chunks) and decodes it.
func readMessage(r *bufio.Reader) (any, error) {
	var buf []byte
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n == 0 {
			if len(buf) == 0 {
				continue // NOOP keep-alive
			}
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return nil, err
		}
		buf = append(buf, chunk...)
	}
	d := &decoder{b: buf}
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	return v, nil
}

// writeMessage encodes v and writes it as chunks ending with 00 00.
func writeMessage(w *bufio.Writer, v any) error {
	var e encoder
	if err := e.value(v); err != nil {
		return err
	}
	b := e.b
	for len(b) > 0 {
		n := min(len(b), math.MaxUint16)
		if err := binary.Write(w, binary.BigEndian, uint16(n)); err != nil {
			return err
		}
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	_, err := w.Write([]byte{0, 0})
	return err
}

type decoder struct {
	b []byte
	i int
}

var errShort = errors.New("bolttest: truncated PackStream value")

func (d *decoder) take(n int) ([]byte, error) {
	if d.i+n > len(d.b) {
		return nil, errShort
	}
	out := d.b[d.i : d.i+n]
	d.i += n
	return out, nil
}

func (d *decoder) uint(n int) (uint64, error) {
	b, err := d.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v, nil
}

func (d *decoder) value() (any, error) {
	mb, err := d.take(1)
	if err != nil {
		return nil, err
	}
	m := mb[0]
	switch {
	case m < 0x80: // tiny int 0..127
		return int64(m), nil
	case m >= 0xF0: // tiny int -16..-1
		return int64(int8(m)), nil
	case m>>4 == 0x8:
		return d.str(int(m & 0x0F))
	case m>>4 == 0x9:
		return d.list(int(m & 0x0F))
	case m>>4 == 0xA:
		return d.dict(int(m & 0x0F))
	case m>>4 == 0xB:
		tag, err := d.take(1)
		if err != nil {
			return nil, err
		}
		st := Struct{Tag: tag[0]}
		for range int(m & 0x0F) {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			st.Fields = append(st.Fields, v)
		}
		return st, nil
	}
	switch m {
	case 0xC0:
		return nil, nil
	case 0xC1:
		u, err := d.uint(8)
		return math.Float64frombits(u), err
	case 0xC2:
		return false, nil
	case 0xC3:
		return true, nil
	case 0xC8:
		u, err := d.uint(1)
		return int64(int8(u)), err
	case 0xC9:
		u, err := d.uint(2)
		return int64(int16(u)), err
	case 0xCA:
		u, err := d.uint(4)
		return int64(int32(u)), err
	case 0xCB:
		u, err := d.uint(8)
		return int64(u), err
	case 0xCC, 0xCD, 0xCE:
		n, err := d.uint(1 << (m - 0xCC))
		if err != nil {
			return nil, err
		}
		b, err := d.take(int(n))
		return append([]byte(nil), b...), err
	case 0xD0, 0xD1, 0xD2:
		n, err := d.uint(1 << (m - 0xD0))
		if err != nil {
			return nil, err
		}
		return d.str(int(n))
	case 0xD4, 0xD5, 0xD6:
		n, err := d.uint(1 << (m - 0xD4))
		if err != nil {
			return nil, err
		}
		return d.list(int(n))
	case 0xD8, 0xD9, 0xDA:
		n, err := d.uint(1 << (m - 0xD8))
		if err != nil {
			return nil, err
		}
		return d.dict(int(n))
	}
	return nil, fmt.Errorf("bolttest: unknown PackStream marker 0x%02X", m)
}

func (d *decoder) str(n int) (string, error) {
	b, err := d.take(n)
	return string(b), err
}

func (d *decoder) list(n int) ([]any, error) {
	out := make([]any, 0, n)
	for range n {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (d *decoder) dict(n int) (map[string]any, error) {
	out := make(map[string]any, n)
	for range n {
		k, err := d.value()
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("bolttest: map key is %T", k)
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		out[ks] = v
	}
	return out, nil
}

type encoder struct{ b []byte }

func (e *encoder) size(n int, tiny byte, m8, m16, m32 byte) {
	switch {
	case n < 16 && tiny != 0:
		e.b = append(e.b, tiny|byte(n))
	case n <= math.MaxUint8:
		e.b = append(e.b, m8, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, m16)
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(n))
	default:
		e.b = append(e.b, m32)
		e.b = binary.BigEndian.AppendUint32(e.b, uint32(n))
	}
}

func (e *encoder) value(v any) error {
	switch x := v.(type) {
	case nil:
		e.b = append(e.b, 0xC0)
	case bool:
		if x {
			e.b = append(e.b, 0xC3)
		} else {
			e.b = append(e.b, 0xC2)
		}
	case int:
		return e.value(int64(x))
	case int64:
		switch {
		case x >= -16 && x <= 127:
			e.b = append(e.b, byte(int8(x)))
		case x >= math.MinInt8 && x <= math.MaxInt8:
			e.b = append(e.b, 0xC8, byte(int8(x)))
		case x >= math.MinInt16 && x <= math.MaxInt16:
			e.b = append(e.b, 0xC9)
			e.b = binary.BigEndian.AppendUint16(e.b, uint16(int16(x)))
		case x >= math.MinInt32 && x <= math.MaxInt32:
			e.b = append(e.b, 0xCA)
			e.b = binary.BigEndian.AppendUint32(e.b, uint32(int32(x)))
		default:
			e.b = append(e.b, 0xCB)
			e.b = binary.BigEndian.AppendUint64(e.b, uint64(x))
		}
	case float64:
		e.b = append(e.b, 0xC1)
		e.b = binary.BigEndian.AppendUint64(e.b, math.Float64bits(x))
	case string:
		e.size(len(x), 0x80, 0xD0, 0xD1, 0xD2)
		e.b = append(e.b, x...)
	case []string:
		e.size(len(x), 0x90, 0xD4, 0xD5, 0xD6)
		for _, s := range x {
			_ = e.value(s)
		}
	case []any:
		e.size(len(x), 0x90, 0xD4, 0xD5, 0xD6)
		for _, el := range x {
			if err := e.value(el); err != nil {
				return err
			}
		}
	case map[string]any:
		e.size(len(x), 0xA0, 0xD8, 0xD9, 0xDA)
		for k, el := range x {
			_ = e.value(k)
			if err := e.value(el); err != nil {
				return err
			}
		}
	case Struct:
		if len(x.Fields) > 15 {
			return errors.New("bolttest: structure with more than 15 fields")
		}
		e.b = append(e.b, 0xB0|byte(len(x.Fields)), x.Tag)
		for _, f := range x.Fields {
			if err := e.value(f); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("bolttest: cannot encode %T", v)
	}
	return nil
}
