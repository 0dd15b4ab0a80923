package render

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
)

// yamlToJSONValue decodes one YAML document into the value kubectl gets for
// it, that is, the value of
//
//	j, err := sigs.k8s.io/yaml.YAMLToJSON(doc)
//	err = k8s.io/apimachinery/pkg/util/json.Unmarshal(j, &v)
//
// (YAML 1.1 rules, integers as int64, other numbers as float64), without
// writing and parsing JSON in between, which would double the cost of
// decoding. TestYAMLToJSONValueMatchesKubectl holds the two together.
func yamlToJSONValue(doc []byte) (any, error) {
	var v any
	if err := yamlv2.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	return jsonValue(v)
}

// jsonValue converts a value decoded by go.yaml.in/yaml/v2 into JSON types,
// as sigs.k8s.io/yaml then encoding/json and sigs.k8s.io/json would.
func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case nil, bool:
		return v, nil
	case string:
		return jsonString(v), nil
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), nil
		}
		return float64(v), nil
	case float64:
		return jsonNumber(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			var err error
			if out[i], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			key, err := jsonKey(k, e)
			if err != nil {
				return nil, err
			}
			if out[key], err = jsonValue(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported value of type %T: %v", v, v)
	}
}

// jsonNumber returns f as JSON decoding would after encoding/json wrote it:
// an int64 when it was written without a fraction or exponent and fits,
// else a float64. JSON has no infinities or NaN.
func jsonNumber(f float64) (any, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	// encoding/json uses plain notation for 1e-6 <= |f| < 1e21, so a whole
	// number in that range has no "." and is read back as an int64 if it
	// fits.
	if f == math.Trunc(f) && math.Abs(f) < 1e21 && f >= math.MinInt64 && f < math.MaxInt64 {
		return int64(f), nil
	}
	return f, nil
}

// jsonKey turns a YAML map key into a JSON object key, as sigs.k8s.io/yaml
// does.
func jsonKey(k, v any) (string, error) {
	switch k := k.(type) {
	case string:
		return jsonString(k), nil
	case int:
		return strconv.Itoa(k), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case float64:
		switch s := strconv.FormatFloat(k, 'g', -1, 32); s {
		case "+Inf":
			return ".inf", nil
		case "-Inf":
			return "-.inf", nil
		case "NaN":
			return ".nan", nil
		default:
			return s, nil
		}
	case bool:
		return strconv.FormatBool(k), nil
	default:
		return "", fmt.Errorf("unsupported map key of type: %T, key: %+#v, value: %+#v", k, k, v)
	}
}

// jsonString replaces each byte of s that is not valid UTF-8 with U+FFFD,
// as encoding/json does when it writes s.
func jsonString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}
