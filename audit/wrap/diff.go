package wrap

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/audit/mcpconfig"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 2

// Diff is the rewrite as a unified diff with every secret masked: the old
// lines show each secret as its mask, the new ones hold references. Other
// secrets that stay (a remote server's headers) are masked on both sides.
func (p *Plan) Diff() string {
	data := p.File.Data
	starts := []int{0}
	for i, c := range data {
		if c == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	lineOf := func(off int) int { return sort.SearchInts(starts, off+1) - 1 }
	type span struct{ first, last int }
	var spans []span
	for _, e := range p.edits {
		spans = append(spans, span{lineOf(e.Start), lineOf(max(e.End-1, e.Start))})
	}
	// A hunk takes in every masked literal it touches whole, so a secret
	// spanning lines (a TOML multi-line string) is never cut in two.
	var masked []span
	for _, m := range p.masks {
		masked = append(masked, span{lineOf(m.Start), lineOf(max(m.End-1, m.Start))})
	}
	for i := range spans {
		spans[i].first = max(spans[i].first-diffContext, 0)
		spans[i].last = min(spans[i].last+diffContext, len(starts)-1)
	}
	var hunks []span
	for grown := true; grown; {
		grown = false
		slices.SortFunc(spans, func(a, b span) int { return a.first - b.first })
		hunks = hunks[:0]
		for _, s := range spans {
			for _, m := range masked {
				if m.first <= s.last && s.first <= m.last && (m.first < s.first || m.last > s.last) {
					s.first, s.last = min(s.first, m.first), max(s.last, m.last)
					grown = true
				}
			}
			if n := len(hunks); n > 0 && s.first <= hunks[n-1].last+1 {
				hunks[n-1].last = max(hunks[n-1].last, s.last)
				continue
			}
			hunks = append(hunks, s)
		}
		spans = slices.Clone(hunks)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", p.File.Path, p.File.Path)
	delta := 0
	for _, h := range hunks {
		r0, r1 := starts[h.first], len(data)
		if h.last+1 < len(starts) {
			r1 = starts[h.last+1]
		}
		old := lines(within(data, r0, r1, p.masks))
		var keep []mcpconfig.Splice
		for _, m := range p.masks {
			if !slices.ContainsFunc(p.edits, func(e mcpconfig.Splice) bool { return m.Start < e.End && e.Start < m.End }) {
				keep = append(keep, m)
			}
		}
		neu := lines(within(data, r0, r1, append(slices.Clone(p.edits), keep...)))
		fmt.Fprintf(&b, "@@ -%d,%d +%d,%d @@\n", h.first+1, len(old), h.first+1+delta, len(neu))
		delta += len(neu) - len(old)
		for _, l := range diffLines(old, neu) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// within applies the splices that fall in data[r0:r1] to that part.
func within(data []byte, r0, r1 int, splices []mcpconfig.Splice) string {
	var in []mcpconfig.Splice
	for _, s := range splices {
		if s.Start >= r0 && s.End <= r1 {
			in = append(in, mcpconfig.Splice{Start: s.Start - r0, End: s.End - r0, Text: s.Text})
		}
	}
	return string(mcpconfig.Apply(data[r0:r1], in))
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffLines is the shortest edit of a into b (longest common subsequence),
// each line prefixed " ", "-" or "+". Hunks are a few lines: quadratic is
// fine.
func diffLines(a, b []string) []string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, " "+a[i])
			i++
			j++
		case j >= m || i < n && lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, "-"+a[i])
			i++
		default:
			out = append(out, "+"+b[j])
			j++
		}
	}
	return out
}
