package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/mcp-secrets/mcp-secrets/audit/rules"
)

// WriteText writes one line per finding:
//
//	FILE:LINE: LOCATION: RULE (SEVERITY): MASKED
//
// LOCATION is left out where it is FILE:LINE (.env files), and a file's own
// findings say why in place of a value.
func WriteText(w io.Writer, fs []Finding) error {
	for _, f := range fs {
		at := fmt.Sprintf("%s:%d", f.File, f.Line)
		var b strings.Builder
		b.WriteString(at + ": ")
		if f.Location != at && f.Location != f.File {
			b.WriteString(f.Location + ": ")
		}
		fmt.Fprintf(&b, "%s (%s): ", f.Rule, f.Severity)
		if f.Masked != "" {
			b.WriteString(f.Masked)
		} else {
			b.WriteString(f.Message)
		}
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON writes the findings as one JSON array.
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(fs)
}

// SARIF 2.1.0, the part GitHub code scanning reads: rules with ids and
// descriptions, results with a rule, a level, a message and a location with
// a region.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool    sarifTool     `json:"tool"`
		Results []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		Version        string      `json:"version,omitempty"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string       `json:"id"`
		ShortDescription     sarifMessage `json:"shortDescription"`
		DefaultConfiguration struct {
			Level string `json:"level"`
		} `json:"defaultConfiguration"`
		Properties struct {
			Tags             []string `json:"tags"`
			SecuritySeverity string   `json:"security-severity"`
		} `json:"properties"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifMessage    `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifMessage struct {
		Text string `json:"text"`
	}
	sarifLocation struct {
		PhysicalLocation struct {
			ArtifactLocation struct {
				URI string `json:"uri"`
			} `json:"artifactLocation"`
			Region struct {
				StartLine int `json:"startLine"`
			} `json:"region"`
		} `json:"physicalLocation"`
		LogicalLocations []struct {
			FullyQualifiedName string `json:"fullyQualifiedName"`
		} `json:"logicalLocations,omitempty"`
	}
)

// WriteSARIF writes the findings as a SARIF 2.1.0 log. version is the
// tool's.
func WriteSARIF(w io.Writer, fs []Finding, version string) error {
	run := sarifRun{Results: []sarifResult{}}
	run.Tool.Driver = sarifDriver{
		Name:           "mcp-secrets",
		Version:        version,
		InformationURI: "https://github.com/mcp-secrets/mcp-secrets",
		Rules:          []sarifRule{},
	}
	index := map[string]int{}
	for _, f := range fs {
		i, ok := index[f.Rule]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.Rule] = i
			r := sarifRule{ID: f.Rule, ShortDescription: sarifMessage{ruleDescription(f)}}
			r.DefaultConfiguration.Level = level(f.Severity)
			r.Properties.Tags = []string{"security", "secret"}
			r.Properties.SecuritySeverity = map[rules.Severity]string{rules.High: "8.0", rules.Medium: "5.0"}[f.Severity]
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, r)
		}
		res := sarifResult{RuleID: f.Rule, RuleIndex: i, Level: level(f.Severity)}
		res.Message.Text = f.Message
		if f.Masked != "" {
			res.Message.Text = fmt.Sprintf("Plaintext secret %s at %s. %s", f.Masked, f.Location, f.Message)
		}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = fileURI(f.File)
		loc.PhysicalLocation.Region.StartLine = max(f.Line, 1)
		if f.Location != f.File && !strings.HasPrefix(f.Location, f.File+":") {
			loc.LogicalLocations = append(loc.LogicalLocations, struct {
				FullyQualifiedName string `json:"fullyQualifiedName"`
			}{f.Location})
		}
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	})
}

// ruleDescription is a rule's description, for a file's own finding too.
func ruleDescription(f Finding) string {
	switch f.Rule {
	case DotenvTracked:
		return "A .env file with secrets is tracked by git."
	case DotenvNotIgnored:
		return "A .env file with secrets is not covered by any .gitignore."
	case DotenvReadable:
		return "A .env file with secrets is readable by other users."
	}
	return f.Message
}

func level(s rules.Severity) string {
	if s == rules.High {
		return "error"
	}
	return "warning"
}

// fileURI is a path as SARIF's artifactLocation.uri: relative paths stay
// relative (to the checkout, for code scanning), absolute ones are file:
// URLs.
func fileURI(p string) string {
	slash := filepath.ToSlash(p)
	if filepath.IsAbs(p) {
		if !strings.HasPrefix(slash, "/") {
			slash = "/" + slash // C:/x on Windows
		}
		return (&url.URL{Scheme: "file", Path: slash}).String()
	}
	return (&url.URL{Path: strings.TrimPrefix(slash, "./")}).String()
}
