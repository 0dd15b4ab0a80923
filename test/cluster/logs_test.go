package cluster

import (
	"strings"
	"sync"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	var mu sync.Mutex
	var out strings.Builder
	w := &prefixWriter{mu: &mu, dst: &out, prefix: []byte("[etcd] ")}
	for _, chunk := range []string{"one\ntw", "o\n", "three\nfour\nfi", "ve"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "[etcd] one\n[etcd] two\n[etcd] three\n[etcd] four\n[etcd] five\n"
	if got := out.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
