package source

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
)

// indexFile is a git index (the staging area) read just enough to find
// entries and to change their content hash and stat data in place.
//
// go-git's index encoder would drop what it does not model: the
// assume-unchanged flag, the untracked cache, the fsmonitor data and the
// entry offset table. Here everything is kept byte for byte, but for the
// cache tree ("TREE"), which records the trees of the entries as they were
// and would make git commit the old content, and the end-of-index-entry
// marker ("EOIE"), which hashes the list of extensions. Both are optional;
// git rebuilds them.
//
// See git's Documentation/gitformat-index.txt.
type indexFile struct {
	data    []byte // the whole file, changed in place by set
	version uint32
	entries map[string][]indexEntry // by path; more than one when conflicted
	extEnd  int                     // where the entries end and the extensions start
	exts    []indexExt
	noSum   bool // written with index.skipHash: a zero checksum
}

type indexEntry struct {
	off   int    // where the entry starts in data
	stage int    // 0, or 1 to 3 for a conflict
	ext   uint16 // extended flags (version 3 and later)
}

type indexExt struct {
	sig        string
	start, end int
}

const (
	indexHeaderLen   = 12
	indexEntryLen    = 62 // the fixed part of an entry, up to its flags
	indexFlagExt     = 0x4000
	indexNameMask    = 0xfff
	indexIntentToAdd = 0x2000 // in the extended flags
	indexSkipWork    = 0x4000 // in the extended flags
)

// errIndexFormat says the index cannot be changed safely; Update refuses
// before anything is written.
var errIndexFormat = errors.New("unsupported index")

func parseIndex(data []byte) (*indexFile, error) {
	hashLen := len(plumbing.ZeroHash)
	corrupt := func(what string) error {
		return fmt.Errorf("the index is corrupt (%s): run git status to see what git makes of it", what)
	}
	if len(data) < indexHeaderLen+hashLen || string(data[:4]) != "DIRC" {
		return nil, corrupt("no index header")
	}
	ix := &indexFile{data: data, version: binary.BigEndian.Uint32(data[4:]), entries: map[string][]indexEntry{}}
	if ix.version < 2 || ix.version > 4 {
		return nil, fmt.Errorf("%w: version %d", errIndexFormat, ix.version)
	}
	body := len(data) - hashLen
	if sum := data[body:]; bytes.Equal(sum, make([]byte, hashLen)) {
		ix.noSum = true
	} else if got := sha1.Sum(data[:body]); !bytes.Equal(got[:], sum) {
		return nil, corrupt("wrong checksum")
	}

	count := binary.BigEndian.Uint32(data[8:])
	off := indexHeaderLen
	prev := ""
	for range count {
		if off+indexEntryLen > body {
			return nil, corrupt("truncated entry")
		}
		flags := binary.BigEndian.Uint16(data[off+60:])
		e := indexEntry{off: off, stage: int(flags>>12) & 3}
		nameAt := off + indexEntryLen
		if flags&indexFlagExt != 0 {
			if ix.version < 3 || nameAt+2 > body {
				return nil, corrupt("bad extended flags")
			}
			e.ext = binary.BigEndian.Uint16(data[nameAt:])
			nameAt += 2
		}
		var name string
		next := 0
		if ix.version == 4 {
			// The name is the previous one less strip bytes, plus a
			// NUL-terminated suffix; no padding.
			strip, n := decodeIndexVarint(data[nameAt:body])
			if n == 0 || strip > uint64(len(prev)) {
				return nil, corrupt("bad path compression")
			}
			nul := bytes.IndexByte(data[nameAt+n:body], 0)
			if nul < 0 {
				return nil, corrupt("unterminated path")
			}
			name = prev[:len(prev)-int(strip)] + string(data[nameAt+n:nameAt+n+nul])
			next = nameAt + n + nul + 1
		} else {
			l := int(flags & indexNameMask)
			if l == indexNameMask { // a long name: NUL-terminated
				l = bytes.IndexByte(data[nameAt:body], 0)
				if l < 0 {
					return nil, corrupt("unterminated path")
				}
			}
			if nameAt+l > body {
				return nil, corrupt("truncated path")
			}
			name = string(data[nameAt : nameAt+l])
			// Padded with 1 to 8 NULs to a multiple of 8.
			next = off + (nameAt-off+l+8)&^7
			if next > body {
				return nil, corrupt("truncated entry")
			}
		}
		ix.entries[name] = append(ix.entries[name], e)
		prev, off = name, next
	}

	ix.extEnd = off
	for off < body {
		if off+8 > body {
			return nil, corrupt("truncated extension")
		}
		sig := string(data[off : off+4])
		size := binary.BigEndian.Uint32(data[off+4:])
		if uint64(size) > uint64(body-off-8) {
			return nil, corrupt("truncated extension " + sig)
		}
		end := off + 8 + int(size)
		switch {
		case sig == "link":
			return nil, fmt.Errorf("%w: it is split (core.splitIndex); run git update-index --no-split-index, or commit the change with git", errIndexFormat)
		case sig == "sdir": // sparse index: directories as entries; kept
		case sig[0] < 'A' || sig[0] > 'Z':
			return nil, fmt.Errorf("%w: it has the extension %q, which kubectl-gitops does not know", errIndexFormat, sig)
		}
		ix.exts = append(ix.exts, indexExt{sig: sig, start: off, end: end})
		off = end
	}
	return ix, nil
}

// decodeIndexVarint reads git's varint (varint.c), which is not LEB128:
// every continuation adds one before shifting. n is 0 when b holds none.
func decodeIndexVarint(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	v = uint64(c & 0x7f)
	n = 1
	for c&0x80 != 0 {
		v++
		if v == 0 || v>>57 != 0 || n >= len(b) {
			return 0, 0
		}
		c = b[n]
		n++
		v = v<<7 + uint64(c&0x7f)
	}
	return v, n
}

// entry returns the stage-0 entry of path, and whether path is conflicted.
func (ix *indexFile) entry(path string) (e indexEntry, ok, conflicted bool) {
	for _, x := range ix.entries[path] {
		if x.stage == 0 {
			e, ok = x, true
		} else {
			conflicted = true
		}
	}
	return e, ok, conflicted
}

func (ix *indexFile) hash(e indexEntry) plumbing.Hash {
	var h plumbing.Hash
	copy(h[:], ix.data[e.off+40:])
	return h
}

func (ix *indexFile) mode(e indexEntry) uint32 {
	return binary.BigEndian.Uint32(ix.data[e.off+24:])
}

// statData is what the index records of a file to tell, without reading
// it, that it did not change.
type statData struct {
	ctime, ctimeNsec, mtime, mtimeNsec uint32
	dev, ino, uid, gid, size           uint32
}

// set records new content for e: its blob and the stat data of the file
// just written. The mode and the flags stay.
func (ix *indexFile) set(e indexEntry, h plumbing.Hash, st statData) {
	b := ix.data[e.off:]
	be := binary.BigEndian
	be.PutUint32(b[0:], st.ctime)
	be.PutUint32(b[4:], st.ctimeNsec)
	be.PutUint32(b[8:], st.mtime)
	be.PutUint32(b[12:], st.mtimeNsec)
	be.PutUint32(b[16:], st.dev)
	be.PutUint32(b[20:], st.ino)
	be.PutUint32(b[28:], st.uid)
	be.PutUint32(b[32:], st.gid)
	be.PutUint32(b[36:], st.size)
	ix.setHash(e, h)
}

// setHash records a new blob for e, keeping its stat data.
func (ix *indexFile) setHash(e indexEntry, h plumbing.Hash) {
	copy(ix.data[e.off+40:e.off+60], h[:])
}

// encode returns the index with its changes, without the cache tree and
// the end-of-index-entry marker, and with a new checksum.
func (ix *indexFile) encode() []byte {
	out := make([]byte, 0, len(ix.data))
	out = append(out, ix.data[:ix.extEnd]...)
	for _, x := range ix.exts {
		if x.sig == "TREE" || x.sig == "EOIE" {
			continue
		}
		out = append(out, ix.data[x.start:x.end]...)
	}
	if ix.noSum {
		return append(out, make([]byte, len(plumbing.ZeroHash))...)
	}
	sum := sha1.Sum(out)
	return append(out, sum[:]...)
}
