// The PrometheusRule's alerts pass `promtool check rules` and the unit
// tests of prometheusrule_test.yml; the alerts and the Grafana dashboard
// query only metrics the sidecar exports.
package kubernetes_test

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mcp-secrets/mcp-secrets/sidecar"
)

// prometheusRule is the part of a monitoring.coreos.com/v1 PrometheusRule
// the example uses, decoded strictly: a misspelt field fails.
type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func loadRule(t *testing.T) prometheusRule {
	t.Helper()
	data, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var pr prometheusRule
	if err := yaml.UnmarshalStrict(data, &pr); err != nil {
		t.Fatalf("prometheusrule.yaml: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || len(pr.Spec.Groups) == 0 {
		t.Fatalf("prometheusrule.yaml: %s %s with %d groups, want a PrometheusRule", pr.APIVersion, pr.Kind, len(pr.Spec.Groups))
	}
	return pr
}

// The alerts the README promises: a failing provider, failing rotations,
// crash-looping children, sessions at the cap.
func TestAlertRules(t *testing.T) {
	pr := loadRule(t)
	exported := exportedMetrics(t)
	var alerts []string
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			checkMetrics(t, "alert "+r.Alert, r.Expr, exported)
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: no severity, summary or description", r.Alert)
			}
		}
	}
	slices.Sort(alerts)
	if want := []string{"MCPSecretsChildCrashLooping", "MCPSecretsProviderFailing", "MCPSecretsRotationFailing", "MCPSecretsSessionsAtCap"}; !slices.Equal(alerts, want) {
		t.Errorf("alerts %q, want %q", alerts, want)
	}
}

// promtool checks the PrometheusRule's groups, as the plain rules file a
// Prometheus without the operator reads, and runs their unit tests. The
// control: the same tests against rules that never fire must fail.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if testing.Short() {
			t.Skip("promtool not found")
		}
		t.Fatalf("promtool checks the alerts: install Debian's prometheus package (.ci/run does): %v", err)
	}
	pr := loadRule(t)
	dir := t.TempDir()
	writeRules := func(groups []ruleGroup) {
		t.Helper()
		data, err := yaml.Marshal(map[string]any{"groups": groups})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules.yml"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests, err := os.ReadFile("prometheusrule_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheusrule_test.yml"), tests, 0o600); err != nil {
		t.Fatal(err)
	}
	promtoolRun := func(args ...string) (string, error) {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	writeRules(pr.Spec.Groups)
	if out, err := promtoolRun("check", "rules", "rules.yml"); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if out, err := promtoolRun("test", "rules", "prometheusrule_test.yml"); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	never := make([]ruleGroup, len(pr.Spec.Groups))
	for i, g := range pr.Spec.Groups {
		never[i] = ruleGroup{Name: g.Name}
		for _, r := range g.Rules {
			r.Expr = "vector(0) > 1"
			never[i].Rules = append(never[i].Rules, r)
		}
	}
	writeRules(never)
	out, err := promtoolRun("test", "rules", "prometheusrule_test.yml")
	if err == nil {
		t.Fatalf("the unit tests pass against alerts that never fire: they test nothing\n%s", out)
	}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if !strings.Contains(out, "alertname: "+r.Alert) {
				t.Errorf("no unit test expects alert %s to fire", r.Alert)
			}
		}
	}
}

// grafana-dashboard.json is a dashboard whose every query names metrics
// the sidecar exports.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int    `json:"id"`
			Title   string `json:"title"`
			Type    string `json:"type"`
			GridPos struct {
				H, W, X, Y int
			} `json:"gridPos"`
			Datasource struct {
				Type, UID string
			} `json:"datasource"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("grafana-dashboard.json: title %q, uid %q, %d panels", d.Title, d.UID, len(d.Panels))
	}
	exported := exportedMetrics(t)
	seen := map[int]bool{}
	queried := map[string]bool{}
	for _, p := range d.Panels {
		if seen[p.ID] || p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 || len(p.Targets) == 0 {
			t.Errorf("panel %d %q: a duplicate id, no title, no size or no query", p.ID, p.Title)
		}
		seen[p.ID] = true
		if p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the dashboard's Prometheus variable", p.Title, p.Datasource)
		}
		for _, tg := range p.Targets {
			for _, m := range checkMetrics(t, "panel "+p.Title, tg.Expr, exported) {
				queried[m] = true
			}
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(map[string]any); ok && v.Type == "query" {
			expr, _ := q["query"].(string)
			// label_values(SELECTOR, LABEL)
			selector, _, _ := strings.Cut(strings.TrimPrefix(expr, "label_values("), ", ")
			checkMetrics(t, "variable "+v.Name, selector, exported)
		}
	}
	// Every metric of the sidecar's own is on the dashboard.
	for m, family := range exported {
		if m == family && strings.HasPrefix(m, "mcp_secrets_") && !queried[m] && !queried[m+"_bucket"] {
			t.Errorf("%s is on no panel", m)
		}
	}
}

// exportedMetrics are the metric names the sidecar's /metrics has, from
// its TYPE lines, each to its family's (a histogram's series have names of
// their own).
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	rec := httptest.NewRecorder()
	sidecar.NewMetrics().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	names := map[string]string{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		names[f[2]] = f[2]
		if f[3] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f[2]+s] = f[2]
			}
		}
	}
	if names["mcp_secrets_sessions"] == "" {
		t.Fatalf("no mcp_secrets_sessions in /metrics:\n%s", rec.Body)
	}
	return names
}

// PromQL, reduced to the names of the metrics it selects: strings, label
// matchers, ranges and grouping clauses go; a name followed by '(' is a
// function; the rest are keywords, numbers or metric names.
var (
	promqlNoise    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*\s*\(?`)
	promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan"}
)

// checkMetrics reports the metrics expr selects that the sidecar does not
// export, and returns those it selects (at least one).
func checkMetrics(t *testing.T, where, expr string, exported map[string]string) []string {
	t.Helper()
	var found []string
	for _, id := range promqlIdent.FindAllString(promqlNoise.ReplaceAllString(expr, " "), -1) {
		id = strings.TrimSpace(id)
		if strings.HasSuffix(id, "(") || slices.Contains(promqlKeywords, strings.ToLower(id)) {
			continue
		}
		found = append(found, id)
		if exported[id] == "" {
			t.Errorf("%s: %s is not a metric of the sidecar: %s", where, id, expr)
		}
	}
	if len(found) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	return found
}
