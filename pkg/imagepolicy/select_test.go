package imagepolicy

import (
	"slices"
	"testing"
	"time"
)

func TestSort(t *testing.T) {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	tests := []struct {
		name    string
		pattern string
		tags    []Tag
		want    []string
	}{
		{
			name:    "semver orders by version, not by creation or name",
			pattern: "semver:*",
			tags: []Tag{
				{Name: "1.9.0", Created: at(9)},
				{Name: "1.10.0", Created: at(1)},
				{Name: "v2.0.0"},
				{Name: "0.1"},
			},
			want: []string{"v2.0.0", "1.10.0", "1.9.0", "0.1"},
		},
		{
			name:    "semver leaves out tags that are not versions, and latest",
			pattern: "semver:>=1",
			tags:    []Tag{{Name: "latest"}, {Name: "main"}, {Name: "sha-1234567"}, {Name: "1.0.0"}, {Name: "1.1.0"}},
			want:    []string{"1.1.0", "1.0.0"},
		},
		{
			name:    "semver without a pre-release in the constraint ignores pre-releases",
			pattern: "semver:^1.0",
			tags:    []Tag{{Name: "1.1.0"}, {Name: "1.2.0-rc.1"}, {Name: "2.0.0"}},
			want:    []string{"1.1.0"},
		},
		{
			name:    "semver with a pre-release in the constraint orders them",
			pattern: "semver:>=1.0.0-0",
			tags:    []Tag{{Name: "1.1.0"}, {Name: "1.2.0-rc.1"}, {Name: "1.2.0-rc.2"}, {Name: "1.2.0-beta"}},
			want:    []string{"1.2.0-rc.2", "1.2.0-rc.1", "1.2.0-beta", "1.1.0"},
		},
		{
			name:    "semver equal versions: newer image, then greater name",
			pattern: "semver:1.2.x",
			tags:    []Tag{{Name: "1.2.0"}, {Name: "v1.2.0"}, {Name: "1.2", Created: at(1)}},
			want:    []string{"1.2", "v1.2.0", "1.2.0"},
		},
		{
			name:    "glob orders by creation time, newest first",
			pattern: "glob:*",
			tags: []Tag{
				{Name: "b", Created: at(1)},
				{Name: "a", Created: at(3)},
				{Name: "c", Created: at(2)},
				{Name: "latest", Created: at(4)},
			},
			want: []string{"a", "c", "b"},
		},
		{
			name:    "glob ties go to the greater name; unknown creation time is oldest",
			pattern: "master-*",
			tags: []Tag{
				{Name: "master-aaa", Created: at(1)},
				{Name: "master-ccc"},
				{Name: "master-bbb", Created: at(1)},
				{Name: "main-zzz", Created: at(5)},
			},
			want: []string{"master-bbb", "master-aaa", "master-ccc"},
		},
		{
			name:    "glob:latest chooses latest",
			pattern: "glob:latest",
			tags:    []Tag{{Name: "1.0", Created: at(2)}, {Name: "latest", Created: at(1)}},
			want:    []string{"latest"},
		},
		{
			name:    "regex orders by creation time",
			pattern: `regex:^build-\d+$`,
			tags: []Tag{
				{Name: "build-9", Created: at(1)},
				{Name: "build-10", Created: at(2)},
				{Name: "build-11-debug", Created: at(3)},
			},
			want: []string{"build-10", "build-9"},
		},
		{
			name:    "nothing allowed",
			pattern: "semver:>=3",
			tags:    []Tag{{Name: "1.0.0"}, {Name: "latest"}},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustParse(tt.pattern)
			input := slices.Clone(tt.tags)
			var got []string
			for _, tag := range Sort(p, tt.tags) {
				got = append(got, tag.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Sort(%s) = %q, want %q", p, got, tt.want)
			}
			if !slices.Equal(input, tt.tags) {
				t.Errorf("Sort changed its input")
			}
			newest, ok := Newest(p, tt.tags)
			if len(tt.want) == 0 {
				if ok {
					t.Errorf("Newest(%s) = %q, want none", p, newest.Name)
				}
				return
			}
			if !ok || newest.Name != tt.want[0] {
				t.Errorf("Newest(%s) = %q %v, want %q", p, newest.Name, ok, tt.want[0])
			}
		})
	}
}

func TestSortKeepsCreated(t *testing.T) {
	created := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	got, ok := Newest(All, []Tag{{Name: "x", Created: created}})
	if !ok || !got.Created.Equal(created) {
		t.Errorf("Newest = %v, want x created %v", got, created)
	}
}
