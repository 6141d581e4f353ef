#!/bin/sh
# What an MCP client does with a config entry like ../clients/claude_desktop_config.json:
# it starts `mcp-secrets run -- SERVER` with the entry's env block, where the
# values are references. Here the server is showenv, which prints what it got.
set -e
cd "$(dirname "$0")"
# So the demo takes the local .env path on any machine, even one with Vault set up.
unset VAULT_ADDR VAULT_TOKEN
export GITHUB_TOKEN='$<GITHUB_TOKEN>'
export DATABASE_URL='$<vault:secret/reporting-db#url>'
export OPENAI_API_KEY='$<OPENAI_API_KEY>'
export AWS_SECRET_ACCESS_KEY='the-launchers-own-credential'

echo '$ mcp-secrets check'
mcp-secrets check
echo
echo '$ mcp-secrets run -- showenv GITHUB_TOKEN DATABASE_URL OPENAI_API_KEY'
mcp-secrets run -- showenv GITHUB_TOKEN DATABASE_URL OPENAI_API_KEY
