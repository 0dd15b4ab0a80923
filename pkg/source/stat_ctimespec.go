//go:build darwin || freebsd || netbsd

package source

import (
	"io/fs"
	"syscall"
)

// fileStat is the stat data git's index records for fi.
func fileStat(fi fs.FileInfo) statData {
	st := statData{
		mtime:     uint32(fi.ModTime().Unix()),
		mtimeNsec: uint32(fi.ModTime().Nanosecond()),
		size:      uint32(fi.Size()),
	}
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ctime, st.ctimeNsec = uint32(s.Ctimespec.Sec), uint32(s.Ctimespec.Nsec)
		st.dev, st.ino, st.uid, st.gid = uint32(s.Dev), uint32(s.Ino), s.Uid, s.Gid
	}
	return st
}
