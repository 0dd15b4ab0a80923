//go:build !(linux || openbsd || dragonfly || darwin || freebsd || netbsd)

package source

import "io/fs"

// fileStat is the stat data git's index records for fi. Only the
// modification time and the size are portable; git compares the rest on
// the systems that have them, and where it finds a difference it reads the
// file to tell.
func fileStat(fi fs.FileInfo) statData {
	t := fi.ModTime()
	return statData{
		ctime:     uint32(t.Unix()),
		ctimeNsec: uint32(t.Nanosecond()),
		mtime:     uint32(t.Unix()),
		mtimeNsec: uint32(t.Nanosecond()),
		size:      uint32(fi.Size()),
	}
}
