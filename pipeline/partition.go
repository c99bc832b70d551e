package pipeline

// partition.go: the key layout of partitioned streams (streams.partitions,
// docs/operations.md "Partitioned streams").
//
// With N > 1 partitions every stream S exists N times, once per partition p,
// under a key whose hash tag belongs to p alone: the prefix's own tag (or,
// for an untagged prefix, an added one) becomes "{<tag>:p<p>:<k>}", where k
// is the smallest integer that puts the key's hash slot in the p-th of N
// equal ranges of the 16384 slots. A cluster whose masters hold equal slot
// ranges (what `redis-cli --cluster create` makes) then holds N/M
// partitions on each of its M masters when M divides N. Every key of one
// partition (its streams, DLQs and dedup marks) is in one slot, so a stage
// reading partition p commits partition p's outputs, DLQ copies, marks and
// XACKs in one MULTI/EXEC. Keys outside the streams (leases, heartbeats,
// caches) stay under the prefix.
//
// A post's partition is PartitionOf(post_id): 32-bit FNV-1a of the id's
// bytes, mod N. It is stable across processes, releases and languages
// (FNV-1a is specified by its constants), so any producer can compute it.

import (
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/assistant-dev/assistant/config"
	"github.com/assistant-dev/assistant/events"
)

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// PartitionCount is the number of partitions of every stream (at least 1).
func (k Keys) PartitionCount() int { return max(k.Partitions, 1) }

// Partitioned reports whether streams are split into more than one
// partition.
func (k Keys) Partitioned() bool { return k.Partitions > 1 }

// PartitionOf is the partition of a post: FNV-1a-32(postID) mod N. An
// empty id (an entry that carries none) is partition 0.
func (k Keys) PartitionOf(postID string) int {
	return PartitionOf(postID, k.PartitionCount())
}

// PartitionOf is FNV-1a-32(postID) mod n, for producers that have no Keys.
func PartitionOf(postID string, n int) int {
	if n <= 1 || postID == "" {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(postID))
	return int(h.Sum32() % uint32(n))
}

// PartitionPrefix is the key prefix of partition p: the prefix itself with
// one partition, else the prefix with the partition's hash tag.
func (k Keys) PartitionPrefix(p int) string {
	if !k.Partitioned() {
		return k.Prefix
	}
	if k.prefixes != nil && len(*k.prefixes) == k.Partitions {
		return (*k.prefixes)[p]
	}
	return partitionPrefixes(k.Prefix, k.Partitions)[p]
}

// PartStream is the Redis key of partition p of a stream.
func (k Keys) PartStream(p int, name string) string { return k.PartitionPrefix(p) + name }

// PartDLQ is the Redis key of the DLQ of partition p of a stream.
func (k Keys) PartDLQ(p int, name string) string {
	return k.PartitionPrefix(p) + name + k.DLQSuffix
}

// PartKey is the Redis key of a key that belongs to partition p (dedup
// marks, committed with the partition's outputs).
func (k Keys) PartKey(p int, name string) string { return k.PartitionPrefix(p) + name }

// EntryStream is the key a producer adds an entry to: the partition of
// the post the entry is about (its post_id field, in the data form or the
// flat one), or the stream's only key without partitions.
func (k Keys) EntryStream(name string, values map[string]any) string {
	if !k.Partitioned() {
		return k.Stream(name)
	}
	return k.PartStream(k.PartitionOf(events.MetaOf(values).PostID), name)
}

// StreamKeys lists the keys of every partition of a stream, partition 0
// first.
func (k Keys) StreamKeys(name string) []string {
	out := make([]string, k.PartitionCount())
	for p := range out {
		out[p] = k.PartStream(p, name)
	}
	return out
}

// DLQKeys lists the DLQ keys of every partition of a stream.
func (k Keys) DLQKeys(name string) []string {
	out := make([]string, k.PartitionCount())
	for p := range out {
		out[p] = k.PartDLQ(p, name)
	}
	return out
}

// PartitionOfKey returns the partition a stream or DLQ key belongs to, or
// false when it is no partition's key (an unpartitioned source stream).
func (k Keys) PartitionOfKey(key string) (int, bool) {
	if !k.Partitioned() {
		return 0, strings.HasPrefix(key, k.Prefix)
	}
	for p, prefix := range partitionPrefixes(k.Prefix, k.Partitions) {
		if strings.HasPrefix(key, prefix) {
			return p, true
		}
	}
	return 0, false
}

var prefixCache sync.Map // prefixCacheKey -> []string

type prefixCacheKey struct {
	prefix string
	n      int
}

// partitionPrefixes computes (once per prefix and count) the prefixes of
// the n partitions.
func partitionPrefixes(prefix string, n int) []string {
	cacheKey := prefixCacheKey{prefix, n}
	if v, ok := prefixCache.Load(cacheKey); ok {
		return v.([]string)
	}
	before, tag, after := prefix, "", ""
	if config.HashTagged(prefix) {
		open := strings.IndexByte(prefix, '{')
		end := open + 1 + strings.IndexByte(prefix[open+1:], '}')
		before, tag, after = prefix[:open], prefix[open+1:end], prefix[end+1:]
	}
	out := make([]string, n)
	for p := range out {
		lo, hi := p*clusterSlots/n, (p+1)*clusterSlots/n
		for i := 0; ; i++ {
			t := fmt.Sprintf("p%d:%d", p, i)
			if tag != "" {
				t = tag + ":" + t
			}
			if s := int(keySlot(t)); s >= lo && s < hi {
				if tag != "" {
					out[p] = before + "{" + t + "}" + after
				} else {
					out[p] = prefix + "{" + t + "}:"
				}
				break
			}
		}
	}
	prefixCache.Store(cacheKey, out)
	return out
}

// KeySlot is the Redis Cluster hash slot of a key (CRC16-XMODEM of its
// hash tag, or of the whole key, mod 16384).
func KeySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	return int(keySlot(key))
}

func keySlot(s string) uint16 { return crc16(s) % clusterSlots }

// crc16 is CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum
// of Redis Cluster key slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
