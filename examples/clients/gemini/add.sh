#!/bin/sh
# Gemini CLI: `gemini mcp add` writes .gemini/settings.json (-s project,
# the default) or ~/.gemini/settings.json (-s user).
#
# Gemini CLI's parser reads every option up to a --, wherever it is: put
# the -- right after the command (mcp-secrets), so that run's and
# connect's own flags (--env-file, --header) and the server's (-y) are
# arguments of the command, not options of gemini. gemini's options (-s,
# -e) go before that --. -e cuts its value at a second "=": a reference
# with ?version= goes in settings.json by hand. Single quotes keep the
# shell off $<...>.

gemini mcp add -s user github /usr/local/bin/mcp-secrets \
  -e 'GITHUB_PERSONAL_ACCESS_TOKEN=$<keychain:github/token>' \
  -- run -- npx -y @modelcontextprotocol/server-github

# A remote server through mcp-secrets connect: the token stays out of
# settings.json (`--transport http -H 'Authorization: Bearer ...'` would
# write it there).
gemini mcp add -s user github-remote /usr/local/bin/mcp-secrets \
  -- connect --header 'Authorization: Bearer $<keychain:github/token>' https://api.githubcopilot.com/mcp/
