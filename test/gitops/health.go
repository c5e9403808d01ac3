// Package gitops runs the Argo CD health check for PetSets that
// docs/gitops.md ships (a Lua script, run here with gopher-lua, the
// interpreter Argo CD embeds) against PetSet objects, so the documented
// script is the tested one.
package gitops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Health statuses Argo CD knows.
const (
	Healthy     = "Healthy"
	Progressing = "Progressing"
	Degraded    = "Degraded"
)

// DocPath is the file holding the health check.
func DocPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "gitops.md")
}

// ScriptFromDoc returns the body of the one ```lua block of the markdown
// file.
func ScriptFromDoc(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(string(b), "```lua\n")
	if !ok {
		return "", fmt.Errorf("%s: no ```lua block", path)
	}
	script, _, ok := strings.Cut(rest, "```")
	if !ok {
		return "", fmt.Errorf("%s: the ```lua block is not closed", path)
	}
	if strings.Contains(rest[len(script):], "```lua\n") {
		return "", fmt.Errorf("%s: more than one ```lua block", path)
	}
	return script, nil
}

// Health runs script with the global obj set to the object (decoded JSON)
// as Argo CD does, and returns the status and message of the table it
// returns.
func Health(script string, obj map[string]any) (status, message string, err error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: false})
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", errors.New("the script returned no table")
	}
	status = lua.LVAsString(ret.RawGetString("status"))
	message = lua.LVAsString(ret.RawGetString("message"))
	switch status {
	case Healthy, Progressing, Degraded, "Suspended", "Missing", "Unknown":
		return status, message, nil
	}
	return "", "", fmt.Errorf("the script returned status %q, not one Argo CD knows", status)
}

// toLua converts decoded JSON to Lua values: objects and arrays become
// tables (arrays 1-based), numbers LNumber.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}
