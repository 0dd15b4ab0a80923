package workload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/setters"
)

// unreadableJSON explains data, the content of file, that setters could not
// parse, when it is JSON as rendering reads it (data starting with "{" is a
// stream of JSON values): several values one after another, which setters
// cannot address, or a value that YAML reads otherwise (JSON's "\/"
// escape). isJSON is false when data is no such stream: the YAML error
// stands. Else err is nil when no value holds a workload, as there is then
// nothing to find, and an *Error naming the first workload otherwise.
func unreadableJSON(file string, data []byte, defaultNamespace string) (isJSON bool, err error) {
	if !bytes.HasPrefix(bytes.TrimLeftFunc(data, unicode.IsSpace), []byte("{")) {
		return false, nil
	}
	type value struct {
		line int
		v    any
	}
	var values []value
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		off := int(dec.InputOffset())
		var v any
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return false, nil
		}
		off += len(data[off:]) - len(bytes.TrimLeftFunc(data[off:], unicode.IsSpace))
		values = append(values, value{line: 1 + bytes.Count(data[:off], []byte("\n")), v: v})
	}
	for _, val := range values {
		// Encoded again, the value is JSON that YAML reads as JSON.
		canon, err := json.Marshal(val.v)
		if err != nil {
			return true, &Error{File: file, Line: val.line, Err: err}
		}
		docs, err := setters.Parse(canon)
		if err != nil || len(docs) != 1 {
			continue
		}
		ws := collect(nil, docs[0].YNode(), file, 0, nil, defaultNamespace)
		if len(ws) == 0 {
			continue
		}
		why := "its JSON cannot be read as YAML, as the byte-exact editor of images and policies needs: write it without \"\\/\" escapes"
		if len(values) > 1 {
			why = fmt.Sprintf("the file holds %d JSON values one after another, which the byte-exact editor of images and policies cannot address: put each object in a file of its own, or the objects in a List", len(values))
		}
		return true, &Error{File: file, Line: val.line, Err: fmt.Errorf("workload %s: %s", ws[0].ID, why)}
	}
	return true, nil
}
