package vecindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"unsafe"
)

// A snapshot file holds an index's codes, scales and metadata as they lie
// in memory, so that a one-shot process (`assistant search` with no daemon
// to ask) maps it and scans it at once instead of reading every vector from
// the store first. Sections are 64-byte aligned and in the host's byte
// order (a check word in the header refuses a file of the other order):
//
//	header   magic, check word, dim, stride, points, cursor, dictionary
//	         size, and the offset of every section
//	codes    points × stride int8
//	scales   points × float32
//	metas    points × {channel, tenant int32; posted, expires int64}
//	ids      points + 1 uint32 offsets, then the bytes (sorted by id)
//	labels   the same for each point's label (the post id)
//	dict     the channel and tenant strings metas refer to
//	ident    what the file was built from (the caller's identity string)
//
// Points are sorted by id, so Find is a binary search and nothing is
// parsed per point at open. A file is written to a temporary name and
// renamed, so a reader never sees half of one.
const (
	fileMagic   = "ASVIDX01"
	fileCheck   = 0x01020304
	headerSize  = 128
	sectionAlig = 64
)

type fileHeader struct {
	Magic      [8]byte
	Check      uint32
	Dim        uint32
	Stride     uint32
	_          uint32
	Points     uint64
	Cursor     uint64
	DictCount  uint64
	Codes      uint64
	Scales     uint64
	Metas      uint64
	IDs        uint64
	Labels     uint64
	Dict       uint64
	Ident      uint64
	IdentBytes uint64
}

// File is a mapped snapshot file. Safe for concurrent reads; Close unmaps
// it (no Search may run then).
type File struct {
	data   []byte
	unmap  func() error
	dim    int
	n      int
	cursor uint64
	view   codeView
	ids    strTable
	labels strTable
	dict   map[string]int32
	ident  string
}

// strTable is n strings as n+1 offsets into a byte section.
type strTable struct {
	offs []uint32
	data []byte
}

func (t strTable) at(i int) string { return string(t.data[t.offs[i]:t.offs[i+1]]) }

func (t strTable) bytesAt(i int) []byte { return t.data[t.offs[i]:t.offs[i+1]] }

// fileRecord is one point being written.
type fileRecord struct {
	id, label       string
	codes           []int8 // stride codes
	scale           float32
	channel, tenant string
	posted, expires int64
}

// FileSource says what a snapshot file was built from: Cursor is the
// store's change cursor at the snapshot (store.VectorFeed), Ident the
// caller's identity of the collection (a file of another is rebuilt).
type FileSource struct {
	Cursor uint64
	Ident  string
}

// WriteFile writes the index to path as a snapshot file; label gives each
// point's label (the post id).
func (x *Index) WriteFile(path string, src FileSource, label func(id string) string) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	names := x.names()
	recs := make([]fileRecord, len(x.ids))
	for i, id := range x.ids {
		m := x.metas[i]
		recs[i] = fileRecord{id: id, label: label(id), codes: x.codes[i*x.stride : (i+1)*x.stride], scale: x.scales[i],
			channel: names[m.channel], tenant: names[m.tenant], posted: m.postedAt, expires: m.expiresAt}
	}
	return writeFile(path, x.dim, x.stride, src, recs)
}

// names inverts the dictionary.
func (x *Index) names() []string {
	out := make([]string, len(x.dict))
	for s, id := range x.dict {
		out[id] = s
	}
	return out
}

// Merge writes a new snapshot to path: the points of f whose skip entry is
// false, then every point of delta (labelled by label).
func (f *File) Merge(path string, src FileSource, skip []bool, delta *Index, label func(id string) string) error {
	if delta.dim != f.dim {
		return fmt.Errorf("vecindex: merge a %d-dimension delta into a %d-dimension file", delta.dim, f.dim)
	}
	names := make([]string, len(f.dict))
	for s, id := range f.dict {
		names[id] = s
	}
	recs := make([]fileRecord, 0, f.n+delta.Len())
	for i := range f.n {
		if skip != nil && skip[i] {
			continue
		}
		m := f.view.metas[i]
		recs = append(recs, fileRecord{id: f.ids.at(i), label: f.labels.at(i),
			codes: f.view.codes[i*f.view.stride : (i+1)*f.view.stride], scale: f.view.scales[i],
			channel: names[m.channel], tenant: names[m.tenant], posted: m.postedAt, expires: m.expiresAt})
	}
	delta.mu.RLock()
	defer delta.mu.RUnlock()
	dnames := delta.names()
	for i, id := range delta.ids {
		m := delta.metas[i]
		recs = append(recs, fileRecord{id: id, label: label(id), codes: delta.codes[i*delta.stride : (i+1)*delta.stride],
			scale: delta.scales[i], channel: dnames[m.channel], tenant: dnames[m.tenant], posted: m.postedAt, expires: m.expiresAt})
	}
	return writeFile(path, f.dim, f.view.stride, src, recs)
}

func align(n int) int { return (n + sectionAlig - 1) &^ (sectionAlig - 1) }

func writeFile(path string, dim, stride int, src FileSource, recs []fileRecord) error {
	sort.Slice(recs, func(a, b int) bool { return recs[a].id < recs[b].id })
	for i := 1; i < len(recs); i++ {
		if recs[i].id == recs[i-1].id {
			return fmt.Errorf("vecindex: write %s: point %s twice", path, recs[i].id)
		}
	}
	n := len(recs)
	dict := map[string]int32{"": 0}
	names := []string{""}
	intern := func(s string) int32 {
		if id, ok := dict[s]; ok {
			return id
		}
		id := int32(len(names))
		dict[s] = id
		names = append(names, s)
		return id
	}
	codes := make([]int8, n*stride)
	scales := make([]float32, n)
	metas := make([]meta, n)
	ids, labels := make([]string, n), make([]string, n)
	for i, r := range recs {
		copy(codes[i*stride:(i+1)*stride], r.codes)
		scales[i] = r.scale
		metas[i] = meta{channel: intern(r.channel), tenant: intern(r.tenant), postedAt: r.posted, expiresAt: r.expires}
		ids[i], labels[i] = r.id, r.label
	}
	idBytes, labelBytes, dictBytes := encodeStrings(ids), encodeStrings(labels), encodeStrings(names)

	var h fileHeader
	copy(h.Magic[:], fileMagic)
	h.Check, h.Dim, h.Stride = fileCheck, uint32(dim), uint32(stride)
	h.Points, h.Cursor, h.DictCount = uint64(n), src.Cursor, uint64(len(names))
	off := headerSize
	next := func(size int) uint64 {
		o := off
		off = align(off + size)
		return uint64(o)
	}
	h.Codes = next(len(codes))
	h.Scales = next(4 * n)
	h.Metas = next(int(unsafe.Sizeof(meta{})) * n)
	h.IDs = next(len(idBytes))
	h.Labels = next(len(labelBytes))
	h.Dict = next(len(dictBytes))
	h.Ident, h.IdentBytes = next(len(src.Ident)), uint64(len(src.Ident))

	buf := make([]byte, off)
	var hb bytes.Buffer
	if err := binary.Write(&hb, binary.NativeEndian, &h); err != nil {
		return fmt.Errorf("vecindex: write %s: %w", path, err)
	}
	copy(buf, hb.Bytes())
	copy(buf[h.Codes:], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(codes))), len(codes)))
	copy(buf[h.Scales:], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(scales))), 4*n))
	copy(buf[h.Metas:], unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(metas))), int(unsafe.Sizeof(meta{}))*n))
	copy(buf[h.IDs:], idBytes)
	copy(buf[h.Labels:], labelBytes)
	copy(buf[h.Dict:], dictBytes)
	copy(buf[h.Ident:], src.Ident)

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("vecindex: write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("vecindex: write %s: %w", path, err)
	}
	_, werr := tmp.Write(buf)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("vecindex: write %s: %w", path, werr)
	}
	return nil
}

// encodeStrings lays out n+1 uint32 offsets then the bytes.
func encodeStrings(list []string) []byte {
	total := 0
	for _, s := range list {
		total += len(s)
	}
	out := make([]byte, 4*(len(list)+1), 4*(len(list)+1)+total)
	o := uint32(0)
	for i, s := range list {
		binary.NativeEndian.PutUint32(out[4*i:], o)
		o += uint32(len(s))
	}
	binary.NativeEndian.PutUint32(out[4*len(list):], o)
	for _, s := range list {
		out = append(out, s...)
	}
	return out
}

// ErrBadFile: the file is not a snapshot of this format (or is damaged).
var ErrBadFile = errors.New("not a vector snapshot file")

// OpenFile maps a snapshot file written by WriteFile or Merge.
func OpenFile(path string) (*File, error) {
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, fmt.Errorf("vecindex: open %s: %w", path, err)
	}
	f, err := parseFile(data)
	if err != nil {
		_ = unmap()
		return nil, fmt.Errorf("vecindex: open %s: %w", path, err)
	}
	f.unmap = unmap
	return f, nil
}

func parseFile(data []byte) (*File, error) {
	var h fileHeader
	if len(data) < headerSize {
		return nil, ErrBadFile
	}
	if err := binary.Read(bytes.NewReader(data[:headerSize]), binary.NativeEndian, &h); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFile, err)
	}
	if string(h.Magic[:]) != fileMagic || h.Check != fileCheck || h.Dim == 0 || h.Stride != (h.Dim+15)&^15 {
		return nil, ErrBadFile
	}
	n, stride := int(h.Points), int(h.Stride)
	size := uint64(len(data))
	sec := func(off, length uint64) ([]byte, error) {
		if off%sectionAlig != 0 || off > size || length > size-off {
			return nil, fmt.Errorf("%w: a section lies outside the file", ErrBadFile)
		}
		return data[off : off+length], nil
	}
	codes, err := sec(h.Codes, uint64(n*stride))
	if err != nil {
		return nil, err
	}
	scales, err := sec(h.Scales, uint64(4*n))
	if err != nil {
		return nil, err
	}
	metas, err := sec(h.Metas, uint64(int(unsafe.Sizeof(meta{}))*n))
	if err != nil {
		return nil, err
	}
	ident, err := sec(h.Ident, h.IdentBytes)
	if err != nil {
		return nil, err
	}
	f := &File{data: data, dim: int(h.Dim), n: n, cursor: h.Cursor, ident: string(ident)}
	if f.ids, err = readStrings(data, h.IDs, n); err != nil {
		return nil, err
	}
	if f.labels, err = readStrings(data, h.Labels, n); err != nil {
		return nil, err
	}
	dict, err := readStrings(data, h.Dict, int(h.DictCount))
	if err != nil {
		return nil, err
	}
	f.dict = make(map[string]int32, h.DictCount)
	for i := range int(h.DictCount) {
		f.dict[dict.at(i)] = int32(i)
	}
	f.view = codeView{stride: stride}
	if n > 0 {
		f.view.codes = unsafe.Slice((*int8)(unsafe.Pointer(&codes[0])), n*stride)
		f.view.scales = unsafe.Slice((*float32)(unsafe.Pointer(&scales[0])), n)
		f.view.metas = unsafe.Slice((*meta)(unsafe.Pointer(&metas[0])), n)
	}
	for i := range n {
		if m := f.view.metas[i]; m.channel < 0 || m.tenant < 0 || int(m.channel) >= len(f.dict) || int(m.tenant) >= len(f.dict) {
			return nil, fmt.Errorf("%w: point %d names an unknown channel or tenant", ErrBadFile, i)
		}
	}
	return f, nil
}

// readStrings reads a string table of n entries at off.
func readStrings(data []byte, off uint64, n int) (strTable, error) {
	bad := fmt.Errorf("%w: a string table lies outside the file", ErrBadFile)
	size := uint64(len(data))
	head := uint64(4 * (n + 1))
	if off%sectionAlig != 0 || off > size || head > size-off {
		return strTable{}, bad
	}
	offs := unsafe.Slice((*uint32)(unsafe.Pointer(&data[off])), n+1)
	body := off + head
	total := uint64(offs[n])
	if total > size-body {
		return strTable{}, bad
	}
	for i := range n {
		if offs[i] > offs[i+1] {
			return strTable{}, bad
		}
	}
	return strTable{offs: offs, data: data[body : body+total]}, nil
}

// Close unmaps the file.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap = nil
	return err
}

// Dim is the vector size.
func (f *File) Dim() int { return f.dim }

// Len is the number of points.
func (f *File) Len() int { return f.n }

// Source is the cursor and identity the file was written with.
func (f *File) Source() FileSource { return FileSource{Cursor: f.cursor, Ident: f.ident} }

// Find returns the position of point id.
func (f *File) Find(id string) (int, bool) {
	b := []byte(id)
	i := sort.Search(f.n, func(i int) bool { return bytes.Compare(f.ids.bytesAt(i), b) >= 0 })
	if i < f.n && bytes.Equal(f.ids.bytesAt(i), b) {
		return i, true
	}
	return 0, false
}

// ID and Label are those of the point at position i.
func (f *File) ID(i int) string    { return f.ids.at(i) }
func (f *File) Label(i int) string { return f.labels.at(i) }

// FileHit is one result of File.Search.
type FileHit struct {
	Hit
	Label string
}

// Search returns the k points nearest to q by cosine that pass the filter
// and whose skip entry is not true (skip may be nil), best first; scores
// are those Index.Search gives without exact vectors (the float query
// against the int8 codes). parallel splits the scan (as Options.Parallel).
func (f *File) Search(_ context.Context, q []float32, k int, flt Filter, skip []bool, parallel int) ([]FileHit, error) {
	if len(q) != f.dim {
		return nil, fmt.Errorf("vecindex: query has %d dimensions, want %d", len(q), f.dim)
	}
	if skip != nil && len(skip) != f.n {
		return nil, fmt.Errorf("vecindex: skip has %d entries for %d points", len(skip), f.n)
	}
	if k <= 0 || f.n == 0 {
		return nil, nil
	}
	qn, q16, qscale, err := queryCodes(q, f.view.stride)
	if err != nil {
		return nil, err
	}
	fc := compileFilter(f.dict, flt)
	if fc.none {
		return nil, nil
	}
	h := f.view.candidates(q16, qscale, &fc, f.n, max(k*8, 64), parallel, skip)
	hits := make([]FileHit, len(h))
	for j, cd := range h {
		hits[j] = FileHit{Hit: Hit{ID: f.ids.at(cd.i), Score: f.view.asymmetric(qn, cd.i)}, Label: f.labels.at(cd.i)}
	}
	sort.Slice(hits, func(a, b int) bool {
		if hits[a].Score != hits[b].Score {
			return hits[a].Score > hits[b].Score
		}
		return hits[a].ID < hits[b].ID
	})
	if len(hits) > k {
		hits = hits[:k]
	}
	return hits, nil
}
