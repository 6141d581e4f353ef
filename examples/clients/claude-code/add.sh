#!/bin/sh
# Claude Code: `claude mcp add` writes ~/.claude.json (-s user, or -s local
# for this project only) or the project's .mcp.json (-s project).
#
# The server's name goes before -e: -e takes every word after it up to the
# next option, so `claude mcp add -e K=V NAME -- ...` reads NAME as a
# variable. The first -- ends claude's options: what follows is the
# command, and the second -- is mcp-secrets' own. Single quotes keep the
# shell off $<...>.

# A stdio server: the token comes from the OS keychain
# (mcp-secrets set '$<keychain:github/token>' stores it).
claude mcp add -s user github \
  -e 'GITHUB_PERSONAL_ACCESS_TOKEN=$<keychain:github/token>' \
  -- /usr/local/bin/mcp-secrets run -- npx -y @modelcontextprotocol/server-github

# Values from a .env file: its absolute path, as Claude Code starts servers
# in any directory.
claude mcp add -s local postgres \
  -e 'DATABASE_URL=postgresql://reporting:$<dotenv:DB_PASSWORD>@localhost:5432/reporting' \
  -- /usr/local/bin/mcp-secrets run --env-file /Users/me/projects/reporting/.env -- npx -y @modelcontextprotocol/server-postgres

# A remote server through mcp-secrets connect, rather than
# `claude mcp add --transport http -H 'Authorization: Bearer ...'`, which
# writes the token into ~/.claude.json. connect resolves the header's
# reference itself: the token is in no config and no argv.
claude mcp add -s user github-remote \
  -- /usr/local/bin/mcp-secrets connect --header 'Authorization: Bearer $<keychain:github/token>' https://api.githubcopilot.com/mcp/
