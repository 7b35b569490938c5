package integration

import (
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/valetkey/caddy-valet/caddymodule" // registers every module of ours
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// ourModules lists the IDs of the Caddy modules whose Go types live in this
// repository, as registered in this process, sorted.
func ourModules() []string {
	const modulePath = "github.com/valetkey/caddy-valet/"
	var ids []string
	for _, id := range caddy.Modules() {
		info, err := caddy.GetModule(id)
		if err != nil {
			continue
		}
		typ := reflect.TypeOf(info.New())
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if strings.HasPrefix(typ.PkgPath()+"/", modulePath) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// xcaddy.md's check prints exactly every module our packages register, and
// the built binary prints exactly what xcaddy.md shows.
func TestXcaddyCheckListsEveryModule(t *testing.T) {
	documented := docBlock(t, "xcaddy.md", "Building caddy-valet with xcaddy", "text")
	ours := ourModules()
	if len(ours) < 7 {
		t.Fatalf("found only %v: the registry lookup is broken", ours)
	}
	want := strings.Join(ours, "\n") + "\n\n  Non-standard modules: " + strconv.Itoa(len(ours)) + "\n"
	if documented != want {
		t.Errorf("xcaddy.md's check output:\n%s\nthe modules our packages register:\n%s", documented, want)
	}
	out, err := exec.Command(testenv.CaddyBinary(t), "list-modules", "--skip-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != documented {
		t.Errorf("./caddy list-modules --skip-standard printed:\n%s\nxcaddy.md shows:\n%s", out, documented)
	}
}
