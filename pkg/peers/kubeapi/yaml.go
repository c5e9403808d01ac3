package kubeapi

import (
	"fmt"
	"strconv"
	"strings"
)

// parseYAML reads the YAML that kubeconfig files are written in: block
// mappings and sequences (a sequence may sit at its key's indentation, as
// kubectl writes it), one-line flow collections ({a: b}, [x, y]), plain,
// single- and double-quoted scalars, comments and a leading "---". Plain
// true and false are booleans, null and ~ are nil, everything else is a
// string. Anchors, tags, block scalars (| >) and multi-line flow
// collections are refused. (A full YAML library adds about half a MiB of
// resident memory to every peer-finder process.)
func parseYAML(text string) (any, error) {
	var lines []yline
	for i, raw := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		content := strings.TrimRight(stripComment(raw), " \t")
		trimmed := strings.TrimLeft(content, " ")
		if trimmed == "" || (len(lines) == 0 && trimmed == "---") {
			continue
		}
		if strings.HasPrefix(trimmed, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		lines = append(lines, yline{n: i + 1, indent: len(content) - len(trimmed), text: trimmed})
	}
	if len(lines) == 0 {
		return map[string]any{}, nil
	}
	p := &yparser{lines: lines}
	v, err := p.block(lines[0].indent)
	if err == nil && p.i < len(p.lines) {
		err = fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].n)
	}
	return v, err
}

type yline struct {
	n, indent int
	text      string
}

type yparser struct {
	lines []yline
	i     int
}

func (p *yparser) block(indent int) (any, error) {
	l := p.lines[p.i]
	if l.text == "-" || strings.HasPrefix(l.text, "- ") {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yparser) sequence(indent int) (any, error) {
	out := []any{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && (p.lines[p.i].text == "-" || strings.HasPrefix(p.lines[p.i].text, "- ")) {
		l := p.lines[p.i]
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if rest == "" {
			p.i++
			v, err := p.nested(indent, false)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		// "- key: value" starts a mapping (or "- - x" a sequence) indented
		// at the item's content.
		p.lines[p.i] = yline{n: l.n, indent: indent + len(l.text) - len(rest), text: rest}
		if _, _, isKey := splitKey(rest); isKey || strings.HasPrefix(rest, "- ") {
			v, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		v, err := scalarOrFlow(rest, l.n)
		if err != nil {
			return nil, err
		}
		p.i++
		out = append(out, v)
	}
	return out, nil
}

func (p *yparser) mapping(indent int) (any, error) {
	out := map[string]any{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent {
		l := p.lines[p.i]
		key, val, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("line %d: expected \"key: value\", got %q", l.n, l.text)
		}
		p.i++
		var v any
		var err error
		if val == "" {
			v, err = p.nested(indent, true)
		} else {
			v, err = scalarOrFlow(val, l.n)
		}
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, nil
}

// nested parses the value on the lines after a "key:" or "-": a block
// indented deeper, or (after a key) a sequence at the same indentation.
func (p *yparser) nested(indent int, afterKey bool) (any, error) {
	if p.i >= len(p.lines) {
		return nil, nil
	}
	l := p.lines[p.i]
	switch {
	case l.indent > indent:
		return p.block(l.indent)
	case afterKey && l.indent == indent && (l.text == "-" || strings.HasPrefix(l.text, "- ")):
		return p.sequence(indent)
	}
	return nil, nil
}

// splitKey splits "key: value" (or "key:"); the key may be quoted.
func splitKey(s string) (key, val string, ok bool) {
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		end := closingQuote(s)
		if end < 0 {
			return "", "", false
		}
		k, err := unquote(s[:end+1])
		rest := s[end+1:]
		if err != nil || (rest != ":" && !strings.HasPrefix(rest, ": ")) {
			return "", "", false
		}
		return k, strings.TrimSpace(rest[1:]), true
	}
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return "", "", false
	}
	if i := strings.Index(s, ": "); i > 0 {
		return s[:i], strings.TrimSpace(s[i+2:]), true
	}
	if strings.HasSuffix(s, ":") && len(s) > 1 {
		return s[:len(s)-1], "", true
	}
	return "", "", false
}

func scalarOrFlow(s string, line int) (any, error) {
	switch {
	case strings.HasPrefix(s, "{") || strings.HasPrefix(s, "["):
		f := &flow{s: s, line: line}
		v, err := f.value()
		if err == nil {
			f.space()
			if f.pos != len(f.s) {
				err = fmt.Errorf("line %d: unexpected %q after a flow collection", line, f.s[f.pos:])
			}
		}
		return v, err
	case strings.HasPrefix(s, "|") || strings.HasPrefix(s, ">") || strings.HasPrefix(s, "&") ||
		strings.HasPrefix(s, "*") || strings.HasPrefix(s, "!"):
		return nil, fmt.Errorf("line %d: YAML feature not supported in a kubeconfig here: %q", line, s)
	}
	return scalar(s, line)
}

func scalar(s string, line int) (any, error) {
	if s != "" && (s[0] == '"' || s[0] == '\'') {
		if closingQuote(s) != len(s)-1 {
			return nil, fmt.Errorf("line %d: unterminated or trailing text after quoted string %s", line, s)
		}
		v, err := unquote(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		return v, nil
	}
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	case "null", "Null", "NULL", "~", "":
		return nil, nil
	}
	return s, nil
}

// closingQuote returns the index of the quote that closes s's first one.
func closingQuote(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

func unquote(s string) (string, error) {
	if s[0] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	return strconv.Unquote(s)
}

// stripComment removes a comment: "#" at the start or after a blank,
// outside quotes.
func stripComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' || strings.ContainsRune("[{,:", rune(s[i-1])) {
				q = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// flow parses a one-line flow collection.
type flow struct {
	s    string
	pos  int
	line int
}

func (f *flow) space() {
	for f.pos < len(f.s) && f.s[f.pos] == ' ' {
		f.pos++
	}
}

func (f *flow) errf(format string, args ...any) error {
	return fmt.Errorf("line %d: "+format, append([]any{f.line}, args...)...)
}

func (f *flow) value() (any, error) {
	f.space()
	if f.pos >= len(f.s) {
		return nil, f.errf("flow collection not closed on its line")
	}
	switch f.s[f.pos] {
	case '{':
		return f.collection('}')
	case '[':
		return f.collection(']')
	case '"', '\'':
		end := closingQuote(f.s[f.pos:])
		if end < 0 {
			return nil, f.errf("unterminated string")
		}
		v, err := unquote(f.s[f.pos : f.pos+end+1])
		f.pos += end + 1
		return v, err
	}
	start := f.pos
	for f.pos < len(f.s) && !strings.ContainsRune(",]}", rune(f.s[f.pos])) &&
		!(f.s[f.pos] == ':' && (f.pos+1 == len(f.s) || f.s[f.pos+1] == ' ')) {
		f.pos++
	}
	return scalar(strings.TrimSpace(f.s[start:f.pos]), f.line)
}

func (f *flow) collection(end byte) (any, error) {
	f.pos++ // opening bracket
	m, seq := map[string]any{}, []any{}
	for {
		f.space()
		if f.pos < len(f.s) && f.s[f.pos] == end {
			f.pos++
			if end == '}' {
				return m, nil
			}
			return seq, nil
		}
		v, err := f.value()
		if err != nil {
			return nil, err
		}
		f.space()
		if end == '}' {
			k, ok := v.(string)
			if !ok || f.pos >= len(f.s) || f.s[f.pos] != ':' {
				return nil, f.errf("expected \"key: value\" in a flow mapping")
			}
			f.pos++
			if v, err = f.value(); err != nil {
				return nil, err
			}
			m[k] = v
			f.space()
		} else {
			seq = append(seq, v)
		}
		switch {
		case f.pos < len(f.s) && f.s[f.pos] == ',':
			f.pos++
		case f.pos < len(f.s) && f.s[f.pos] == end:
		default:
			return nil, f.errf("expected , or %c", end)
		}
	}
}
