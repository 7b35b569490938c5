package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// codeReasons is every reason the code can answer, with its status: the
// lists of each package that refuses requests with a Valet-Reason.
func codeReasons() map[string]int {
	m := map[string]int{}
	for _, r := range token.Reasons {
		m[string(r)] = r.Status()
	}
	for _, r := range valetstore.Reasons {
		m[string(r)] = r.Status()
	}
	return m
}

// reasonWords is codeReasons as a set.
func reasonWords() map[string]bool {
	set := map[string]bool{}
	for r := range codeReasons() {
		set[r] = true
	}
	return set
}

// readmeReasonTables reads README.md's denial tables: every table whose
// header's second column names "reasons", with rows "| status | `a`, `b`
// (a note), ... |". It returns reason -> statuses listed.
func readmeReasonTables(t *testing.T) map[string][]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string][]int{}
	tables := 0
	inTable := false
	for i, line := range strings.Split(string(b), "\n") {
		cells := tableCells(line)
		switch {
		case cells == nil:
			inTable = false
		case !inTable && len(cells) >= 2 && strings.Contains(cells[1], "reasons"):
			inTable, tables = true, tables+1
		case inTable && strings.Trim(cells[0], "-: ") == "":
			// the delimiter row
		case inTable:
			status, err := strconv.Atoi(cells[0])
			if err != nil || len(cells) < 2 {
				t.Fatalf("README.md:%d: a reasons row must be | status | reasons |: %q", i+1, line)
			}
			for _, item := range strings.Split(withoutNotes(cells[1]), ",") {
				item = strings.TrimSpace(item)
				word := strings.Trim(item, "`")
				if !regexp.MustCompile("^`[a-z_]+`$").MatchString(item) {
					t.Fatalf("README.md:%d: %q is not a `reason` (items are `reason` or `reason` (note), separated by commas)", i+1, item)
				}
				listed[word] = append(listed[word], status)
			}
		}
	}
	if tables < 2 {
		t.Fatalf("README.md has %d reasons tables, want the gate's and the store's", tables)
	}
	return listed
}

// tableCells splits a Markdown table row; nil when line is not one.
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "|") {
		return nil
	}
	cells := strings.Split(strings.Trim(line, "|"), "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells
}

// withoutNotes drops parenthesized notes, nested ones included.
func withoutNotes(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every reason the code can answer is in README's denial tables with its
// status, and the tables list no reason (or status) the code never answers.
func TestREADMEListsEveryReason(t *testing.T) {
	code := codeReasons()
	listed := readmeReasonTables(t)
	var problems []string
	for r, status := range code {
		found := false
		for _, s := range listed[r] {
			found = found || s == status
		}
		if !found {
			problems = append(problems, "the code answers "+strconv.Itoa(status)+" "+r+"; README's tables do not list it under "+strconv.Itoa(status))
		}
	}
	for r, statuses := range listed {
		for _, s := range statuses {
			if status, ok := code[r]; !ok || status != s {
				problems = append(problems, "README lists "+strconv.Itoa(s)+" "+r+"; the code never answers that")
			}
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Error(p)
	}
}

// The README's walkthroughs (Walkthrough, When a link is refused, Uploads,
// Revocation) run as written against Caddyfile.example, only with free
// ports instead of 8080 and 2019, in a copy of the files they use.
func TestREADMEWalkthrough(t *testing.T) {
	testenv.Require(t, "curl")
	testenv.Require(t, "wget")
	work := docWorkdir(t)

	site := testenv.Addr(testenv.FreePort(t))
	example, err := os.ReadFile(filepath.Join(work, "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	config := strings.NewReplacer(
		"admin localhost:2019", "admin {ADMIN}",
		"http://localhost:8080", "http://"+site,
		"examples/", filepath.Join(work, "examples")+"/",
	).Replace(string(example))
	// Its header comment would hide the global options from StartCaddy.
	for strings.HasPrefix(config, "#") {
		_, config, _ = strings.Cut(config, "\n")
	}
	g := testenv.StartCaddy(t, config, "http://"+site+"/")

	steps := docSteps(t, "README.md", "Walkthrough", "When a link is refused", "Uploads", "Revocation")
	ports := strings.NewReplacer("localhost:8080", site, "localhost:2019", g.AdminAddr)
	data := filepath.Join(g.Dir, "data")
	runDocSteps(t, work, []string{"XDG_DATA_HOME=" + data}, steps, ports, reasonWords(), 3*time.Minute)

	// What the prose around the commands says.
	if _, err := os.Stat(filepath.Join(data, "caddy", "valet", "revocations.db")); err != nil {
		t.Errorf("the revocation store is not where README says: %v", err)
	}
	if tree := testenv.Tree(t, filepath.Join(work, "examples", "files", "uploads")); len(tree) != 1 { // the folder itself
		t.Errorf("the uploads walkthrough left files behind: %v", tree)
	}
	logs := g.Logs()
	if !regexp.MustCompile(`"valet_jti":"[A-Za-z0-9_-]{16,}"`).MatchString(logs) {
		t.Error("the access log names no valet_jti")
	}
	if !strings.Contains(logs, `"msg":"valet denied request","reason":"out_of_scope","jti":"`) {
		t.Error("Caddy's log has no denial line as README shows it")
	}
	if i := strings.Index(logs, "eyJ"); i >= 0 {
		t.Errorf("a token reached the logs: ...%s...", logs[max(0, i-300):min(len(logs), i+100)])
	}
}
