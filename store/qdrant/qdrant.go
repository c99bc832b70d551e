// Package qdrant is the Qdrant backend of store.VectorStore, over gRPC with
// the official client (github.com/qdrant/go-client). A collection is created
// on first use with the embedder's vector size and cosine distance, the
// embedding model recorded in its metadata, and payload indexes on
// expires_at (integer: TTL is a delete by range on it), posted_at, channel_id,
// tenant_id and tags. Every write waits for the points to be applied.
package qdrant

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	qc "github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/assistant-dev/assistant/store"
)

// DefaultPort is Qdrant's gRPC port.
const DefaultPort = 6334

// modelKey is the collection-metadata key holding the embedding model.
const modelKey = "embedding_model"

// Config locates a Qdrant server.
type Config struct {
	// URL is http://host:port or https://host:port (TLS); the port defaults
	// to 6334 (gRPC). QDRANT_URL in the environment.
	URL string
	// APIKey is sent as the api-key header when set.
	APIKey string
	// TLSConfig overrides the TLS settings of an https URL (tests).
	TLSConfig *tls.Config
	// GRPCOptions are appended to the client's dial options (tests).
	GRPCOptions []grpc.DialOption
}

// Store is a store.VectorStore on a Qdrant server. Safe for concurrent use.
type Store struct {
	client *qc.Client

	mu      sync.Mutex
	ensured map[string]int // collection → dimension
}

var _ store.VectorStore = (*Store)(nil)

// Open builds the client. gRPC connects lazily: an unreachable server shows
// on the first call (and in Check), not here.
func Open(cfg Config) (*Store, error) {
	host, port, useTLS, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	client, err := qc.NewClient(&qc.Config{
		Host:                   host,
		Port:                   port,
		APIKey:                 cfg.APIKey,
		UseTLS:                 useTLS,
		TLSConfig:              cfg.TLSConfig,
		GrpcOptions:            cfg.GRPCOptions,
		SkipCompatibilityCheck: true, // checked by Check, not by a warning at start
		PoolSize:               1,
	})
	if err != nil {
		return nil, fmt.Errorf("qdrant: create client for %s:%d: %w", host, port, err)
	}
	return &Store{client: client, ensured: map[string]int{}}, nil
}

func parseURL(raw string) (host string, port int, useTLS bool, err error) {
	if raw == "" {
		return "", 0, false, errors.New("qdrant: url (QDRANT_URL) is not set")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", 0, false, fmt.Errorf("qdrant: url %q is not of the form http(s)://host:port", raw)
	}
	switch u.Scheme {
	case "http", "grpc":
	case "https", "grpcs":
		useTLS = true
	default:
		return "", 0, false, fmt.Errorf("qdrant: url scheme %q: want http or https", u.Scheme)
	}
	host, portStr, splitErr := net.SplitHostPort(u.Host)
	if splitErr != nil {
		return u.Host, DefaultPort, useTLS, nil
	}
	port, err = strconv.Atoi(portStr)
	if err != nil {
		return "", 0, false, fmt.Errorf("qdrant: url %q has a bad port", raw)
	}
	return host, port, useTLS, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// EnsureCollection implements store.VectorStore.
func (s *Store) EnsureCollection(ctx context.Context, c store.Collection) error {
	if c.Name == "" || c.Dim <= 0 || c.Model == "" {
		return fmt.Errorf("qdrant: collection needs a name, a dimension and a model (got %+v)", c)
	}
	exists, err := s.client.CollectionExists(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("qdrant: collection %s exists: %w", c.Name, err)
	}
	if !exists {
		err := s.client.CreateCollection(ctx, &qc.CreateCollection{
			CollectionName: c.Name,
			VectorsConfig:  qc.NewVectorsConfig(&qc.VectorParams{Size: uint64(c.Dim), Distance: qc.Distance_Cosine}),
			Metadata:       map[string]*qc.Value{modelKey: qc.NewValueString(c.Model)},
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("qdrant: create collection %s: %w", c.Name, err)
		}
		if err == nil {
			if err := s.createIndexes(ctx, c.Name); err != nil {
				return err
			}
		}
	}
	info, err := s.client.GetCollectionInfo(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("qdrant: read collection %s: %w", c.Name, err)
	}
	dim := int(info.GetConfig().GetParams().GetVectorsConfig().GetParams().GetSize())
	model := info.GetConfig().GetMetadata()[modelKey].GetStringValue()
	if dim != c.Dim || model != c.Model {
		return &store.MismatchError{Collection: c.Name, HaveDim: dim, WantDim: c.Dim, HaveModel: model, WantModel: c.Model}
	}
	s.mu.Lock()
	s.ensured[c.Name] = dim
	s.mu.Unlock()
	return nil
}

// createIndexes adds the payload indexes the filters and the TTL sweep use.
func (s *Store) createIndexes(ctx context.Context, collection string) error {
	fields := []struct {
		name string
		typ  qc.FieldType
	}{
		{"expires_at", qc.FieldType_FieldTypeInteger},
		{"posted_at", qc.FieldType_FieldTypeInteger},
		{"channel_id", qc.FieldType_FieldTypeKeyword},
		{"tenant_id", qc.FieldType_FieldTypeKeyword},
		{"tags", qc.FieldType_FieldTypeKeyword},
	}
	for _, f := range fields {
		_, err := s.client.CreateFieldIndex(ctx, &qc.CreateFieldIndexCollection{
			CollectionName: collection,
			Wait:           qc.PtrOf(true),
			FieldName:      f.name,
			FieldType:      qc.PtrOf(f.typ),
		})
		if err != nil {
			return fmt.Errorf("qdrant: create payload index %s.%s: %w", collection, f.name, err)
		}
	}
	return nil
}

// Payload renders p as Qdrant payload values; times are integers.
func Payload(p store.Payload) map[string]*qc.Value {
	strs := func(list []string) *qc.Value {
		vals := make([]*qc.Value, len(list))
		for i, v := range list {
			vals[i] = qc.NewValueString(v)
		}
		return qc.NewValueFromList(vals...)
	}
	return map[string]*qc.Value{
		"post_id":      qc.NewValueString(p.PostID),
		"channel_id":   qc.NewValueString(p.ChannelID),
		"tenant_id":    qc.NewValueString(p.TenantID),
		"tags":         strs(p.Tags),
		"posted_at":    qc.NewValueInt(p.PostedAt),
		"expires_at":   qc.NewValueInt(p.ExpiresAt),
		"text_short":   qc.NewValueString(p.TextShort),
		"urls":         strs(p.URLs),
		"content_hash": qc.NewValueString(p.ContentHash),
	}
}

// PayloadFrom reads a payload written by Payload.
func PayloadFrom(m map[string]*qc.Value) store.Payload {
	strs := func(v *qc.Value) []string {
		var out []string
		for _, x := range v.GetListValue().GetValues() {
			out = append(out, x.GetStringValue())
		}
		return out
	}
	return store.Payload{
		PostID:      m["post_id"].GetStringValue(),
		ChannelID:   m["channel_id"].GetStringValue(),
		TenantID:    m["tenant_id"].GetStringValue(),
		Tags:        strs(m["tags"]),
		PostedAt:    m["posted_at"].GetIntegerValue(),
		ExpiresAt:   m["expires_at"].GetIntegerValue(),
		TextShort:   m["text_short"].GetStringValue(),
		URLs:        strs(m["urls"]),
		ContentHash: m["content_hash"].GetStringValue(),
	}
}

// Upsert implements store.VectorStore with one request that waits.
func (s *Store) Upsert(ctx context.Context, collection string, points []store.Point) error {
	if len(points) == 0 {
		return nil
	}
	s.mu.Lock()
	dim, ok := s.ensured[collection]
	s.mu.Unlock()
	pts := make([]*qc.PointStruct, len(points))
	for i, p := range points {
		if ok && len(p.Vector) != dim {
			return fmt.Errorf("qdrant: point %s of post %s has %d dimensions, collection %s has %d: %w",
				p.ID, p.Payload.PostID, len(p.Vector), collection, dim, store.ErrCollectionMismatch)
		}
		pts[i] = &qc.PointStruct{Id: qc.NewID(p.ID), Vectors: qc.NewVectorsDense(p.Vector), Payload: Payload(p.Payload)}
	}
	_, err := s.client.Upsert(ctx, &qc.UpsertPoints{CollectionName: collection, Wait: qc.PtrOf(true), Points: pts})
	if err != nil {
		return fmt.Errorf("qdrant: upsert %d points into %s: %w", len(points), collection, err)
	}
	return nil
}

// Filter renders f as a Qdrant filter; it always excludes expired points
// (expires_at > now).
func Filter(f store.Filter) *qc.Filter {
	must := []*qc.Condition{qc.NewRange("expires_at", &qc.Range{Gt: qc.PtrOf(float64(f.NowUnix()))})}
	if len(f.ChannelIDs) > 0 {
		must = append(must, qc.NewMatchKeywords("channel_id", f.ChannelIDs...))
	}
	if f.TenantID != "" {
		must = append(must, qc.NewMatchKeyword("tenant_id", f.TenantID))
	}
	if len(f.Tags) > 0 {
		must = append(must, qc.NewMatchKeywords("tags", f.Tags...))
	}
	if !f.PostedFrom.IsZero() || !f.PostedTo.IsZero() {
		r := &qc.Range{}
		if !f.PostedFrom.IsZero() {
			r.Gte = qc.PtrOf(float64(f.PostedFrom.Unix()))
		}
		if !f.PostedTo.IsZero() {
			r.Lte = qc.PtrOf(float64(f.PostedTo.Unix()))
		}
		must = append(must, qc.NewRange("posted_at", r))
	}
	return &qc.Filter{Must: must}
}

// Search implements store.VectorStore (the Query API, nearest).
func (s *Store) Search(ctx context.Context, collection string, vector []float32, f store.Filter, limit int) ([]store.Hit, error) {
	if limit <= 0 {
		return nil, nil
	}
	res, err := s.client.Query(ctx, &qc.QueryPoints{
		CollectionName: collection,
		Query:          qc.NewQueryDense(vector),
		Filter:         Filter(f),
		Limit:          qc.PtrOf(uint64(limit)),
		WithPayload:    qc.NewWithPayload(true),
	})
	if err != nil {
		return nil, fmt.Errorf("qdrant: search %s: %w", collection, err)
	}
	hits := make([]store.Hit, len(res))
	for i, p := range res {
		hits[i] = store.Hit{ID: p.GetId().GetUuid(), Score: p.GetScore(), Payload: PayloadFrom(p.GetPayload())}
	}
	return hits, nil
}

// Vector implements store.VectorStore.
func (s *Store) Vector(ctx context.Context, collection, id string) ([]float32, bool, error) {
	res, err := s.client.Get(ctx, &qc.GetPoints{
		CollectionName: collection,
		Ids:            []*qc.PointId{qc.NewID(id)},
		WithVectors:    qc.NewWithVectors(true),
	})
	if err != nil {
		return nil, false, fmt.Errorf("qdrant: get point %s: %w", id, err)
	}
	if len(res) == 0 {
		return nil, false, nil
	}
	v := res[0].GetVectors().GetVector()
	if d := v.GetDense(); d != nil {
		return d.GetData(), true, nil
	}
	return v.GetData(), true, nil //nolint:staticcheck // older servers fill the deprecated field
}

// Delete implements store.VectorStore.
func (s *Store) Delete(ctx context.Context, collection string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	pids := make([]*qc.PointId, len(ids))
	for i, id := range ids {
		pids[i] = qc.NewID(id)
	}
	_, err := s.client.Delete(ctx, &qc.DeletePoints{CollectionName: collection, Wait: qc.PtrOf(true), Points: qc.NewPointsSelectorIDs(pids)})
	if err != nil {
		return fmt.Errorf("qdrant: delete %d points from %s: %w", len(ids), collection, err)
	}
	return nil
}

// DeleteExpired implements store.VectorStore: a page of at most limit
// expired ids (scroll with a range filter on expires_at), then a delete of
// those ids, so that one call is bounded.
func (s *Store) DeleteExpired(ctx context.Context, collection string, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	res, err := s.client.Scroll(ctx, &qc.ScrollPoints{
		CollectionName: collection,
		Filter:         &qc.Filter{Must: []*qc.Condition{qc.NewRange("expires_at", &qc.Range{Lt: qc.PtrOf(float64(before.Unix()))})}},
		Limit:          qc.PtrOf(uint32(limit)),
		WithPayload:    qc.NewWithPayload(false),
	})
	if err != nil {
		return 0, fmt.Errorf("qdrant: find expired points of %s: %w", collection, err)
	}
	if len(res) == 0 {
		return 0, nil
	}
	ids := make([]*qc.PointId, len(res))
	for i, p := range res {
		ids[i] = p.GetId()
	}
	_, err = s.client.Delete(ctx, &qc.DeletePoints{CollectionName: collection, Wait: qc.PtrOf(true), Points: qc.NewPointsSelectorIDs(ids)})
	if err != nil {
		return 0, fmt.Errorf("qdrant: delete %d expired points of %s: %w", len(ids), collection, err)
	}
	return len(ids), nil
}

// Check implements store.VectorStore with the HealthCheck RPC.
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.client.HealthCheck(ctx); err != nil {
		return fmt.Errorf("qdrant: health check: %w", err)
	}
	return nil
}
