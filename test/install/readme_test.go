package install_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/localytics-operator/localytics-operator/internal/testenv"
)

// The README and docs/ are read by someone who cloned this repository and
// nothing else: these tests hold them to the repository (every relative link
// resolves inside it, to a file or a heading that exists) and to the code
// (every condition reason the controllers set has a row in the README's
// troubleshooting table).

// outsideRepo matches text that points at the workspace around the
// repository, which a user does not have.
var outsideRepo = regexp.MustCompile(`\.\./shared\b|\bshared/(DESIGN|API-NOTES|STYLE)\.md|\bshared/seed\b`)

var (
	// mdLink is the target of an inline link or image: [text](target "title").
	mdLink = regexp.MustCompile(`\]\(\s*<?([^()\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// mdRefDef is a reference definition: [label]: target.
	mdRefDef = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	// inlineCode is a code span; links inside one are text, not links.
	inlineCode = regexp.MustCompile("`+[^`]*`+")
	// urlScheme starts an absolute URL (https:, mailto:, ...).
	urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// atxHeading is a heading line: ## Title.
	atxHeading = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	// headingLink is a link inside a heading, whose text the anchor keeps.
	headingLink = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// markdownFile is a Markdown file of the repository, split into lines, with
// the lines of fenced code blocks blanked (they hold no links or headings).
type markdownFile struct {
	rel   string // slash-separated, relative to the repository
	lines []string
}

func readMarkdown(t *testing.T, root, rel string) markdownFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence == "" && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			fence = trimmed[:3]
			lines[i] = ""
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			lines[i] = ""
		}
	}
	return markdownFile{rel: rel, lines: lines}
}

// documentation is every Markdown file a user reads: README.md, docs/*.md
// and the READMEs next to the code, outside bin/, dist/ and testdata.
func documentation(t *testing.T, root string) []string {
	t.Helper()
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) == 0 {
		t.Fatal("docs/ holds no Markdown file")
	}
	for _, d := range docs {
		files = append(files, "docs/"+filepath.Base(d))
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch {
			case rel == ".":
				return nil
			case strings.HasPrefix(d.Name(), "."), rel == "bin", rel == "dist", rel == "docs", d.Name() == "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".md") && rel != "README.md" {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// headingAnchors are the anchors GitHub gives the headings of a file:
// lower case, punctuation dropped, spaces made hyphens, repeats numbered.
func headingAnchors(f markdownFile) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range f.lines {
		m := atxHeading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		text := headingLink.ReplaceAllString(m[2], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			anchors[slug+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// link is one link target of a Markdown file.
type link struct {
	line   int
	target string
}

func links(f markdownFile) []link {
	var out []link
	for i, line := range f.lines {
		if m := mdRefDef.FindStringSubmatch(line); m != nil {
			out = append(out, link{i + 1, m[1]})
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(inlineCode.ReplaceAllString(line, "``"), -1) {
			out = append(out, link{i + 1, m[1]})
		}
	}
	return out
}

// TestDocsStandAlone fails when the README or a document points outside the
// repository, or links to a file or a heading that does not exist in it.
func TestDocsStandAlone(t *testing.T) {
	root, err := filepath.Abs(testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	files := documentation(t, root)
	parsed := map[string]markdownFile{}
	parse := func(rel string) markdownFile {
		if f, ok := parsed[rel]; ok {
			return f
		}
		f := readMarkdown(t, root, rel)
		parsed[rel] = f
		return f
	}

	checked := 0
	for _, rel := range files {
		raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if m := outsideRepo.FindString(line); m != "" {
				t.Errorf("%s:%d: %q points outside the repository, which a user who cloned it does not have: %s",
					rel, i+1, m, strings.TrimSpace(line))
			}
		}

		f := parse(rel)
		for _, l := range links(f) {
			checked++
			if urlScheme.MatchString(l.target) || strings.HasPrefix(l.target, "//") {
				continue // an absolute URL
			}
			pathPart, fragment, _ := strings.Cut(l.target, "#")
			pathPart, _, _ = strings.Cut(pathPart, "?")
			if unescaped, err := url.PathUnescape(pathPart); err == nil {
				pathPart = unescaped
			}
			var resolved string
			switch {
			case pathPart == "":
				resolved = rel // an anchor of this file
			case strings.HasPrefix(pathPart, "/"):
				resolved = path.Clean(strings.TrimPrefix(pathPart, "/")) // GitHub: from the repository's root
			default:
				resolved = path.Join(path.Dir(rel), pathPart)
			}
			if resolved == ".." || strings.HasPrefix(resolved, "../") {
				t.Errorf("%s:%d: the link %q leaves the repository", rel, l.line, l.target)
				continue
			}
			info, err := os.Stat(filepath.Join(root, filepath.FromSlash(resolved)))
			if err != nil {
				t.Errorf("%s:%d: the link %q names %s, which is not in the repository", rel, l.line, l.target, resolved)
				continue
			}
			if fragment == "" || info.IsDir() || !strings.HasSuffix(resolved, ".md") {
				continue
			}
			if !headingAnchors(parse(resolved))[fragment] {
				t.Errorf("%s:%d: the link %q names the heading #%s, which %s does not have", rel, l.line, l.target, fragment, resolved)
			}
		}
	}
	if checked < 20 {
		t.Errorf("found only %d links in %v: is the link pattern still right?", checked, files)
	}
}

// conditionReason is a reason the code may set on a condition, with where
// it is defined.
type conditionReason struct {
	value, where string
}

// reasonPackages are the directories whose Go files may define condition
// reasons (constants named Reason...). The controllers also set reasons as
// literals: a summary's reason field, or the first argument of stalled,
// waiting and transient.
var reasonPackages = []string{"api", "controllers", "internal"}

// failureConstructors are the controllers' functions whose first argument
// is a condition reason.
var failureConstructors = []string{"stalled", "waiting", "transient"}

func codeReasons(t *testing.T, root string) []conditionReason {
	t.Helper()
	var reasons []conditionReason
	fset := token.NewFileSet()
	add := func(lit ast.Expr, name string) {
		bl, ok := lit.(*ast.BasicLit)
		if !ok || bl.Kind != token.STRING {
			return
		}
		v, err := strconv.Unquote(bl.Value)
		if err != nil {
			t.Fatalf("%s: %v", fset.Position(bl.Pos()), err)
		}
		pos := fset.Position(bl.Pos())
		rel, _ := filepath.Rel(root, pos.Filename)
		where := filepath.ToSlash(rel) + ":" + strconv.Itoa(pos.Line)
		if name != "" {
			where += " (" + name + ")"
		}
		reasons = append(reasons, conditionReason{value: v, where: where})
	}
	for _, dir := range reasonPackages {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			file, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			inControllers := filepath.Base(filepath.Dir(p)) == "controllers"
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.GenDecl:
					if n.Tok != token.CONST {
						return true
					}
					for _, spec := range n.Specs {
						vs := spec.(*ast.ValueSpec)
						for i, name := range vs.Names {
							if isReasonName(name.Name) && i < len(vs.Values) {
								add(vs.Values[i], name.Name)
							}
						}
					}
				case *ast.KeyValueExpr:
					if key, ok := n.Key.(*ast.Ident); ok && inControllers && key.Name == "reason" {
						add(n.Value, "")
					}
				case *ast.CallExpr:
					if fn, ok := n.Fun.(*ast.Ident); ok && inControllers && slices.Contains(failureConstructors, fn.Name) && len(n.Args) > 0 {
						add(n.Args[0], "")
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return reasons
}

// isReasonName tells whether a constant's name is that of a condition
// reason: Reason followed by a capital letter.
func isReasonName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Reason")
	return ok && rest != "" && unicode.IsUpper(rune(rest[0]))
}

// troubleshootingHeading is the README section whose table must list every
// condition reason.
const troubleshootingHeading = "## Troubleshooting by condition reason"

// tableReasons returns the reasons in the first column of the
// troubleshooting table's rows, with their line numbers.
func tableReasons(t *testing.T, root string) map[string]int {
	t.Helper()
	f := readMarkdown(t, root, "README.md")
	start := slices.IndexFunc(f.lines, func(l string) bool { return strings.TrimSpace(l) == troubleshootingHeading })
	if start < 0 {
		t.Fatalf("README.md has no %q section", troubleshootingHeading)
	}
	code := regexp.MustCompile("`([^`]+)`")
	rows := map[string]int{}
	for i := start + 1; i < len(f.lines); i++ {
		line := strings.TrimSpace(f.lines[i])
		if strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "# ") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for _, m := range code.FindAllStringSubmatch(cells[0], -1) {
			rows[m[1]] = i + 1
		}
	}
	if len(rows) == 0 {
		t.Fatalf("README.md: the %q section has no table rows with a `Reason` in their first column", troubleshootingHeading)
	}
	return rows
}

// TestReadmeTroubleshootingTable fails when a condition reason the code
// defines has no row in the README's troubleshooting table, or when a row
// names a reason the code no longer has.
func TestReadmeTroubleshootingTable(t *testing.T) {
	root, err := filepath.Abs(testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	reasons := codeReasons(t, root)
	known := map[string]bool{}
	for _, r := range reasons {
		known[r.value] = true
	}
	// The parse must find what the code surely has, or an empty result
	// would pass.
	for _, want := range []string{"CredentialsVerified", "Completed", "InSync", "DeleteBlocked", "QuotaExhausted", "Progressing"} {
		if !known[want] {
			t.Fatalf("the reason %q was not found in %v: is the parse of the Go source still right?", want, reasonPackages)
		}
	}

	rows := tableReasons(t, root)
	missing := map[string]bool{}
	for _, r := range reasons {
		if _, ok := rows[r.value]; !ok && !missing[r.value] {
			missing[r.value] = true
			t.Errorf("the condition reason %q (%s) has no row in README.md's %q table: add | `%s` | kinds | condition | meaning | what to do |",
				r.value, r.where, troubleshootingHeading, r.value)
		}
	}
	for value, line := range rows {
		if !known[value] {
			t.Errorf("README.md:%d: the troubleshooting table lists %q, which no controller sets", line, value)
		}
	}
}
