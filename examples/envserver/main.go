// Command envserver is a small MCP server (the official Go SDK, stdio) for
// trying mcp-secrets: its tools read its own environment, so a client sees
// what the launcher handed it — redacted.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type getEnvIn struct {
	Name     string `json:"name" jsonschema:"the variable to read"`
	Encoding string `json:"encoding,omitempty" jsonschema:"plain (default), base64, or sha256 (a digest: tells the value without showing it)"`
}

type leakIn struct {
	Name    string `json:"name" jsonschema:"the variable to read"`
	Form    string `json:"form" jsonschema:"how an encoder writes it: plain, json-ascii (Python's json.dumps), json-slash (PHP's json_encode), json-text (JSON text as the result's text: escaped twice on the wire), base64, base64url, base64raw, base64-mime, base64-pem, url, password (of a URL), basic (base64 of a URL's user:password)"`
	Channel string `json:"channel" jsonschema:"where it goes: result, error, progress (a notification), stderr"`
}

type textIn struct {
	Text string `json:"text"`
}

type sleepIn struct {
	Milliseconds int `json:"ms"`
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func main() {
	s := mcp.NewServer(&mcp.Implementation{Name: "envserver", Version: "v1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "get_env", Description: "Returns one of the server's environment variables"},
		func(_ context.Context, _ *mcp.CallToolRequest, in getEnvIn) (*mcp.CallToolResult, any, error) {
			v := os.Getenv(in.Name)
			switch in.Encoding {
			case "base64":
				v = base64.StdEncoding.EncodeToString([]byte(v))
			case "sha256":
				v = fmt.Sprintf("%x", sha256.Sum256([]byte(v)))
			}
			return text(v), nil, nil
		})
	// leak plays a server that prints a secret the way real encoders do,
	// for the redaction tests (and anyone who wants to see it caught).
	mcp.AddTool(s, &mcp.Tool{Name: "leak", Description: "Prints an environment variable encoded as a real encoder would, in a result, an error, a notification or on stderr"},
		func(ctx context.Context, req *mcp.CallToolRequest, in leakIn) (*mcp.CallToolResult, any, error) {
			v, err := encode(in.Form, os.Getenv(in.Name))
			if err != nil {
				return nil, nil, err
			}
			switch in.Channel {
			case "error":
				return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: v}
			case "progress":
				err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Message: v})
				return text("notified"), nil, err
			case "stderr":
				fmt.Fprintf(os.Stderr, "envserver: %s\n", v)
				return text("written"), nil, nil
			}
			return text(v), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns its text"},
		func(_ context.Context, _ *mcp.CallToolRequest, in textIn) (*mcp.CallToolResult, any, error) {
			return text(in.Text), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "stderr", Description: "Writes an environment variable's value to stderr"},
		func(_ context.Context, _ *mcp.CallToolRequest, in getEnvIn) (*mcp.CallToolResult, any, error) {
			fmt.Fprintf(os.Stderr, "envserver: %s is %s\n", in.Name, os.Getenv(in.Name))
			return text("written"), nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "sleep", Description: "Answers after ms milliseconds"},
		func(ctx context.Context, _ *mcp.CallToolRequest, in sleepIn) (*mcp.CallToolResult, any, error) {
			select {
			case <-time.After(time.Duration(in.Milliseconds) * time.Millisecond):
				return text("slept"), nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})
	mcp.AddTool(s, &mcp.Tool{Name: "roots", Description: "Asks the client for its roots (a request from server to client)"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			//lint:ignore SA1019 a server-to-client request, for clients of protocols up to 2025-11-25
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return nil, nil, err
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return text(strings.Join(uris, ",")), nil, nil
		})
	// A tool that exists only with some configuration: a restart with other
	// values can change the tool list.
	if os.Getenv("ENVSERVER_EXTRA_TOOL") != "" {
		mcp.AddTool(s, &mcp.Tool{Name: "extra", Description: "Present when ENVSERVER_EXTRA_TOOL is set"},
			func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return text("extra"), nil, nil
			})
	}
	if err := s.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		log.Fatal(err)
	}
}

// encode writes v as the encoder that form names would.
func encode(form, v string) (string, error) {
	switch form {
	case "plain":
		return v, nil
	case "json-ascii":
		return asciiJSON(v), nil
	case "json-slash":
		b, _ := json.Marshal(v)
		return strings.ReplaceAll(string(b), "/", `\/`), nil
	case "json-text":
		b, _ := json.Marshal(map[string]string{"value": v})
		return string(b), nil
	case "base64":
		return base64.StdEncoding.EncodeToString([]byte(v)), nil
	case "base64url":
		return base64.URLEncoding.EncodeToString([]byte(v)), nil
	case "base64raw":
		return base64.RawStdEncoding.EncodeToString([]byte(v)), nil
	case "base64-mime":
		return wrap(base64.StdEncoding.EncodeToString([]byte(v)), 76, "\r\n"), nil
	case "base64-pem":
		return wrap(base64.StdEncoding.EncodeToString([]byte(v)), 64, "\n"), nil
	case "url":
		return url.QueryEscape(v), nil
	case "password", "basic":
		u, err := url.Parse(v)
		if err != nil || u.User == nil {
			return "", fmt.Errorf("not a URL with a user")
		}
		pw, _ := u.User.Password()
		if form == "password" {
			return pw, nil
		}
		return base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pw)), nil
	}
	return "", fmt.Errorf("unknown form %q", form)
}

// asciiJSON is a JSON string as Python's json.dumps writes it: every
// non-ASCII character as \uXXXX (surrogate pairs beyond the BMP).
func asciiJSON(v string) string {
	b, _ := json.Marshal(v)
	var out bytes.Buffer
	for _, r := range string(b) {
		if r < 0x80 {
			out.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&out, "\\u%04x", u)
		}
	}
	return out.String()
}

func wrap(s string, width int, nl string) string {
	var b strings.Builder
	for len(s) > width {
		b.WriteString(s[:width] + nl)
		s = s[width:]
	}
	b.WriteString(s)
	return b.String()
}
