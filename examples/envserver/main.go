// Command envserver is a small MCP server (the official Go SDK, stdio) for
// trying mcp-secrets: its tools read its own environment, so a client sees
// what the launcher handed it — redacted.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type getEnvIn struct {
	Name     string `json:"name" jsonschema:"the variable to read"`
	Encoding string `json:"encoding,omitempty" jsonschema:"plain (default), base64, or sha256 (a digest: tells the value without showing it)"`
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
