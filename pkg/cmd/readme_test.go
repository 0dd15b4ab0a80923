package cmd

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestReadmeCommandsParse parses every `kubectl gitops ...` line of the
// README's code blocks with the command tree: the command exists, every flag
// is one it takes, and it takes that many arguments. Nothing is run.
func TestReadmeCommandsParse(t *testing.T) {
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen, inBlock := 0, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inBlock = !inBlock
			continue
		}
		line = strings.TrimPrefix(line, "$ ")
		if !inBlock || !strings.HasPrefix(line, "kubectl gitops ") {
			continue
		}
		args, ok := shellWords(strings.TrimPrefix(line, "kubectl gitops "))
		if !ok {
			t.Errorf("README.md:%d: cannot split %q", n, line)
			continue
		}
		seen++
		root := NewCmdRoot(genericiooptions.NewTestIOStreamsDiscard())
		c, rest, err := root.Find(args)
		if err != nil {
			t.Errorf("README.md:%d: %s: %v", n, line, err)
			continue
		}
		if err := c.ParseFlags(rest); err != nil {
			t.Errorf("README.md:%d: %s: %v", n, line, err)
			continue
		}
		if err := c.ValidateArgs(c.Flags().Args()); err != nil {
			t.Errorf("README.md:%d: %s: %v", n, line, err)
		}
	}
	if seen < 15 {
		t.Errorf("only %d commands found in the README", seen)
	}
}

// shellWords splits a command line as sh would for the simple lines of the
// README: quotes, and a comment or redirection ending the command.
func shellWords(s string) ([]string, bool) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(s[i+1:], ch)
			if j < 0 {
				return nil, false
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		case !inWord && (ch == '#' || ch == '>' || ch == '|' || ch == ';' || ch == '<'):
			return words, true
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, true
}
