// Linux only: it reads RSS from /proc and stops servers by process group.

//go:build linux

// Command bench measures mcp-secrets as a user meets it, whole processes
// against real servers, beside the tools people use today, and prints a
// table per section. `make bench` runs it after the Go benchmarks.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.cli, "mcp-secrets", "bin/mcp-secrets", "the mcp-secrets binary")
	flag.StringVar(&cfg.consulTemplate, "consul-template", "", "the consul-template binary, for the rotation comparison")
	flag.IntVar(&cfg.runs, "runs", 200, "runs per launch measurement")
	only := flag.String("only", "", "run only this section")
	blob := flag.Int("blob-server", 0, "internal: act as the MCP blob server of the mcp section, answering with this many bytes")
	lines := flag.Bool("blob-lines", false, "internal: the blob server's text is lines (a newline every 80 bytes), as most tool results are")
	flag.Parse()
	if *blob > 0 {
		blobServer(*blob, *lines)
		return
	}
	if abs, err := filepath.Abs(cfg.cli); err == nil {
		cfg.cli = abs // children run in their own directories
	}
	sections := []struct {
		name string
		run  func(config) ([]row, error)
	}{
		{"launch", launch},
		{"mcp", mcpBench},
		{"serve", serveBench},
		{"webhook", webhookBench},
		{"connect", connectBench},
	}
	failed := false
	for _, s := range sections {
		if *only != "" && *only != s.name {
			continue
		}
		rows, err := s.run(cfg)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			failed = true
		}
		printTable(s.name, rows)
	}
	if failed {
		os.Exit(1)
	}
}

type config struct {
	cli            string
	consulTemplate string
	runs           int
}

// row is one line of a section's table.
type row struct {
	what, value, note string
}

func printTable(section string, rows []row) {
	fmt.Printf("\n## %s\n\n", section)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASUREMENT\tVALUE\tNOTE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.what, r.value, r.note)
	}
	tw.Flush()
}

// median of durations.
func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
