package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The documentation's shell walkthroughs are kept true by running them: the
// ```sh blocks of chosen sections, in order, in one bash script, against a
// real gateway. A command's trailing comment is its expected answer when it
// has one of these forms:
//
//	curl -i ...   # 403 out_of_scope   the last HTTP status and the Valet-Reason
//	curl -i ...   # 200, any prose     the last HTTP status; below 400, no
//	curl -i ...   # 204                Valet-Reason may be sent
//	cmd ...       # prints TEXT        stdout or stderr contains TEXT
//
// A word right after the status must be a reason the code knows. Any other
// comment is prose.

// docStep is one command of a walkthrough, continuation lines joined.
type docStep struct {
	line   int    // in the document, for failure messages
	cmd    string // the command, without its comment
	expect string // the comment, when it is an expectation
}

var (
	statusExpect = regexp.MustCompile(`^(\d{3})(?:$|,| +([^ :,]*))`)
	httpStatus   = regexp.MustCompile(`(?m)^HTTP/\S+ (\d{3})`)
	reasonHeader = regexp.MustCompile(`(?mi)^Valet-Reason:\s*(\S+)`)
)

// docSections returns the text of the named sections of a Markdown file
// (a heading of any level, up to the next heading of the same or a higher
// level), in document order, with the line number each starts at.
func docSections(t *testing.T, file string, names ...string) (lines []string, first []int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), file))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Split(string(b), "\n")
	level, found := 0, map[string]bool{}
	inFence := false
	for i, l := range all {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
		}
		if !inFence && strings.HasPrefix(l, "#") {
			hashes := len(l) - len(strings.TrimLeft(l, "#"))
			name := strings.TrimSpace(l[hashes:])
			switch {
			case slices.Contains(names, name):
				level, found[name] = hashes, true
				continue
			case level > 0 && hashes <= level:
				level = 0
			}
		}
		if level > 0 {
			lines = append(lines, l)
			first = append(first, i+1)
		}
	}
	for _, n := range names {
		if !found[n] {
			t.Fatalf("%s has no section %q", file, n)
		}
	}
	return lines, first
}

// docSteps returns the commands of the ```sh blocks of the named sections.
func docSteps(t *testing.T, file string, sections ...string) []docStep {
	t.Helper()
	lines, numbers := docSections(t, file, sections...)
	var steps []docStep
	inSh, cont := false, false
	for i, l := range lines {
		switch {
		case !inSh && l == "```sh":
			inSh = true
			continue
		case inSh && l == "```":
			inSh = false
			continue
		case !inSh || strings.TrimSpace(l) == "":
			continue
		}
		joined, more := strings.CutSuffix(l, `\`)
		if cont {
			steps[len(steps)-1].cmd += " " + strings.TrimSpace(joined)
		} else {
			steps = append(steps, docStep{line: numbers[i], cmd: joined})
		}
		cont = more
		if !more {
			s := &steps[len(steps)-1]
			cmd, comment := splitComment(s.cmd)
			s.cmd = strings.TrimSpace(cmd)
			if statusExpect.MatchString(comment) || strings.HasPrefix(comment, "prints ") {
				s.expect = comment
			}
		}
	}
	if len(steps) == 0 {
		t.Fatalf("%s %q: no ```sh blocks", file, sections)
	}
	return steps
}

// splitComment cuts a shell line at its comment: a # after white space,
// outside quotes.
func splitComment(line string) (cmd, comment string) {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && i > 0 && (line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], strings.TrimSpace(line[i+1:])
		}
	}
	return line, ""
}

// runDocSteps runs the steps in one bash script in dir (each command with
// every old string of replace replaced), then checks each expectation.
// reasons are the words a status expectation may name as Valet-Reason.
func runDocSteps(t *testing.T, dir string, env []string, steps []docStep, replace *strings.Replacer, reasons map[string]bool, limit time.Duration) {
	t.Helper()
	bash := testenv.Require(t, "bash")
	out := t.TempDir()
	var script strings.Builder
	// The trace goes to fd 9, never into a command's captured output.
	script.WriteString("exec 9>&2; BASH_XTRACEFD=9\ncd " + strconv.Quote(dir) + "\n")
	checks := 0
	for i, s := range steps {
		cmd := replace.Replace(s.cmd)
		if s.expect == "" {
			script.WriteString(cmd + "\n")
			continue
		}
		checks++
		name := filepath.Join(out, strconv.Itoa(i))
		fmt.Fprintf(&script, "{ %s\n} >%q 2>%q\n", cmd, name, name+".err")
	}
	fmt.Fprintf(&script, "echo ok >%q\n", filepath.Join(out, "done"))
	if checks < 3 {
		t.Fatalf("only %d commands with an expected answer: the walkthrough parser found too little", checks)
	}
	// -x: the trace (with times) is what a failure shows.
	cmd := exec.Command(bash, "-xc", `PS4='+ $(date +%T.%N | cut -c1-12) '`+"\n"+script.String())
	cmd.Env = append(os.Environ(), env...)
	done := make(chan struct{})
	var combined []byte
	var err error
	go func() { combined, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the walkthrough did not finish within %s:\n%s", limit, combined)
	}
	if _, serr := os.Stat(filepath.Join(out, "done")); serr != nil {
		t.Fatalf("the walkthrough stopped early (%v):\n%s", err, combined)
	}
	for i, s := range steps {
		if s.expect == "" {
			continue
		}
		stdout, _ := os.ReadFile(filepath.Join(out, strconv.Itoa(i)))
		stderr, _ := os.ReadFile(filepath.Join(out, strconv.Itoa(i)+".err"))
		if msg := checkExpect(s.expect, string(stdout), string(stderr), reasons); msg != "" {
			t.Errorf("line %d: %s\n  # %s\n%s\nstdout:\n%s\nstderr:\n%s", s.line, s.cmd, s.expect, msg, brief(string(stdout)), brief(string(stderr)))
		}
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("trace:\n%s", combined)
	}
}

// checkExpect compares one command's output with its expected answer: a
// status with the answer curl -i printed on stdout, "prints" with either.
func checkExpect(expect, got, stderr string, reasons map[string]bool) string {
	if text, ok := strings.CutPrefix(expect, "prints "); ok {
		if !strings.Contains(got, text) && !strings.Contains(stderr, text) {
			return "the output lacks " + strconv.Quote(text)
		}
		return ""
	}
	m := statusExpect.FindStringSubmatch(expect)
	status := ""
	for _, sm := range httpStatus.FindAllStringSubmatch(got, -1) {
		if sm[1][0] != '1' { // 100 Continue comes before the answer
			status = sm[1]
		}
	}
	reason := ""
	if rm := reasonHeader.FindStringSubmatch(got); rm != nil {
		reason = rm[1]
	}
	switch {
	case status != m[1]:
		return fmt.Sprintf("status %q, want %s", status, m[1])
	case m[2] != "" && !reasons[m[2]]:
		return fmt.Sprintf("%q after the status is no reason the code answers (write a comma before prose)", m[2])
	case m[2] != "" && reason != m[2]:
		return fmt.Sprintf("Valet-Reason %q, want %s", reason, m[2])
	case m[1] < "400" && reason != "":
		return fmt.Sprintf("Valet-Reason %q on a success", reason)
	}
	return ""
}

// brief keeps long outputs out of failure messages.
func brief(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "..."
	}
	return s
}

// copyTree copies the files under src (a repository path) into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(testenv.RepoRoot(), src))); err != nil {
		t.Fatal(err)
	}
}

// docBlock returns the first ```lang block of a section.
func docBlock(t *testing.T, file, section, lang string) string {
	t.Helper()
	lines, _ := docSections(t, file, section)
	var b strings.Builder
	in := false
	for _, l := range lines {
		switch {
		case !in && l == "```"+lang:
			in = true
		case in && l == "```":
			return b.String()
		case in:
			b.WriteString(l + "\n")
		}
	}
	t.Fatalf("%s %q has no ```%s block", file, section, lang)
	return ""
}

// docWorkdir is a directory holding what the walkthroughs use from the
// repository root (examples/, README.md, Caddyfile.example) and ./caddy,
// our build, so they run as written without touching the checkout.
func docWorkdir(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	copyTree(t, "examples", filepath.Join(work, "examples"))
	for _, f := range []string{"README.md", "Caddyfile.example"} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), f))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(work, f), string(b))
	}
	if err := os.Symlink(testenv.CaddyBinary(t), filepath.Join(work, "caddy")); err != nil {
		t.Fatal(err)
	}
	return work
}
