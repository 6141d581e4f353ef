//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// launch measures what a launch through mcp-secrets adds to starting a
// child directly: `true` alone, then `exec -- true` and `run -- true` with
// 0, 10 and 100 dotenv references (medians of many runs), and the
// launcher's peak RSS while a child runs.
func launch(cfg config) ([]row, error) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-launch")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	direct, err := timeRuns(cfg.runs, nil, truePath)
	if err != nil {
		return nil, err
	}
	rows := []row{{"true, directly", ms(direct), "median of " + fmt.Sprint(cfg.runs)}}
	for _, n := range []int{0, 10, 100} {
		env, err := refsEnv(dir, n)
		if err != nil {
			return nil, err
		}
		for _, mode := range []string{"exec", "run"} {
			d, err := timeRuns(cfg.runs, env, cfg.cli, mode, "--", truePath)
			if err != nil {
				return nil, fmt.Errorf("%s with %d references: %w", mode, n, err)
			}
			target := map[string]time.Duration{"exec": 5 * time.Millisecond, "run": 10 * time.Millisecond}[mode]
			note := fmt.Sprintf("+%s over true (x%.1f)", ms(d-direct), float64(d)/float64(direct))
			if n == 100 {
				note += fmt.Sprintf("; target +%s", ms(target))
			}
			rows = append(rows, row{fmt.Sprintf("%s -- true, %d references", mode, n), ms(d), note})
		}
	}
	env, _ := refsEnv(dir, 100)
	rss, err := peakRSS(cfg.cli, env)
	if err != nil {
		return rows, err
	}
	rows = append(rows, row{"run: launcher peak RSS (VmHWM), 100 references", fmt.Sprintf("%d KiB", rss), "while its child sleeps"})
	return rows, nil
}

// refsEnv writes a .env with n values and returns an environment holding a
// reference to each, run from dir.
func refsEnv(dir string, n int) ([]string, error) {
	var dotenv strings.Builder
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	for i := range n {
		fmt.Fprintf(&dotenv, "KEY_%d=value-%d-0123456789abcdef\n", i, i)
		env = append(env, fmt.Sprintf("VAR_%d=$<KEY_%d>", i, i))
	}
	path := filepath.Join(dir, ".env")
	env = append(env, "MCP_SECRETS_BENCH_DIR="+dir)
	return env, os.WriteFile(path, []byte(dotenv.String()), 0o600)
}

// timeRuns starts argv runs times and returns the median wall time from
// start to exit.
func timeRuns(runs int, env []string, argv ...string) (time.Duration, error) {
	d := make([]time.Duration, 0, runs)
	for range runs {
		cmd := exec.Command(argv[0], argv[1:]...)
		if env != nil {
			cmd.Env = env
			cmd.Dir = envDir(env)
		}
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("%v: %v: %s", argv, err, out)
		}
		d = append(d, time.Since(start))
	}
	return median(d), nil
}

func envDir(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "MCP_SECRETS_BENCH_DIR="); ok {
			return v
		}
	}
	return ""
}

// peakRSS runs `run -- sleep` and reads the launcher's VmHWM while the
// child sleeps.
func peakRSS(cli string, env []string) (int, error) {
	cmd := exec.Command(cli, "run", "--", "sleep", "1")
	cmd.Env, cmd.Dir = env, envDir(env)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Wait()
	time.Sleep(500 * time.Millisecond)
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		if _, err := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &kb); err == nil {
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", cmd.Process.Pid)
}
