package render

import (
	"reflect"
	"testing"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// TestYAMLToJSONValueMatchesKubectl checks that yamlToJSONValue gives the
// values kubectl apply -f gives, by way of JSON, for what YAML can hold.
func TestYAMLToJSONValueMatchesKubectl(t *testing.T) {
	docs := []string{
		"",
		"# only a comment\n",
		"null",
		"a: 1\nb: -7\nc: 9223372036854775807\nd: -9223372036854775808\n",
		"big: 18446744073709551615\nbigger: 99999999999999999999999\n",
		"f: 1.0\ng: 1.5\nh: -0.0\ni: 1e20\nj: 1e21\nk: 1e-7\nl: 0.000001\nm: 9.3e18\nn: -9.3e18\n",
		"octal: 0755\nhex: 0x1F\nunderscore: 1_000\nsexagesimal: 1:30\nplus: +12\n",
		"yes: yes\nno: no\non: on\noff: off\ny: y\nTrue: True\nFALSE: FALSE\n",
		"tilde: ~\nnull: null\nempty:\n",
		"date: 2024-01-02\ntime: 2024-01-02T03:04:05Z\nversion: 1.10\nquoted: \"1.10\"\n",
		"bin: !!binary aGVsbG8=\nbad: !!binary /w==\nesc: \"\\xff\\xfeok\\u00e9\"\n",
		"html: \"<a href='x'>&amp;</a>\"\nnl: \"a\\nb\\u2028\"\n",
		"base: &b {x: 1, y: [1, 2]}\nuse: *b\nmerged:\n  <<: *b\n  y: 3\n",
		"1: int key\n2.5: float key\ntrue: bool key\n.inf: inf key\n",
		"1e40: float key beyond float32\n",
		"list:\n- a\n- 1\n- {b: [c, {d: 2.0}]}\n- null\n- []\n- {}\n",
		"- a\n- b\n",
		"scalar",
		"42",
		"folded: >\n  a\n  b\nliteral: |\n  x\n   y\n",
	}
	for _, doc := range docs {
		var want any
		j, wantErr := yaml.YAMLToJSON([]byte(doc))
		if wantErr == nil {
			if err := utiljson.Unmarshal(j, &want); err != nil {
				t.Fatalf("%q: %v", doc, err)
			}
		}
		got, err := yamlToJSONValue([]byte(doc))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%q: error %v, kubectl's error %v", doc, err, wantErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\ngot  %#v\nwant %#v", doc, got, want)
		}
	}
}

// Documents that kubectl cannot turn into JSON fail here too.
func TestYAMLToJSONValueErrors(t *testing.T) {
	for _, doc := range []string{"a: .inf\n", "a: [.nan]\n", "~: null key\n", "a: [b\n"} {
		if _, err := yaml.YAMLToJSON([]byte(doc)); err == nil {
			t.Fatalf("%q: kubectl's conversion accepts it; pick another example", doc)
		}
		if v, err := yamlToJSONValue([]byte(doc)); err == nil {
			t.Errorf("%q = %#v, want an error", doc, v)
		}
	}
}
