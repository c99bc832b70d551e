// Package qdranttest is a FAKE Qdrant for tests: an in-process gRPC server
// on a loopback port that implements the go-client's generated service
// interfaces (Qdrant health check, Collections, Points) over an in-memory
// map. It is not Qdrant. It keeps collections (size, distance, metadata,
// payload indexes) and points (id, dense vector, payload), evaluates the
// filters the daemon uses (must/should/must_not of match keyword(s),
// integer match, range, has_id, nested filters; a list payload matches when
// any element does, as in Qdrant), scores Query by cosine similarity, and
// scrolls in id order. Every other RPC answers Unimplemented.
//
// Tests can inject failures per RPC (FailNext) and inspect what arrived
// (Requests, Points, Collection), so the stores' retry and payload
// contracts are checked against the real client and wire format.
package qdranttest

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Point is a stored point.
type Point struct {
	ID      string
	Vector  []float32
	Payload map[string]*qc.Value
}

// Collection is a stored collection.
type Collection struct {
	Size     uint64
	Distance qc.Distance
	Metadata map[string]*qc.Value
	// Indexes maps payload field → index type.
	Indexes map[string]qc.FieldType
	points  map[string]*Point
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	// Addr is host:port of the listener.
	Addr string
	// APIKey, when set, is required in the api-key metadata of every call.
	APIKey string

	mu          sync.Mutex
	grpc        *grpc.Server
	collections map[string]*Collection
	requests    map[string]int
	failures    map[string][]error
	failAll     error         // every call's answer while set (FailAll)
	delay       time.Duration // added to every call (SetDelay)
}

// Start runs a fake on 127.0.0.1 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Listen runs a fake on addr (for benchmarks outside tests); Stop ends it.
func Listen(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("qdranttest: listen: %w", err)
	}
	s := &Server{
		Addr:        lis.Addr().String(),
		collections: map[string]*Collection{},
		requests:    map[string]int{},
		failures:    map[string][]error{},
	}
	s.serve(lis)
	return s, nil
}

func (s *Server) serve(lis net.Listener) {
	g := grpc.NewServer(grpc.UnaryInterceptor(s.intercept))
	qc.RegisterQdrantServer(g, healthSrv{})
	qc.RegisterCollectionsServer(g, collectionsSrv{Server: s})
	qc.RegisterPointsServer(g, pointsSrv{Server: s})
	s.mu.Lock()
	s.grpc = g
	s.mu.Unlock()
	go func() { _ = g.Serve(lis) }()
}

// URL is the fake's address as a QDRANT_URL.
func (s *Server) URL() string { return "http://" + s.Addr }

// Stop stops the server.
func (s *Server) Stop() {
	s.mu.Lock()
	g := s.grpc
	s.mu.Unlock()
	g.Stop()
}

// Down stops serving as a Qdrant that went down does: the listener closes
// (connections are refused) and open connections drop. The data stays (a
// real Qdrant keeps it on disk); Up serves it again on the same address.
func (s *Server) Down() { s.Stop() }

// Up serves again on the same address after Down.
func (s *Server) Up() error {
	lis, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("qdranttest: listen again: %w", err)
	}
	s.serve(lis)
	return nil
}

// FailAll makes every call answer err until FailAll(nil).
func (s *Server) FailAll(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = err
}

// SetDelay makes every call take d longer (0: no delay), as an overloaded
// Qdrant does.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailNext makes the next calls of method (the RPC's full name, e.g.
// "/qdrant.Points/Upsert") fail with errs, one per call.
func (s *Server) FailNext(method string, errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], errs...)
}

// Requests counts the calls of method received (failed ones included).
func (s *Server) Requests(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[method]
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	s.mu.Lock()
	s.requests[info.FullMethod]++
	var fail error
	if q := s.failures[info.FullMethod]; len(q) > 0 {
		fail, s.failures[info.FullMethod] = q[0], q[1:]
	}
	if fail == nil {
		fail = s.failAll
	}
	key, delay := s.APIKey, s.delay
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	if key != "" {
		md, _ := metadata.FromIncomingContext(ctx)
		if got := md.Get("api-key"); len(got) != 1 || got[0] != key {
			return nil, status.Error(codes.Unauthenticated, "invalid api key")
		}
	}
	if fail != nil {
		return nil, fail
	}
	return handler(ctx, req)
}

// Collection returns a copy of a collection's settings and its point count.
func (s *Server) Collection(name string) (Collection, int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.collections[name]
	if !ok {
		return Collection{}, 0, false
	}
	cp := *c
	cp.points = nil
	cp.Indexes = maps(c.Indexes)
	return cp, len(c.points), true
}

func maps[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Points returns copies of every point of a collection, by id.
func (s *Server) Points(collection string) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.collections[collection]
	if !ok {
		return nil
	}
	out := make([]Point, 0, len(c.points))
	for _, p := range c.points {
		out = append(out, Point{ID: p.ID, Vector: slices.Clone(p.Vector), Payload: clonePayload(p.Payload)})
	}
	slices.SortFunc(out, func(a, b Point) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func clonePayload(m map[string]*qc.Value) map[string]*qc.Value {
	out := make(map[string]*qc.Value, len(m))
	for k, v := range m {
		out[k] = proto.Clone(v).(*qc.Value)
	}
	return out
}

// The three services are separate types: Collections and Points both have
// Get and Delete methods.
type (
	healthSrv      struct{ qc.UnimplementedQdrantServer }
	collectionsSrv struct {
		qc.UnimplementedCollectionsServer
		*Server
	}
	pointsSrv struct {
		qc.UnimplementedPointsServer
		*Server
	}
)

// HealthCheck implements qc.QdrantServer.
func (healthSrv) HealthCheck(context.Context, *qc.HealthCheckRequest) (*qc.HealthCheckReply, error) {
	return &qc.HealthCheckReply{Title: "qdranttest fake", Version: "1.17.0"}, nil
}

// CollectionExists implements qc.CollectionsServer.
func (s collectionsSrv) CollectionExists(_ context.Context, r *qc.CollectionExistsRequest) (*qc.CollectionExistsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.collections[r.GetCollectionName()]
	return &qc.CollectionExistsResponse{Result: &qc.CollectionExists{Exists: ok}}, nil
}

// Create implements qc.CollectionsServer.
func (s collectionsSrv) Create(_ context.Context, r *qc.CreateCollection) (*qc.CollectionOperationResponse, error) {
	p := r.GetVectorsConfig().GetParams()
	if p == nil || p.GetSize() == 0 {
		return nil, status.Error(codes.InvalidArgument, "vectors config with a size is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.collections[r.GetCollectionName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "Collection `%s` already exists!", r.GetCollectionName())
	}
	s.collections[r.GetCollectionName()] = &Collection{
		Size: p.GetSize(), Distance: p.GetDistance(), Metadata: clonePayload(r.GetMetadata()),
		Indexes: map[string]qc.FieldType{}, points: map[string]*Point{},
	}
	return &qc.CollectionOperationResponse{Result: true}, nil
}

// Get implements qc.CollectionsServer (collection info).
func (s collectionsSrv) Get(_ context.Context, r *qc.GetCollectionInfoRequest) (*qc.GetCollectionInfoResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.collections[r.GetCollectionName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Collection `%s` doesn't exist!", r.GetCollectionName())
	}
	schema := map[string]*qc.PayloadSchemaInfo{}
	for f, typ := range c.Indexes {
		schema[f] = &qc.PayloadSchemaInfo{DataType: qc.PayloadSchemaType(typ + 1)}
	}
	return &qc.GetCollectionInfoResponse{Result: &qc.CollectionInfo{
		Status: qc.CollectionStatus_Green,
		Config: &qc.CollectionConfig{
			Params:   &qc.CollectionParams{VectorsConfig: qc.NewVectorsConfig(&qc.VectorParams{Size: c.Size, Distance: c.Distance})},
			Metadata: clonePayload(c.Metadata),
		},
		PayloadSchema: schema,
		PointsCount:   qc.PtrOf(uint64(len(c.points))),
	}}, nil
}

// Delete implements qc.CollectionsServer (drop a collection).
func (s collectionsSrv) Delete(_ context.Context, r *qc.DeleteCollection) (*qc.CollectionOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.collections[r.GetCollectionName()]
	delete(s.collections, r.GetCollectionName())
	return &qc.CollectionOperationResponse{Result: ok}, nil
}

func (s *Server) collection(name string) (*Collection, error) {
	c, ok := s.collections[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

func completed() *qc.PointsOperationResponse {
	return &qc.PointsOperationResponse{Result: &qc.UpdateResult{Status: qc.UpdateStatus_Completed}}
}

func pointID(id *qc.PointId) (string, error) {
	if u := id.GetUuid(); u != "" {
		return u, nil
	}
	if _, ok := id.GetPointIdOptions().(*qc.PointId_Num); ok {
		return fmt.Sprint(id.GetNum()), nil
	}
	return "", status.Error(codes.InvalidArgument, "point id must be a UUID or an integer")
}

// CreateFieldIndex implements qc.PointsServer.
func (s pointsSrv) CreateFieldIndex(_ context.Context, r *qc.CreateFieldIndexCollection) (*qc.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	c.Indexes[r.GetFieldName()] = r.GetFieldType()
	return completed(), nil
}

// Upsert implements qc.PointsServer.
func (s pointsSrv) Upsert(_ context.Context, r *qc.UpsertPoints) (*qc.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	staged := make([]*Point, 0, len(r.GetPoints()))
	for _, p := range r.GetPoints() {
		id, err := pointID(p.GetId())
		if err != nil {
			return nil, err
		}
		v := p.GetVectors().GetVector()
		data := v.GetDense().GetData()
		if data == nil {
			data = v.GetData() //nolint:staticcheck // older clients fill the deprecated field
		}
		if uint64(len(data)) != c.Size {
			return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.Size, len(data))
		}
		staged = append(staged, &Point{ID: id, Vector: slices.Clone(data), Payload: clonePayload(p.GetPayload())})
	}
	for _, p := range staged {
		c.points[p.ID] = p
	}
	return completed(), nil
}

// Delete implements qc.PointsServer, by ids or by filter.
func (s pointsSrv) Delete(_ context.Context, r *qc.DeletePoints) (*qc.PointsOperationResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	sel := r.GetPoints()
	if f := sel.GetFilter(); f != nil {
		for id, p := range c.points {
			if match(f, p) {
				delete(c.points, id)
			}
		}
		return completed(), nil
	}
	for _, pid := range sel.GetPoints().GetIds() {
		id, err := pointID(pid)
		if err != nil {
			return nil, err
		}
		delete(c.points, id)
	}
	return completed(), nil
}

// Get implements qc.PointsServer (points by id).
func (s pointsSrv) Get(_ context.Context, r *qc.GetPoints) (*qc.GetResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	var out []*qc.RetrievedPoint
	for _, pid := range r.GetIds() {
		id, err := pointID(pid)
		if err != nil {
			return nil, err
		}
		if p, ok := c.points[id]; ok {
			out = append(out, retrieved(p, r.GetWithPayload(), r.GetWithVectors()))
		}
	}
	return &qc.GetResponse{Result: out}, nil
}

func retrieved(p *Point, wp *qc.WithPayloadSelector, wv *qc.WithVectorsSelector) *qc.RetrievedPoint {
	rp := &qc.RetrievedPoint{Id: qc.NewID(p.ID)}
	if wp.GetEnable() {
		rp.Payload = clonePayload(p.Payload)
	}
	if wv.GetEnable() {
		rp.Vectors = &qc.VectorsOutput{VectorsOptions: &qc.VectorsOutput_Vector{Vector: &qc.VectorOutput{
			Vector: &qc.VectorOutput_Dense{Dense: &qc.DenseVector{Data: slices.Clone(p.Vector)}}}}}
	}
	return rp
}

// Scroll implements qc.PointsServer: points matching the filter in id
// order, from the offset, at most limit (default 10), with the next offset.
func (s pointsSrv) Scroll(_ context.Context, r *qc.ScrollPoints) (*qc.ScrollResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	limit := int(r.GetLimit())
	if limit == 0 {
		limit = 10
	}
	from := ""
	if r.Offset != nil {
		if from, err = pointID(r.GetOffset()); err != nil {
			return nil, err
		}
	}
	var ids []string
	for id, p := range c.points {
		if id >= from && match(r.GetFilter(), p) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	resp := &qc.ScrollResponse{}
	for i, id := range ids {
		if i == limit {
			resp.NextPageOffset = qc.NewID(id)
			break
		}
		resp.Result = append(resp.Result, retrieved(c.points[id], r.GetWithPayload(), r.GetWithVectors()))
	}
	return resp, nil
}

// Count implements qc.PointsServer.
func (s pointsSrv) Count(_ context.Context, r *qc.CountPoints) (*qc.CountResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	n := 0
	for _, p := range c.points {
		if match(r.GetFilter(), p) {
			n++
		}
	}
	return &qc.CountResponse{Result: &qc.CountResult{Count: uint64(n)}}, nil
}

// Query implements qc.PointsServer for nearest-vector queries: cosine
// similarity over the points matching the filter, best first.
func (s pointsSrv) Query(_ context.Context, r *qc.QueryPoints) (*qc.QueryResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.collection(r.GetCollectionName())
	if err != nil {
		return nil, err
	}
	near := r.GetQuery().GetNearest()
	q := near.GetDense().GetData()
	if q == nil {
		return nil, status.Error(codes.Unimplemented, "qdranttest: only nearest queries with a dense vector are implemented")
	}
	if uint64(len(q)) != c.Size {
		return nil, status.Errorf(codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: %d, got %d", c.Size, len(q))
	}
	var res []*qc.ScoredPoint
	for _, p := range c.points {
		if !match(r.GetFilter(), p) {
			continue
		}
		sp := &qc.ScoredPoint{Id: qc.NewID(p.ID), Score: cosine(q, p.Vector)}
		if r.GetWithPayload().GetEnable() {
			sp.Payload = clonePayload(p.Payload)
		}
		res = append(res, sp)
	}
	slices.SortFunc(res, func(a, b *qc.ScoredPoint) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.GetId().GetUuid(), b.GetId().GetUuid())
	})
	limit := int(r.GetLimit())
	if limit == 0 {
		limit = 10
	}
	if len(res) > limit {
		res = res[:limit]
	}
	return &qc.QueryResponse{Result: res}, nil
}

func cosine(a, b []float32) float32 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(dot / math.Sqrt(na*nb))
}

// match evaluates a filter the way Qdrant does for the conditions the
// daemon uses; a nil filter matches everything.
func match(f *qc.Filter, p *Point) bool {
	if f == nil {
		return true
	}
	for _, c := range f.GetMust() {
		if !cond(c, p) {
			return false
		}
	}
	for _, c := range f.GetMustNot() {
		if cond(c, p) {
			return false
		}
	}
	if len(f.GetShould()) > 0 {
		for _, c := range f.GetShould() {
			if cond(c, p) {
				return true
			}
		}
		return false
	}
	return true
}

func cond(c *qc.Condition, p *Point) bool {
	switch {
	case c.GetFilter() != nil:
		return match(c.GetFilter(), p)
	case c.GetHasId() != nil:
		for _, pid := range c.GetHasId().GetHasId() {
			if id, _ := pointID(pid); id == p.ID {
				return true
			}
		}
		return false
	case c.GetField() != nil:
		return fieldCond(c.GetField(), p.Payload[c.GetField().GetKey()])
	}
	// An unknown condition must not silently match: tests would pass for
	// the wrong reason.
	panic(fmt.Sprintf("qdranttest: condition %v is not implemented by the fake", c))
}

// values flattens a payload value: a list contributes its elements.
func values(v *qc.Value) []*qc.Value {
	if v == nil {
		return nil
	}
	if l := v.GetListValue(); l != nil {
		return l.GetValues()
	}
	return []*qc.Value{v}
}

func fieldCond(fc *qc.FieldCondition, v *qc.Value) bool {
	vals := values(v)
	if m := fc.GetMatch(); m != nil {
		for _, x := range vals {
			if matchValue(m, x) {
				return true
			}
		}
		return false
	}
	if r := fc.GetRange(); r != nil {
		for _, x := range vals {
			var n float64
			switch k := x.GetKind().(type) {
			case *qc.Value_IntegerValue:
				n = float64(k.IntegerValue)
			case *qc.Value_DoubleValue:
				n = k.DoubleValue
			default:
				continue // Qdrant ignores non-numeric values in a range
			}
			if (r.Lt == nil || n < r.GetLt()) && (r.Lte == nil || n <= r.GetLte()) &&
				(r.Gt == nil || n > r.GetGt()) && (r.Gte == nil || n >= r.GetGte()) {
				return true
			}
		}
		return false
	}
	panic(fmt.Sprintf("qdranttest: field condition %v is not implemented by the fake", fc))
}

func matchValue(m *qc.Match, x *qc.Value) bool {
	switch mv := m.GetMatchValue().(type) {
	case *qc.Match_Keyword:
		return x.GetStringValue() == mv.Keyword && isString(x)
	case *qc.Match_Keywords:
		return isString(x) && slices.Contains(mv.Keywords.GetStrings(), x.GetStringValue())
	case *qc.Match_Integer:
		_, ok := x.GetKind().(*qc.Value_IntegerValue)
		return ok && x.GetIntegerValue() == mv.Integer
	case *qc.Match_Integers:
		_, ok := x.GetKind().(*qc.Value_IntegerValue)
		return ok && slices.Contains(mv.Integers.GetIntegers(), x.GetIntegerValue())
	case *qc.Match_Boolean:
		_, ok := x.GetKind().(*qc.Value_BoolValue)
		return ok && x.GetBoolValue() == mv.Boolean
	}
	panic(fmt.Sprintf("qdranttest: match %v is not implemented by the fake", m))
}

func isString(x *qc.Value) bool {
	_, ok := x.GetKind().(*qc.Value_StringValue)
	return ok
}
