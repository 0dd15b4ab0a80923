package completion

import (
	"os"
	"testing"
)

// The script shipped in release archives is the one the command writes.
func TestShippedScriptMatches(t *testing.T) {
	b, err := os.ReadFile("../../../krew/" + ScriptName)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != Script {
		t.Fatalf("krew/%s differs from completion.Script:\n%s", ScriptName, b)
	}
}
