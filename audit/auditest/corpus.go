package auditest

import (
	"os"
	"path/filepath"
	"strings"
)

// CorpusFile is one file of the detection corpus.
type CorpusFile struct {
	Path string // slash-separated, under the corpus's root
	Data string
	// Planted are the locations (as scan names them) of the secrets
	// planted in the file, by the secret's name in Secrets.
	Planted map[string]string
}

// Corpus is a home directory and a project as a developer has them:
// every client's config, real-looking secrets planted where people paste
// them (env, args, headers, URLs, .env files), and decoys beside them that
// no secret scanner should report: references, ${VAR} and input
// placeholders, template placeholders, vendors' documented example keys,
// settings, ids, paths, versions and digests.
func Corpus() []CorpusFile {
	files := []CorpusFile{
		{"home/.config/Claude/claude_desktop_config.json", `{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github@2025.4.8"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_PAT}", "GITHUB_TOOLSETS": "repos,issues,pull_requests"}
    },
    "postgres": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://reporting:${PG_PASSWORD}@db.internal:5432/analytics"]
    },
    "gitlab": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-gitlab"],
      "env": {"GITLAB_PERSONAL_ACCESS_TOKEN": "${GITLAB_PAT}", "GITLAB_API_URL": "https://gitlab.example.com/api/v4"}
    },
    "template": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "<your-github-token>"}
    },
    "slack": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-slack"], "env": {"SLACK_BOT_TOKEN": "${SLACK_TOKEN}", "SLACK_TEAM_ID": "T01234567"}},
    "filesystem": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/work", "/Users/me/notes"]
    }
  },
  "globalShortcut": "Ctrl+Space"
}
`, map[string]string{
			"GITHUB_PAT":  "mcpServers.github.env.GITHUB_PERSONAL_ACCESS_TOKEN",
			"PG_PASSWORD": "mcpServers.postgres.args[2]",
			"GITLAB_PAT":  "mcpServers.gitlab.env.GITLAB_PERSONAL_ACCESS_TOKEN",
			"SLACK_TOKEN": "mcpServers.slack.env.SLACK_BOT_TOKEN",
		}},
		{"home/.claude.json", `{
  "numStartups": 41,
  "installMethod": "npm",
  "userID": "4f5c0e1a9b7d3c2e8f6a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
  "mcpServers": {
    "sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp", "headers": {"Authorization": "Bearer ${SENTRY_TOKEN}"}},
    "linear": {"type": "sse", "url": "https://mcp.linear.app/sse", "headers": {"Authorization": "Bearer ${LINEAR_KEY}"}},
    "context7": {"type": "http", "url": "https://mcp.context7.com/mcp", "headers": {"CONTEXT7_API_KEY": "${CONTEXT7_KEY}"}},
    "refs": {"command": "/usr/local/bin/mcp-secrets", "args": ["run", "--", "npx", "-y", "@modelcontextprotocol/server-slack"], "env": {"SLACK_BOT_TOKEN": "$<keychain:slack/bot>", "SLACK_TEAM_ID": "T01234567"}}
  },
  "projects": {
    "/Users/me/work/app": {
      "allowedTools": [],
      "history": [{"display": "fix the login test", "pastedContents": {}}],
      "mcpServers": {
        "openai": {"command": "uvx", "args": ["openai-mcp"], "env": {"OPENAI_API_KEY": "${OPENAI_KEY}", "OPENAI_ORG_ID": "org-Example123"}},
        "hf": {"command": "uvx", "args": ["hf-mcp-server"], "env": {"HF_TOKEN": "${HF_TOKEN}"}}
      }
    }
  }
}
`, map[string]string{
			"SENTRY_TOKEN": "mcpServers.sentry.headers.Authorization",
			"LINEAR_KEY":   "mcpServers.linear.headers.Authorization",
			"CONTEXT7_KEY": "mcpServers.context7.headers.CONTEXT7_API_KEY",
			"OPENAI_KEY":   `projects["/Users/me/work/app"].mcpServers.openai.env.OPENAI_API_KEY`,
			"HF_TOKEN":     `projects["/Users/me/work/app"].mcpServers.hf.env.HF_TOKEN`,
		}},
		{"home/.cursor/mcp.json", `{
  "mcpServers": {
    "stripe": {"command": "npx", "args": ["-y", "@stripe/mcp", "--tools=all", "--api-key=${STRIPE_KEY}"]},
    "anthropic": {"command": "node", "args": ["/Users/me/mcp/claude-tools/dist/index.js"], "env": {"ANTHROPIC_API_KEY": "${ANTHROPIC_KEY}", "MAX_TOKENS": "4096"}},
    "brave": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-brave-search"], "env": {"BRAVE_API_KEY": "${BRAVE_KEY}"}},
    "docs": {"url": "https://docs.example.com/mcp?api_key=${URL_TOKEN}"},
    "github": {"url": "https://api.githubcopilot.com/mcp/", "headers": {"Authorization": "Bearer ${GITHUB_PAT}"}},
    "example": {"command": "npx", "args": ["-y", "@stripe/mcp", "--api-key", "sk_live_XXXXXXXXXXXXXXXXXXXXXXXX"]}
  }
}
`, map[string]string{
			"STRIPE_KEY":    "mcpServers.stripe.args[3]",
			"ANTHROPIC_KEY": "mcpServers.anthropic.env.ANTHROPIC_API_KEY",
			"BRAVE_KEY":     "mcpServers.brave.env.BRAVE_API_KEY",
			"URL_TOKEN":     "mcpServers.docs.url",
			"GITHUB_PAT":    "mcpServers.github.headers.Authorization",
		}},
		{"home/.config/Code/User/mcp.json", `{
  // VS Code: JSONC, top-level "servers"
  "inputs": [{"type": "promptString", "id": "gh", "description": "GitHub token", "password": true}],
  "servers": {
    "slack": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-slack"],
      "env": {
        "SLACK_BOT_TOKEN": "${SLACK_TOKEN}", // pasted
        "SLACK_TEAM_ID": "T01234567",
      },
    },
    "github": {"type": "http", "url": "https://api.githubcopilot.com/mcp/", "headers": {"Authorization": "Bearer ${input:gh}"}},
    "aws-docs": {"type": "stdio", "command": "uvx", "args": ["awslabs.aws-documentation-mcp-server@1.1.2"], "env": {"FASTMCP_LOG_LEVEL": "ERROR", "AWS_DOCUMENTATION_PARTITION": "aws"}},
  },
}
`, map[string]string{"SLACK_TOKEN": "servers.slack.env.SLACK_BOT_TOKEN"}},
		{"home/.config/Code/User/settings.json", `{
  "editor.fontSize": 14,
  "git.autofetch": true,
  "mcp": {
    "servers": {
      "aws": {
        "command": "uvx",
        "args": ["awslabs.core-mcp-server@latest"],
        "env": {"AWS_ACCESS_KEY_ID": "${AWS_KEY_ID}", "AWS_SECRET_ACCESS_KEY": "${AWS_SECRET}", "AWS_REGION": "us-east-1"}
      },
      "aws-docs-example": {
        "command": "uvx",
        "args": ["awslabs.core-mcp-server@latest"],
        "env": {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
      }
    }
  }
}
`, map[string]string{
			"AWS_KEY_ID": "mcp.servers.aws.env.AWS_ACCESS_KEY_ID",
			"AWS_SECRET": "mcp.servers.aws.env.AWS_SECRET_ACCESS_KEY",
		}},
		{"home/.codeium/windsurf/mcp_config.json", `{
  "mcpServers": {
    "remote": {"serverUrl": "https://mcp.example.com/mcp?token=${GITHUB_FINE}"},
    "google": {"command": "npx", "args": ["-y", "@example/google-maps-mcp"], "env": {"GOOGLE_MAPS_API_KEY": "${GOOGLE_KEY}"}},
    "npm": {"command": "npx", "args": ["-y", "npm-mcp"], "env": {"NPM_TOKEN": "${NPM_TOKEN}", "NPM_REGISTRY": "https://registry.npmjs.org/"}},
    "linear": {"command": "npx", "args": ["-y", "linear-mcp"], "env": {"LINEAR_API_KEY": "${LINEAR_KEY}"}}
  }
}
`, map[string]string{
			"GITHUB_FINE": "mcpServers.remote.serverUrl",
			"GOOGLE_KEY":  "mcpServers.google.env.GOOGLE_MAPS_API_KEY",
			"NPM_TOKEN":   "mcpServers.npm.env.NPM_TOKEN",
			"LINEAR_KEY":  "mcpServers.linear.env.LINEAR_API_KEY",
		}},
		{"home/.gemini/settings.json", `{
  "theme": "Default",
  "selectedAuthType": "oauth-personal",
  "mcpServers": {
    "api": {"httpUrl": "https://api.example.com/mcp", "headers": {"X-Session": "${JWT}", "Accept": "application/json", "X-Client-Id": "gemini-cli"}},
    "intranet": {"httpUrl": "https://intranet.example.com/mcp", "headers": {"Authorization": "Basic ${BASIC_AUTH}"}},
    "docs": {"command": "npx", "args": ["-y", "docs-mcp"], "env": {"DOCS_API_KEY": "YOUR_API_KEY_HERE"}, "trust": false},
    "gitlab": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-gitlab"], "env": {"GITLAB_TOKEN": "${GITLAB_PAT}"}}
  }
}
`, map[string]string{
			"JWT":        "mcpServers.api.headers.X-Session",
			"BASIC_AUTH": "mcpServers.intranet.headers.Authorization",
			"GITLAB_PAT": "mcpServers.gitlab.env.GITLAB_TOKEN",
		}},
		{"home/.codex/config.toml", `model = "gpt-5-codex"
approval_policy = "on-request"

[mcp_servers.ssh]
command = "ssh-mcp"
args = ["--host", "build.example.com", "--known-hosts", "/Users/me/.ssh/known_hosts"]

[mcp_servers.ssh.env]
SSH_PRIVATE_KEY = """${PEM}"""
SSH_USER = "deploy"

[mcp_servers.db]
command = "npx"
env = { DB_PASSWORD = "${DB_PASSWORD}", DB_HOST = "localhost", DB_PORT = "5432" }

[mcp_servers.remote]
url = "https://mcp.example.org/mcp"
bearer_token_env_var = "EXAMPLE_MCP_TOKEN"
http_headers = { "X-Api-Key" = "${GENERIC_SECRET}" }
`, map[string]string{
			"PEM":            "mcp_servers.ssh.env.SSH_PRIVATE_KEY",
			"DB_PASSWORD":    "mcp_servers.db.env.DB_PASSWORD",
			"GENERIC_SECRET": "mcp_servers.remote.http_headers.X-Api-Key",
		}},
		{"work/app/.mcp.json", `{
  "mcpServers": {
    "db": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-postgres"],
      "env": {"DATABASE_URL": "postgresql://app:${PG_PASSWORD}@localhost:5432/app"}
    },
    "db-template": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres"], "env": {"DATABASE_URL": "postgresql://app:${DB_PASS}@localhost:5432/app"}},
    "puppeteer": {"command": "docker", "args": ["run", "-i", "--rm", "mcp/puppeteer@sha256:3c2f0a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"]},
    "git": {"command": "uvx", "args": ["mcp-server-git", "--repository", "/Users/me/work/app", "--ref", "9fceb02d0ae598e95dc970b74767f19372d61af8"]}
  }
}
`, map[string]string{"PG_PASSWORD": "mcpServers.db.env.DATABASE_URL"}},
		{"work/app/.vscode/mcp.json", `{"servers": {
  "gh": {"type": "stdio", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"], "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${input:github_token}"}},
  "openai": {"type": "stdio", "command": "uvx", "args": ["openai-mcp"], "env": {"OPENAI_API_KEY": "${OPENAI_KEY}"}}
}}
`, map[string]string{"OPENAI_KEY": "servers.openai.env.OPENAI_API_KEY"}},
		{"work/app/.env", `# local settings
NODE_ENV=development
PORT=3000
LOG_LEVEL=debug
DATABASE_URL=postgresql://localhost:5432/app
STRIPE_SECRET_KEY=${STRIPE_KEY}
OPENAI_API_KEY=$<keychain:openai/key>
SESSION_SECRET=${GENERIC_SECRET_2}
`, map[string]string{
			"STRIPE_KEY":       "STRIPE_SECRET_KEY",
			"GENERIC_SECRET_2": "SESSION_SECRET",
		}},
		{"work/app/.env.example", `# Copy to .env and fill in.
OPENAI_API_KEY=sk-your-openai-key-here
ANTHROPIC_API_KEY=<your-anthropic-key>
GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
SESSION_SECRET=changeme
`, nil},
	}
	for i := range files {
		files[i].Data = Expand(files[i].Data)
	}
	return files
}

// WriteCorpus writes the corpus under dir: configs 0600, .env files 0644
// (readable by others, so scan reports their secrets).
func WriteCorpus(dir string) error {
	for _, f := range Corpus() {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if strings.Contains(filepath.Base(p), ".env") {
			mode = 0o644
		}
		if err := os.WriteFile(p, []byte(f.Data), mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil {
			return err
		}
	}
	return nil
}
